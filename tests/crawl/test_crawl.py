"""The crawler on in-memory trees: order, bounds, loops, bad entries, partial results, estimates.

The lister here is a dict tree (no network): protocol listers are tested against real daemons
in the probe tests. Every listing call is counted here, as a server would count requests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.crawl import Budget, Item, Page, crawl, depth_of, join
from scanner.probe import ListingBounds

Tree = dict[str, Any]  # name -> Tree (directory) or int (file size)


class FakeServer:
    """Lists a dict tree; counts every request it answers (pages of ``page`` items)."""

    def __init__(self, tree: Tree, page: int = 0) -> None:
        self.tree = tree
        self.page = page
        self.requests = 0

    def node(self, path: str) -> Tree:
        node = self.tree
        for part in [p for p in path.split("/") if p]:
            node = node[part]
        return node

    async def __call__(self, path: str, handle: Any, budget: Budget) -> Page:
        self.requests += 1
        node = self.node(path)
        items = [
            Item(name=k, is_dir=isinstance(v, dict), size=None if isinstance(v, dict) else v)
            for k, v in node.items()
        ]
        if self.page and len(items) > self.page:
            out = items[: self.page]
            for start in range(self.page, len(items), self.page):
                if not budget.take():
                    return Page(out, complete=False)
                self.requests += 1
                out += items[start : start + self.page]
            items = out
        return Page(items)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def count_files(tree: Tree) -> int:
    return sum(count_files(v) if isinstance(v, dict) else 1 for v in tree.values())


def count_dirs(tree: Tree) -> int:
    return sum(1 + count_dirs(v) for v in tree.values() if isinstance(v, dict))


def deep_tree() -> Tree:
    """/callcenter/site-{a,b,c}/{2019..2021}/{01..12}/{01..28}/<calls>.wav (depth 6 leaves)."""
    days = {
        f"{d:02d}": {f"19790312-2393_070123456{d % 10}_2019{m:02d}{d:02d}T1015.wav": 1000}
        for m in (3,)
        for d in range(1, 29)
    }
    months = {f"{m:02d}": days for m in range(1, 13)}
    years = {str(y): months for y in (2019, 2020, 2021)}
    return {
        "readme.txt": 40,
        "callcenter": {f"site-{s}": years for s in "abc"},
    }


def test_join_and_depth() -> None:
    assert join("/", "a") == "/a" and join("/a", "b") == "/a/b"
    assert depth_of("/x") == 0 and depth_of("/a/b/x") == 2


def test_small_tree_is_exact_without_estimate() -> None:
    tree = {"a": {"x.wav": 5, "b": {"y.txt": 7}}, "z": 1}
    server = FakeServer(tree)
    r = run(crawl(server, ListingBounds()))
    assert sorted(e.path for e in r.entries) == ["/a", "/a/b", "/a/b/y.txt", "/a/x.wav", "/z"]
    assert not r.truncated and r.estimate is None and r.partial == []
    assert r.requests == server.requests == 3
    assert r.listing().estimate is None


def test_deep_tree_reaches_leaves_in_a_few_requests() -> None:
    server = FakeServer(deep_tree())
    r = run(crawl(server, ListingBounds(requests=8)))
    assert server.requests <= 8
    leaves = [e.path for e in r.entries if e.path.endswith(".wav")]
    assert leaves and all(depth_of(p) == 5 for p in leaves)
    assert r.truncated and r.estimate is not None


def test_old_depth_three_would_not_see_leaves() -> None:
    r = run(crawl(FakeServer(deep_tree()), ListingBounds(depth=3)))
    assert not [e for e in r.entries if e.path.endswith(".wav")]
    assert r.truncated and r.stopped_by == "depth"


def test_interesting_names_dive_first() -> None:
    tree: Tree = {f"dir{i:03d}": {"a.txt": 1} for i in range(40)}
    tree["recordings"] = {"deep": {"call.wav": 10}}
    tree["zzz"] = {"b.txt": 1}
    r = run(crawl(FakeServer(tree), ListingBounds(requests=4)))
    assert "/recordings/deep/call.wav" in [e.path for e in r.entries]


def test_request_budget_is_a_hard_cap_with_pagination() -> None:
    tree: Tree = {f"d{i}": {f"f{j}": j for j in range(30)} for i in range(20)}
    for cap in (1, 2, 5, 17):
        server = FakeServer(tree, page=7)
        r = run(crawl(server, ListingBounds(requests=cap)))
        assert server.requests <= cap
        assert r.requests == server.requests
        assert r.truncated


def test_first_page_counts_against_the_budget() -> None:
    tree: Tree = {f"d{i}": {"f": 1} for i in range(10)}
    server = FakeServer(tree)
    first = run(server("/", None, Budget(1, 1000)))
    r = run(crawl(server, ListingBounds(requests=3), first=first))
    assert r.requests == 3
    assert server.requests == 3  # the first page + 2 more


def test_entries_and_bytes_bounds() -> None:
    tree: Tree = {f"f{i}": 1 for i in range(100)}
    r = run(crawl(FakeServer(tree), ListingBounds(entries=10)))
    assert len(r.entries) == 10 and r.truncated and r.stopped_by == "entries"

    async def costly(path: str, handle: Any, budget: Budget) -> Page:
        budget.spend(600)
        return Page([Item("d", is_dir=True), Item(f"f{len(path)}", size=1)])

    r = run(crawl(costly, ListingBounds(bytes=1000)))
    assert r.requests == 2 and r.truncated and r.stopped_by == "bytes"


def test_bad_entries_are_skipped_and_counted() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        return Page(
            [
                Item("good1.wav", size=10),
                Item("huge", size=10**400),
                Item("neg", size=-5),
                Item("bad\udcff.wav", size=1),
                Item("a/b", size=1),
                Item("", size=1),
                Item(".", is_dir=True),
                Item("good2.wav", size=20),
                Item("good2.wav", size=20),
            ],
            bad=1,
        )

    r = run(crawl(lister, ListingBounds()))
    assert [e.path for e in r.entries] == ["/good1.wav", "/good2.wav"]
    assert r.bad == 1 + 6 and r.duplicates == 1
    assert r.listing().skipped == 7


def test_lister_failure_keeps_what_was_listed() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("a", is_dir=True), Item("ok.wav", size=3)])
        raise TimeoutError("read timed out")

    r = run(crawl(lister, ListingBounds(), stop_on_error=True))
    assert [e.path for e in r.entries] == ["/a", "/ok.wav"]
    assert r.truncated and r.stopped_by == "error"
    assert r.partial and "TimeoutError" in r.partial[0]
    assert r.listing().partial is not None


def test_self_and_parent_links_and_repeated_keys_stop() -> None:
    # a trap server: every directory lists the same child "x/" forever
    calls = 0

    async def trap(path: str, handle: Any, budget: Budget) -> Page:
        nonlocal calls
        calls += 1
        return Page([Item("x", is_dir=True), Item("f.txt", size=1)])

    r = run(crawl(trap, ListingBounds(requests=50)))
    assert calls == 2 and r.loops >= 1
    assert [e.path for e in r.entries] == ["/x", "/f.txt"]

    # a symlink cycle: both children point back at the root's key
    async def cyc(path: str, handle: Any, budget: Budget) -> Page:
        return Page([Item("up", is_dir=True, key="root"), Item("me", is_dir=True, key=path)])

    r = run(crawl(cyc, ListingBounds(requests=50), root_key="root"))
    assert r.requests <= 3 and r.loops >= 2

    async def links(path: str, handle: Any, budget: Budget) -> Page:
        return Page([Item("l", is_dir=True, link=True), Item("f", size=1)])

    r = run(crawl(links, ListingBounds()))
    assert r.requests == 1 and len(r.entries) == 2


def wide_tree(dirs: int, files_per: int) -> Tree:
    return {
        f"g{g:02d}": {f"d{i:03d}": {f"f{j}": 100 for j in range(files_per)} for i in range(dirs)}
        for g in range(50)
    }


def test_wide_tree_estimate_within_factor_two() -> None:
    tree = wide_tree(100, 3)
    truth = count_files(tree)
    r = run(crawl(FakeServer(tree), ListingBounds(requests=50)))
    assert r.truncated and r.estimate is not None
    seen = sum(1 for e in r.entries if not e.is_dir)
    assert seen < truth
    assert truth / 2 <= r.estimate.files <= truth * 2
    assert r.estimate.directories_listed == r.dirs_listed <= 50
    assert r.estimate.bytes == pytest.approx(r.estimate.files * 100, rel=0.01)


def test_flat_directory_cut_by_entries_has_no_invented_estimate() -> None:
    tree: Tree = {f"f{i:06d}": 0 for i in range(5000)}
    r = run(crawl(FakeServer(tree), ListingBounds(entries=2000)))
    assert len(r.entries) == 2000 and r.truncated and r.estimate is None


# -- properties --------------------------------------------------------------------------------

names = st.text(alphabet="abcXY019._-", min_size=1, max_size=6).filter(
    lambda n: n not in (".", "..")
)
trees: st.SearchStrategy[Tree] = st.recursive(
    st.dictionaries(names, st.integers(0, 10**6), max_size=4),
    lambda children: st.dictionaries(names, children | st.integers(0, 10**6), max_size=5),
    max_leaves=40,
)


@settings(max_examples=80, deadline=None)
@given(tree=trees, cap=st.integers(1, 30), page=st.sampled_from([0, 2, 3]), seed=st.integers(0, 9))
def test_properties(tree: Tree, cap: int, page: int, seed: int) -> None:
    server = FakeServer(tree, page=page)
    r = run(crawl(server, ListingBounds(requests=cap), seed=seed))
    paths = [e.path for e in r.entries]
    assert server.requests <= cap  # the hard cap, counted at the "server"
    assert len(paths) == len(set(paths))  # never a repeat
    for p in paths:  # every entry exists in the tree, with an absolute path
        assert p.startswith("/")
        node: Any = tree
        for part in p.split("/")[1:]:
            node = node[part]
    files = sum(1 for e in r.entries if not e.is_dir)
    assert files <= count_files(tree)
    if not r.truncated:  # a finished crawl is exact and carries no estimate
        assert files == count_files(tree) and r.estimate is None
        assert len(paths) - files == count_dirs(tree)
    if r.estimate is not None:
        assert r.estimate.files > files


@settings(max_examples=40, deadline=None)
@given(tree=trees, seed=st.integers(0, 5))
def test_same_seed_same_crawl(tree: Tree, seed: int) -> None:
    a = run(crawl(FakeServer(tree), ListingBounds(requests=5), seed=seed))
    b = run(crawl(FakeServer(tree), ListingBounds(requests=5), seed=seed))
    assert [e.path for e in a.entries] == [e.path for e in b.entries]


# -- sizes as servers write them -----------------------------------------------------------------


def test_sizes_never_trusted_blindly() -> None:
    from scanner.protocols.listing import parse_size
    from scanner.protocols.sizes import BAD_SIZE, parse_decimal

    assert parse_decimal("1234") == 1234 and parse_decimal(" 7 ") == 7
    assert parse_decimal("") is None and parse_decimal(None) is None
    for bad in ("\u00b2", "9" * 400, "-3", "1e9", "\u0663", "12a"):
        assert parse_decimal(bad) == BAD_SIZE
    assert parse_size("9" * 400) == BAD_SIZE and parse_size("1\u00b2") == BAD_SIZE
    assert parse_size("20K") == 20480 and parse_size("-") is None


@given(st.text(max_size=60))
def test_size_parsers_never_raise(text: str) -> None:
    from scanner.protocols.listing import parse_size
    from scanner.protocols.sizes import parse_decimal

    for value in (parse_decimal(text), parse_size(text)):
        assert value is None or isinstance(value, int)
