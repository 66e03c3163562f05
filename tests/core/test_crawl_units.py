"""The crawler's pieces on hand-written pages with hand-computed answers (no network).

A ``Tree`` lister answers a dict tree and records the order of the directories it listed, so
the best-first order, the bounds and the per-depth estimate are checked against values worked
out by hand in the comments, not by the crawler.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scanner.classify.rules import default_rules
from scanner.crawl import (
    MAX_ERRORS,
    MAX_NAME,
    MAX_SIZE,
    Budget,
    Crawler,
    CrawlResult,
    Estimate,
    Item,
    NotListable,
    Page,
    _name_ok,
    crawl,
    depth_of,
    interest,
    join,
    size_ok,
)
from scanner.probe import ListingBounds

Tree = dict[str, Any]


class Lister:
    """Lists a dict tree (name -> subtree or file size); records every listed path in order."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.order: list[str] = []

    async def __call__(self, path: str, handle: Any, budget: Budget) -> Page:
        self.order.append(path)
        node = self.tree
        for part in [p for p in path.split("/") if p]:
            node = node[part]
        return Page(
            [Item(k, is_dir=isinstance(v, dict), size=None if isinstance(v, dict) else v)
             for k, v in node.items()]
        )  # fmt: skip


def run(lister: Any, bounds: ListingBounds | None = None, **kw: Any) -> CrawlResult:
    return asyncio.run(crawl(lister, bounds or ListingBounds(), **kw))


# -- small functions ---------------------------------------------------------------------------


def test_join_and_depth_rows() -> None:
    assert join("/", "b") == "/b" and join("/a", "b") == "/a/b" and join("/a/b", "c") == "/a/b/c"
    assert [depth_of(p) for p in ("/", "", "/x", "/a/x", "/a/b/c/x")] == [0, 0, 0, 1, 3]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a", True), ("a b", True), (" ", True), ("x" * MAX_NAME, True), ("\x7f", True),
        ("\x00", False), ("\x1f", False),
        ("caf\u00e9", True), ("...", True), (".hidden", True),
        ("x" * (MAX_NAME + 1), False), ("", False), (".", False), ("..", False), ("a/b", False),
        ("/", False), ("a\x00b", False), ("a\x1fb", False), ("\t", False), ("\n", False),
        ("bad\udcff", False), (None, False), (b"bytes", False), (3, False),
    ],
)
def test_name_rows(name: object, ok: bool) -> None:
    assert MAX_NAME == 1024
    assert _name_ok(name) is ok


@pytest.mark.parametrize(
    ("size", "ok"),
    [(None, True), (0, True), (1, True), (2**60 - 1, True), (2**60, False), (10**400, False),
     (-1, False), (True, False), (False, False), (1.0, False), ("1", False)],
)
def test_size_rows(size: object, ok: bool) -> None:
    assert MAX_SIZE == 2**60
    assert size_ok(size) is ok


@pytest.mark.parametrize(
    ("name", "score"),
    [
        ("recordings", 30), ("samtal", 30), ("backup", 20), ("docs", 0), ("x", 0),
        ("2019", 10), ("1999", 10), ("1899", 0), ("2100", 0),
        ("1", 10), ("9", 10), ("01", 10), ("12", 10), ("13", 10), ("31", 10),
        ("0", 0), ("00", 0), ("32", 0), ("123", 0),
        ("2019-03", 10), ("201903", 10), ("2019-03-15", 10), ("20190315", 10),
        ("2019-3", 0), ("2019-03-1", 0), ("x2019", 0), ("2019x", 0),
    ],
)
def test_interest_rows(name: str, score: int) -> None:
    assert interest(name, default_rules()) == score


def test_interest_adds_the_date_bonus_to_the_rules_score(tmp_path: Any) -> None:
    from scanner.classify.rules import load_rules

    extra = tmp_path / "years.toml"
    extra.write_text('[[rule]]\nname = "year-2019"\ncategory = "recording"\nwhere = "resource"\n'
                     'how = "regex"\npatterns = ["^2019$"]\nweight = 5\n')  # fmt: skip
    rules = load_rules([extra])
    assert interest("2019", rules) == 5 + 10
    assert interest("2020", rules) == 10
    assert interest("recordings", rules) == 30


# -- the budget --------------------------------------------------------------------------------


def test_budget_take_and_the_first_reason() -> None:
    b = Budget(2, 100)
    assert (b.requests_left, b.bytes_left, b.requests, b.bytes, b.stopped) == (2, 100, 0, 0, None)
    assert b.take() is True and b.take() is True
    assert (b.requests_left, b.requests) == (0, 2)
    assert b.take() is False and b.stopped == "requests"
    assert (b.requests_left, b.requests) == (0, 2)  # nothing charged
    b.bytes_left = 0
    assert b.take() is False and b.stopped == "requests"  # the first reason stays


def test_budget_bytes_and_spend() -> None:
    b = Budget(5, 100)
    b.spend(60)
    b.spend(-30)  # never a refund
    assert (b.bytes_left, b.bytes) == (40, 60)
    assert b.take() is True
    b.spend(40)
    assert (b.bytes_left, b.bytes) == (0, 100)
    assert b.take() is False and b.stopped == "bytes" and b.requests == 1
    b2 = Budget(5, 0)
    assert b2.take() is False and b2.stopped == "bytes"
    b3 = Budget(0, 0)
    assert b3.take() is False and b3.stopped == "requests"


def test_budget_deadline_and_remaining_time() -> None:
    import time

    b = Budget(5, 100)
    assert b.remaining_time() == 10.0 and b.remaining_time(3.5) == 3.5
    past = Budget(5, 100, deadline=time.monotonic() - 1)
    assert past.take() is False and past.stopped == "time" and past.requests == 0
    assert past.remaining_time() == 0.0
    future = Budget(5, 100, deadline=time.monotonic() + 100)
    assert future.take() is True
    assert 99 < future.remaining_time() <= 100


# -- the result as the model's Listing ---------------------------------------------------------


def test_estimate_basis_and_listing_fields() -> None:
    est = Estimate(files=22, bytes=214, directories=5, directories_listed=3, directories_seen=5,
                   depth_weights=(1.0, 2.0))  # fmt: skip
    method = "per-depth means of the listed directories, extrapolated to their unlisted siblings"
    assert est.basis() == {
        "method": method, "directories_listed": 3, "directories_seen": 5,
        "directories_estimated": 5,
    }  # fmt: skip
    low = Estimate(1, 2, 3, 4, 5, (1.0, 0.0), unsampled_depths=(1,))
    assert low.basis()["unsampled_depths"] == [1]
    assert low.basis()["note"] == (
        "directories below the listed depths were not sampled: a lower bound")
    r = CrawlResult(truncated=True, stopped_by="requests", partial=["/a: x", "/b: y"], bad=2,
                    duplicates=3, loops=4, dirs_listed=3, dirs_seen=5, requests=6, bytes=7,
                    estimate=est)  # fmt: skip
    listing = r.listing()
    assert listing.partial == "/a: x; /b: y"
    assert (listing.truncated, listing.skipped, listing.duplicates, listing.loops) == (
        True, 2, 3, 4)
    assert (listing.directories_listed, listing.directories_seen, listing.requests,
            listing.bytes_read, listing.stopped_by) == (3, 5, 6, 7, "requests")  # fmt: skip
    extra = {"files": 22, "bytes": 214, "depth_weights": [1.0, 2.0]}
    assert listing.estimate == est.basis() | extra
    long = CrawlResult(partial=["x" * 200, "y" * 200]).listing()
    assert long.partial == "x" * 200 + "; " + "y" * 98
    from scanner.models import Entry

    one = CrawlResult(entries=[Entry(path="/a", size=3)]).listing()
    assert one.entries == [Entry(path="/a", size=3)]
    empty = CrawlResult().listing()
    assert empty.partial is None and empty.estimate is None and empty.directories_seen == 1
    assert not CrawlResult().listed_anything and CrawlResult(dirs_listed=1).listed_anything


# -- order -------------------------------------------------------------------------------------


def test_dives_go_deepest_first_then_by_interest_then_in_order() -> None:
    # four children: first, last and the two interesting ones are all dives (no random pick
    # can change that); each holds one directory, which its parent dives into at once
    tree: Tree = {
        "a": {"s": {"f": 1}}, "recordings": {"s": {"f": 1}}, "backup": {"s": {"f": 1}},
        "zz": {"s": {"f": 1}},
    }  # fmt: skip
    lister = Lister(tree)
    r = run(lister)
    assert lister.order == [
        "/", "/recordings", "/recordings/s", "/backup", "/backup/s", "/a", "/a/s", "/zz", "/zz/s",
    ]  # fmt: skip
    assert not r.truncated and r.estimate is None and r.dirs_listed == 9 and r.dirs_seen == 9


def test_widening_goes_by_interest_then_shallower_first() -> None:
    # root: first "a", last "z" dive; "recordings" and "backup" are the interesting dives;
    # "2019" (10 points) is interesting but not among the top two.  With six children the
    # random pick may add one more dive (any of them), which only moves it earlier.
    tree: Tree = {
        "a": {"deep": {"f": 1}}, "recordings": {"f": 1}, "backup": {"f": 1}, "2019": {"f": 1},
        "plain": {"f": 1}, "z": {"f": 1},
    }  # fmt: skip
    lister = Lister(tree)
    run(lister)
    order = lister.order
    assert order[:3] == ["/", "/recordings", "/backup"]
    # the dive into "a" goes on to its child before any other depth-1 directory that is not
    # a dive, and "2019" comes before "plain" (more interest) whichever is picked at random
    assert order.index("/a/deep") == order.index("/a") + 1
    assert order.index("/2019") < order.index("/plain")
    assert order.index("/z") < order.index("/plain") or order.index("/plain") < 5
    assert sorted(order) == sorted(["/", "/a", "/a/deep", "/recordings", "/backup", "/2019",
                                    "/plain", "/z"])  # fmt: skip


def test_widening_visits_shallower_before_deeper_at_equal_interest() -> None:
    # root: five plain children; "a" (first: a dive) has five plain children too. Dives
    # (first, last, one random pick) go first; of the rest, at least two per level widen, the
    # depth-1 ones before the depth-2 ones: the crawl ends with two of /a/q, /a/r, /a/s.
    tree: Tree = {k: {"f": 1} for k in "bcde"}
    tree = {"a": {k: {"f": 1} for k in "pqrst"}} | tree
    lister = Lister(tree)
    run(lister)
    assert lister.order[:2] == ["/", "/a"]
    assert set(lister.order[-2:]) <= {"/a/q", "/a/r", "/a/s"}
    assert len(lister.order) == 11


# -- bounds ------------------------------------------------------------------------------------


def test_depth_bound_lists_exactly_n_levels() -> None:
    tree: Tree = {"a": {"b": {"c": {"f": 1}}, "g": 2}, "h": 3}
    lister = Lister(tree)
    r = run(lister, ListingBounds(depth=2))
    assert lister.order == ["/", "/a"]  # levels 0 and 1
    assert sorted(e.path for e in r.entries) == ["/a", "/a/b", "/a/g", "/h"]
    assert r.truncated and r.stopped_by == "depth"
    lister = Lister(tree)
    r = run(lister, ListingBounds(depth=4))
    assert lister.order == ["/", "/a", "/a/b", "/a/b/c"] and not r.truncated
    assert r.stopped_by is None
    lister = Lister(tree)
    r = run(lister, ListingBounds(depth=3))
    assert lister.order == ["/", "/a", "/a/b"] and r.stopped_by == "depth"
    # the depth bound cuts branches, not the crawl: the other directories within it are listed
    wide: Tree = {"a": {"b": {"f": 1}}, "z": {"y": {"f": 1}}, "k": {"g": 1}}
    lister = Lister(wide)
    r = run(lister, ListingBounds(depth=2))
    assert sorted(lister.order) == ["/", "/a", "/k", "/z"]
    assert sorted(e.path for e in r.entries) == ["/a", "/a/b", "/k", "/k/g", "/z", "/z/y"]
    assert r.truncated and r.stopped_by == "depth"
    # a bound that stops the crawl is named before a depth cut
    lister = Lister(wide)
    r = run(lister, ListingBounds(depth=2, requests=2))
    assert len(lister.order) == 2 and r.stopped_by == "requests"
    # a directory without subdirectories at the last level is no reason to say "depth"
    flat: Tree = {"a": {"f": 1}}
    r = run(Lister(flat), ListingBounds(depth=2))
    assert not r.truncated and r.stopped_by is None


@pytest.mark.parametrize(("cap", "want"), [(1, ["/"]), (2, ["/", "/a"]), (3, ["/", "/a", "/z"])])
def test_request_cap_rows(cap: int, want: list[str]) -> None:
    tree: Tree = {"a": {"f": 1}, "z": {"g": 2}}
    lister = Lister(tree)
    r = run(lister, ListingBounds(requests=cap))
    assert lister.order == want and r.requests == cap
    assert r.truncated is (cap < 3)
    assert r.stopped_by == ("requests" if cap < 3 else None)


def test_zero_request_bound_still_lists_the_root() -> None:
    lister = Lister({"f": 1})
    r = run(lister, ListingBounds(requests=0))
    assert lister.order == ["/"] and r.requests == 1 and not r.truncated


@pytest.mark.parametrize(("n", "truncated"), [(2, False), (3, False), (4, True)])
def test_entries_bound_rows(n: int, truncated: bool) -> None:
    tree: Tree = {f"f{i}": i for i in range(n)}
    r = run(Lister(tree), ListingBounds(entries=3))
    assert [e.path for e in r.entries] == [f"/f{i}" for i in range(min(n, 3))]
    assert r.truncated is truncated
    assert r.stopped_by == ("entries" if truncated else None)


def test_loops_found_before_the_entries_bound_are_counted() -> None:
    first = Page([Item("up", is_dir=True, key="R"), Item("f1", size=1), Item("f2", size=1),
                  Item("f3", size=1)])  # fmt: skip
    r = run(Lister({}), ListingBounds(entries=2), first=first, root_key="R")
    assert [e.path for e in r.entries] == ["/up", "/f1"] and r.stopped_by == "entries"
    assert r.loops == 1


def test_entries_bound_stops_the_whole_crawl() -> None:
    tree: Tree = {"a": {"x": 1, "y": 2}, "b": {"z": 3}}
    lister = Lister(tree)
    r = run(lister, ListingBounds(entries=3))
    assert [e.path for e in r.entries] == ["/a", "/b", "/a/x"]
    assert lister.order == ["/", "/a"] and r.stopped_by == "entries"


def test_bytes_bound_is_checked_after_each_page() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        budget.spend(100)
        return Page([Item("d", is_dir=True), Item("f", size=1)])

    r = run(lister, ListingBounds(bytes=100))
    assert r.requests == 1 and r.bytes == 100 and r.truncated and r.stopped_by == "bytes"
    assert [e.path for e in r.entries] == ["/d", "/f"]
    r = run(lister, ListingBounds(bytes=101, depth=3))
    assert r.requests == 2 and r.stopped_by == "bytes"

    async def files_only(path: str, handle: Any, budget: Budget) -> Page:
        budget.spend(50)
        return Page([Item("f", size=1)])

    # the bytes ran out exactly on the last page: the page may have been cut, so say so
    r = run(files_only, ListingBounds(bytes=50))
    assert r.truncated is True and r.stopped_by == "bytes"
    r = run(files_only, ListingBounds(bytes=51))
    assert r.truncated is False and r.stopped_by is None


def test_first_page_is_charged_and_the_root_not_listed_again() -> None:
    lister = Lister({"a": {"f": 1}})
    first = Page([Item("a", is_dir=True)])
    r = run(lister, ListingBounds(requests=2), first=first)
    assert lister.order == ["/a"] and r.requests == 2 and not r.truncated
    lister = Lister({"a": {"f": 1}})
    r = run(lister, ListingBounds(requests=1), first=first)
    assert lister.order == [] and r.requests == 1 and r.truncated and r.stopped_by == "requests"


def test_every_planned_loop_is_counted() -> None:
    lister = Lister({"me": {}})
    first = Page([Item("up1", is_dir=True, key="R"), Item("up2", is_dir=True, key="R"),
                  Item("me", is_dir=True)])  # fmt: skip
    r = run(lister, first=first, root_key="R")
    assert lister.order == ["/me"] and r.loops == 2


def test_a_child_keyed_as_the_root_of_a_first_page_is_a_loop() -> None:
    lister = Lister({})
    first = Page([Item("up", is_dir=True, key="R"), Item("me", is_dir=True, key="/")])
    r = run(lister, first=first, root_key="R")
    assert lister.order == ["/me"] and r.loops == 1
    lister = Lister({"me": {}})
    r = run(lister, first=first)  # without a root key the root's key is its path, "/"
    assert lister.order == ["/up"] and r.loops == 1


def test_deadline_is_passed_to_the_budget() -> None:
    import time

    lister = Lister({"f": 1})
    r = run(lister, deadline=time.monotonic() - 1)
    assert lister.order == [] and r.stopped_by == "time" and r.truncated


def test_rules_given_replace_the_default_ones() -> None:
    from scanner.classify.rules import RuleSet

    tree: Tree = {"a": {"f": 1}, "recordings": {"f": 1}, "backup": {"f": 1}, "zz": {"f": 1}}
    lister = Lister(tree)
    run(lister, rules=RuleSet({}, ()))  # no rules: nothing is interesting
    assert lister.order[:2] == ["/", "/a"]  # the first child, not "recordings", goes first
    assert sorted(lister.order) == ["/", "/a", "/backup", "/recordings", "/zz"]


def test_the_most_interesting_names_dive_whatever_their_place() -> None:
    # "2019" (10) comes before "backup" (20) and "recordings" (30): the two best dive, best first
    names = ["a", "2019", "backup", "recordings", "p1", "p2", "p3", "p4", "p5", "z"]
    for seed in range(5):
        lister = Lister({n: {"f": 1} for n in names})
        run(lister, ListingBounds(requests=3), seed=seed)
        assert lister.order == ["/", "/recordings", "/backup"]


def test_a_rule_weight_of_one_is_interesting(tmp_path: Any) -> None:
    from scanner.classify.rules import load_rules

    extra = tmp_path / "tiny.toml"
    extra.write_text('[[rule]]\nname = "tiny"\ncategory = "recording"\nwhere = "resource"\n'
                     'how = "regex"\npatterns = ["^tiny$"]\nweight = 1\n')  # fmt: skip
    rules = load_rules([extra])
    names = [f"p{i:02d}" for i in range(15)] + ["tiny"] + [f"q{i:02d}" for i in range(14)]
    for seed in range(3):
        lister = Lister({n: {"f": 1} for n in names})
        run(lister, ListingBounds(requests=2), seed=seed, rules=rules)
        assert lister.order == ["/", "/tiny"]


def test_widening_prefers_interest_whatever_the_seed() -> None:
    # dives: "a" (first), "z" (last), "recordings" and "backup" (interesting), one random;
    # the rest widen: "2019" (10 points) before the plain ones
    names = ["a", "recordings", "backup", "p1", "p2", "p3", "2019", "p4", "z"]
    for seed in range(6):
        lister = Lister({n: {"f": 1} for n in names})
        run(lister, seed=seed)
        plain = [lister.order.index(f"/p{i}") for i in range(1, 5)]
        assert lister.order.index("/2019") < sorted(plain)[1]  # at most one (random) dive before


def test_the_seed_picks_the_random_dive_and_defaults_to_zero() -> None:
    tree: Tree = {f"d{i:02d}": {"f": 1} for i in range(30)}

    def order(**kw: Any) -> list[str]:
        lister = Lister(tree)
        run(lister, ListingBounds(requests=4), **kw)
        return lister.order

    orders = {tuple(order(seed=s)) for s in range(8)}
    assert len(orders) > 1  # another seed, another random pick
    assert all(o[:2] == ("/", "/d00") and "/d29" in o for o in orders)  # first and last dive
    assert order() == order(seed=0)


def test_handles_are_passed_back() -> None:
    seen: list[tuple[str, Any]] = []

    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        seen.append((path, handle))
        if path == "/":
            return Page([Item("a", is_dir=True, handle="H-a"), Item("b", is_dir=True)])
        return Page([])

    run(lister, root_handle="H-root")
    assert seen == [("/", "H-root"), ("/a", "H-a"), ("/b", None)]


# -- entries -----------------------------------------------------------------------------------


def test_entry_fields_and_links() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("d", is_dir=True, size=4096, mtime="2024-01-02"),
                         Item("f", size=7, mtime="2023-05-06 07:08"),
                         Item("l", is_dir=True, link=True),
                         Item("n")])  # fmt: skip
        return Page([Item("g", size=0)])

    r = run(lister)
    assert [(e.path, e.size, e.mtime, e.is_dir) for e in r.entries] == [
        ("/d", None, "2024-01-02", True), ("/f", 7, "2023-05-06 07:08", False),
        ("/l", None, None, True), ("/n", None, None, False), ("/d/g", 0, None, False),
    ]  # fmt: skip
    assert r.dirs_seen == 3 and r.dirs_listed == 2 and r.requests == 2  # the link: not listed


def test_bad_duplicate_and_loop_counts_from_the_page() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        return Page([Item("a", size=1), Item("a", size=2), Item("b", size=-1)], bad=-4, loops=-2)

    r = run(lister)
    assert (r.bad, r.duplicates, r.loops) == (1, 1, 0)

    async def lister2(path: str, handle: Any, budget: Budget) -> Page:
        return Page([Item("a", size=1)], bad=2, loops=3)

    r = run(lister2)
    assert (r.bad, r.loops, r.truncated) == (2, 3, False)

    async def lister3(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("d", is_dir=True), Item("x", size=-1)], bad=2, loops=1)
        return Page([Item("y", size=1)], bad=3, loops=2)

    r = run(lister3)  # counts add up over pages
    assert (r.bad, r.loops) == (2 + 1 + 3, 1 + 2)


def test_every_repeated_name_is_counted() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        return Page([Item("a", size=1), Item("a", size=2), Item("b", size=3), Item("a", size=4),
                      Item("b", is_dir=True)])  # fmt: skip

    r = run(lister)
    assert [(e.path, e.size) for e in r.entries] == [("/a", 1), ("/b", 3)]
    assert r.duplicates == 3 and r.requests == 1


def test_same_path_from_two_pages_is_a_duplicate() -> None:
    # "/a" lists an entry "b" whose path equals one the root already listed? impossible; but a
    # lister that lists "x" under "/a" twice through two keys gives the same path twice
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("a", is_dir=True, key="k1")])
        return Page([Item("x", size=1)])

    c = Crawler(lister, ListingBounds())
    r = asyncio.run(c.run())
    assert [e.path for e in r.entries] == ["/a", "/a/x"] and r.duplicates == 0


# -- loops -------------------------------------------------------------------------------------


def test_a_page_equal_to_an_ancestors_is_a_loop_in_any_order() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("a", is_dir=True), Item("f", size=1)])
        if path == "/a":  # the root's page again, in another order
            return Page([Item("f", size=1), Item("a", is_dir=True)])
        raise AssertionError(path)

    r = run(lister)
    assert [e.path for e in r.entries] == ["/a", "/f"]
    assert r.loops == 1 and r.dirs_listed == 1 and r.requests == 2


@pytest.mark.parametrize(
    "child_page",
    [
        [Item("a", is_dir=True), Item("f", size=2)],  # another size
        [Item("a", is_dir=True), Item("f")],  # no size where the parent's page had 1
        [Item("a", is_dir=False), Item("f", size=1)],  # a file, not a directory
        [Item("b", is_dir=True), Item("f", size=1)],  # another name
    ],
)
def test_a_page_that_differs_is_not_a_loop(child_page: list[Item]) -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("a", is_dir=True), Item("f", size=1)])
        if path == "/a":
            return Page(child_page)
        return Page([])

    r = run(lister, ListingBounds(depth=2))
    assert r.dirs_listed == 2 and r.loops == 0
    assert "/a/f" in [e.path for e in r.entries]


def test_grandparent_page_is_a_loop_too() -> None:
    root = [Item("a", is_dir=True), Item("f", size=1)]

    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/a":
            return Page([Item("b", is_dir=True)])
        return Page(root)  # "/" and "/a/b" answer the same page

    r = run(lister)
    assert r.loops == 1 and r.dirs_listed == 2 and r.requests == 3
    assert [e.path for e in r.entries] == ["/a", "/f", "/a/b"]


def test_empty_pages_are_never_loops() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("a", is_dir=True)])
        if path == "/a":
            return Page([Item("b", is_dir=True)])
        return Page([])

    r = run(lister)
    assert r.loops == 0 and r.dirs_listed == 3


def test_keys_already_listed_are_loops() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("a", is_dir=True, key="A"), Item("b", is_dir=True, key="A"),
                         Item("c", is_dir=True, key="R")])  # fmt: skip
        return Page([Item(path.strip("/") + ".txt", size=1)])

    r = run(lister, root_key="R")
    # "c" is the root again (planned: a loop); "a" and "b" share a key: the second is a loop
    assert r.dirs_listed == 2 and r.loops == 2 and r.requests == 2


def test_a_loop_taken_off_the_queue_does_not_end_the_crawl() -> None:
    # "backup" and "a" share a key and both are dives (interesting; first); "backup" (more
    # interest) is listed, "a" comes off the queue next: a loop, and "d" (last) is still listed
    lister = Lister({"a": {"x": 1}, "backup": {"y": 1}, "c": {"z": 1}, "d": {"w": 1}})

    async def keyed(path: str, handle: Any, budget: Budget) -> Page:
        page = await lister(path, handle, budget)
        if path == "/":
            keys = {"a": "K", "backup": "K", "c": "R"}
            page.items = [Item(i.name, i.is_dir, i.size, key=keys.get(i.name)) for i in page.items]
        return page

    r = run(keyed, root_key="R")
    assert lister.order == ["/", "/backup", "/d"]
    assert r.loops == 2 and r.dirs_listed == 3 and not r.truncated


# -- failures ----------------------------------------------------------------------------------


def test_errors_are_tolerated_up_to_max_errors() -> None:
    assert MAX_ERRORS == 3
    tree: Tree = {f"d{i}": {"f": 1} for i in range(6)}

    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item(k, is_dir=True) for k in tree])
        raise OSError(f"refused {path}")

    r = run(lister)
    assert r.requests == 4 and r.stopped_by == "error" and r.truncated
    assert len(r.partial) == 3
    assert all(p.startswith("/d") and ": OSError: refused /d" in p for p in r.partial)
    assert isinstance(r.last_error, OSError)
    r = run(lister, max_errors=1)
    assert r.requests == 2 and r.stopped_by == "error" and len(r.partial) == 1
    r = run(lister, max_errors=10)
    assert r.requests == 7 and r.stopped_by is None and len(r.partial) == 6 and r.truncated
    assert r.estimate is None  # no directory below the root was listed: nothing to extrapolate


def test_partial_reason_text_and_cut() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("a", is_dir=True)])
        raise ValueError("x" * 300)

    r = run(lister, stop_on_error=True)
    assert r.partial == [("/a: ValueError: " + "x" * 300)[:200]]
    assert len(r.partial[0]) == 200

    async def page_error(path: str, handle: Any, budget: Budget) -> Page:
        return Page([Item("f", size=1)], error="y" * 300)

    r = run(page_error)
    assert r.partial == [("/: " + "y" * 300)[:200]] and r.truncated and r.stopped_by is None


def test_incomplete_page_truncates_without_a_reason() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        return Page([Item("f", size=1)], complete=False)

    r = run(lister)
    assert r.truncated and r.partial == [] and r.stopped_by is None


def test_not_listable_directories() -> None:
    async def lister(path: str, handle: Any, budget: Budget) -> Page:
        if path == "/":
            return Page([Item("a", is_dir=True), Item("b", is_dir=True), Item("c", is_dir=True)])
        if path == "/c":
            return Page([Item("x", size=1), Item("y", size=1)])
        raise NotListable("403")

    c = Crawler(lister, ListingBounds())
    r = asyncio.run(c.run())
    assert c.not_listable == 2 and r.root_refused is None and r.partial == []
    assert not r.truncated and r.stopped_by is None and r.dirs_listed == 2
    # the crawl finished: the counts are exact, the refused directories are not extrapolated
    assert r.estimate is None

    async def refused(path: str, handle: Any, budget: Budget) -> Page:
        raise NotListable("login page")

    r = run(refused)
    assert r.root_refused == "login page" and not r.listed_anything and r.entries == []

    async def bare(path: str, handle: Any, budget: Budget) -> Page:
        raise NotListable()

    assert run(bare).root_refused == "not listable"


# -- the estimate, worked by hand --------------------------------------------------------------


def test_estimate_one_level_by_hand() -> None:
    # root: 2 files of 7 bytes and 4 directories of 5 files of 10 bytes; 3 requests list the
    # root and 2 of the 4 directories.
    # depth 0: 1 directory, weight 1: 2 files, 14 bytes; 4 subdirectories -> 4 at depth 1
    # depth 1: 4 directories, 2 listed: weight 2: 10 files * 2 = 20, 100 bytes * 2 = 200
    # total: 22 files, 214 bytes, 1 + 4 directories
    tree: Tree = {f"d{i}": {f"f{j}": 10 for j in range(5)} for i in range(4)}
    tree |= {"r1": 7, "r2": 7}
    r = run(Lister(tree), ListingBounds(requests=3))
    assert r.truncated and r.stopped_by == "requests"
    assert r.estimate == Estimate(files=22, bytes=214, directories=5, directories_listed=3,
                                  directories_seen=5, depth_weights=(1.0, 2.0))  # fmt: skip
    assert sum(1 for e in r.entries if not e.is_dir) == 12


def test_estimate_with_an_unsampled_depth_by_hand() -> None:
    # root: dirs a, b; each holds 3 files of 1 byte and a dir s (with 1 file). 2 requests list
    # the root and one of a/b.
    # depth 0: weight 1, no files; 2 subdirectories -> 2 directories at depth 1
    # depth 1: 2 directories, 1 listed: weight 2: 3 files * 2 = 6, 3 bytes * 2 = 6;
    #          1 subdirectory * 2 = 2 directories at depth 2 (1 seen)
    # depth 2: none listed: unsampled, weight 0 -> 6 files, 6 bytes, 1 + 2 + 2 directories
    tree: Tree = {k: {"x": 1, "y": 1, "z": 1, "s": {"f": 1}} for k in ("a", "b")}
    r = run(Lister(tree), ListingBounds(requests=2))
    assert r.estimate == Estimate(files=6, bytes=6, directories=5, directories_listed=2,
                                  directories_seen=4, depth_weights=(1.0, 2.0, 0.0),
                                  unsampled_depths=(2,))  # fmt: skip
    data = r.listing().estimate
    assert data is not None and data["unsampled_depths"] == [2]


def test_estimate_three_levels_by_hand() -> None:
    # root: 3 dirs; the first dive (d0) holds 2 dirs of 4 files of 5 bytes and 1 file of 3.
    # 4 requests: "/", then the dives: deepest first, so /d0, then /d0/e0, then the last of
    # /d0 (e1) before the root's other dives.
    # depth 0: w 1; 3 subdirs -> 3 at depth 1
    # depth 1: 3 dirs, 1 listed: w 3: files 1 * 3 = 3, bytes 3 * 3 = 9; subdirs 2 * 3 = 6
    # depth 2: 6 dirs, 2 listed: w 3: files 8 * 3 = 24, bytes 40 * 3 = 120
    # total 27 files, 129 bytes, 1 + 3 + 6 = 10 directories
    sub: Tree = {"e0": {f"f{j}": 5 for j in range(4)}, "e1": {f"f{j}": 5 for j in range(4)},
                 "g": 3}  # fmt: skip
    tree: Tree = {"d0": sub, "d1": {"x": 1}, "d2": {"x": 1}}
    lister = Lister(tree)
    r = run(lister, ListingBounds(requests=4))
    assert lister.order == ["/", "/d0", "/d0/e0", "/d0/e1"]
    assert r.estimate == Estimate(files=27, bytes=129, directories=10, directories_listed=4,
                                  directories_seen=6, depth_weights=(1.0, 3.0, 3.0))  # fmt: skip


def test_estimate_files_without_size_add_no_bytes() -> None:
    # as the one-level example, but the files have no size: 20 files, 0 bytes
    tree: Tree = {f"d{i}": {f"f{j}": None for j in range(5)} for i in range(4)}
    r = run(Lister(tree), ListingBounds(requests=3))
    assert r.estimate is not None
    assert (r.estimate.files, r.estimate.bytes) == (20, 0)


def test_estimate_rounds_weights_to_four_places() -> None:
    # 3 dirs at depth 1, 2 listed... weight 3/2; with 7 dirs and 3 listed: 7/3 = 2.3333
    tree: Tree = {f"d{i}": {"f": 1} for i in range(7)}
    r = run(Lister(tree), ListingBounds(requests=4))
    assert r.estimate is not None
    assert r.estimate.depth_weights == (1.0, 2.3333)
    assert r.estimate.files == 7 and r.estimate.bytes == 7  # 3 files * 7/3


def test_no_estimate_when_nothing_more_is_expected() -> None:
    # cut by requests, but the unlisted directories were seen empty of files so far: the
    # estimate would not exceed what was seen, so there is none (never a count dressed up)
    tree: Tree = {"a": {}, "b": {}, "f": 1}
    r = run(Lister(tree), ListingBounds(requests=2))
    assert r.truncated and r.estimate is None
