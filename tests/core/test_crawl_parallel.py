"""The crawler listing several directories at once (``parallel``, used by rsync whose every
listing is a client run): the same bounds as one at a time, every entry of a tree it may list
whole, no directory listed twice, at most ``parallel`` listings in flight, the same result every
run; with a ``wave_lister`` (a wave in one request), the same crawl as one listing each.
In-memory trees (the crawler alone); rsync against real daemons is in tests/probes/rsync/ and
tests/crawl/test_crawl_lab.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.crawl import Budget, Item, NotListable, Page, crawl
from scanner.probe import ListingBounds

Tree = dict[str, Any]


class SlowServer:
    """Lists a dict tree after a short wait; counts requests, bytes and listings in flight.
    Each page costs 10 bytes per item and is cut where the lister's byte budget ends."""

    def __init__(self, tree: Tree, links: bool = False) -> None:
        self.tree, self.links = tree, links
        self.requests: list[str] = []
        self.in_flight = self.most = 0
        self.read = 0

    async def __call__(self, path: str, handle: Any, budget: Budget) -> Page:
        self.requests.append(path)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        room = budget.bytes_left  # fixed when the request starts, as a client's cap is
        try:
            await asyncio.sleep(0.001)
            node = self.tree
            for part in [p for p in path.split("/") if p]:
                node = node[part]
            items: list[Item] = []
            for k, v in node.items():
                if room < 10:
                    break
                room -= 10
                items.append(Item(name=k, is_dir=isinstance(v, dict),
                                  size=None if isinstance(v, dict) else v))  # fmt: skip
            budget.spend(10 * len(items))
            self.read += 10 * len(items)
            return Page(items, complete=len(items) == len(node))
        finally:
            self.in_flight -= 1


def tree(width: int, depth: int) -> Tree:
    if depth == 0:
        return {f"f{i}.wav": 100 for i in range(width)}
    return {f"d{depth}x{i}": tree(width, depth - 1) for i in range(width)} | {f"r{depth}.txt": 5}


def all_paths(t: Tree, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in t.items():
        out.add(prefix + "/" + k)
        if isinstance(v, dict):
            out |= all_paths(v, prefix + "/" + k)
    return out


async def _crawl(t: Tree, parallel: int, **bounds: int) -> tuple[Any, SlowServer]:
    server = SlowServer(t)
    result = await crawl(server, ListingBounds(**bounds), parallel=parallel, seed=3)
    return result, server


@pytest.mark.parametrize("parallel", [1, 2, 4, 8])
async def test_a_tree_within_bounds_is_listed_whole(parallel: int) -> None:
    t = tree(3, 3)
    result, server = await _crawl(t, parallel, requests=100, entries=10_000)
    assert {e.path for e in result.entries} == all_paths(t)
    assert not result.truncated
    assert len(server.requests) == len(set(server.requests)) == 1 + 3 + 9 + 27
    assert server.most <= parallel and (parallel == 1 or server.most > 1)


@pytest.mark.parametrize("parallel", [2, 4])
async def test_request_entry_and_byte_bounds_hold(parallel: int) -> None:
    t = tree(4, 4)
    result, server = await _crawl(t, parallel, requests=9)
    assert len(server.requests) == result.requests == 9 and result.truncated
    files_seen = sum(1 for e in result.entries if not e.is_dir)
    assert result.estimate is not None and result.estimate.files > files_seen
    result, server = await _crawl(t, parallel, requests=100, entries=30)
    assert len(result.entries) == 30 and result.stopped_by == "entries"
    result, server = await _crawl(t, parallel, requests=100, bytes=500)
    assert server.read <= 500 and result.bytes <= 500 and result.truncated
    # pages larger than what is left: the listings of one wave share the rest
    result, server = await _crawl(tree(8, 2), parallel, requests=100, bytes=200)
    assert 90 < server.read <= 200 and result.bytes == server.read and result.truncated


async def test_the_same_result_every_run() -> None:
    t = tree(4, 4)
    runs = [await _crawl(t, 4, requests=20) for _ in range(3)]
    paths = [[e.path for e in r.entries] for r, _ in runs]
    assert paths[0] == paths[1] == paths[2]
    assert runs[0][1].requests == runs[1][1].requests == runs[2][1].requests


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.integers(1, 3), st.integers(1, 6), st.integers(1, 40),
       st.integers(50, 3000))  # fmt: skip
def test_bounds_hold_for_any_shape(
    width: int, depth: int, parallel: int, requests: int, nbytes: int
) -> None:
    t = tree(width, depth)
    result, server = asyncio.run(_crawl(t, parallel, requests=requests, bytes=nbytes))
    assert len(server.requests) <= requests and len(server.requests) == len(set(server.requests))
    assert server.read <= nbytes
    assert server.most <= parallel
    assert {e.path for e in result.entries} <= all_paths(t)


class WaveServer(SlowServer):
    """The same tree, also listable a wave at a time (one request for several directories, as
    one rsync client run lists several): each directory's answer is its own listing's, an
    exception included. Directories named ``deny*`` are not listable, ``boom*`` fail."""

    def __init__(self, tree: Tree) -> None:
        super().__init__(tree)
        self.waves: list[int] = []

    async def __call__(self, path: str, handle: Any, budget: Budget) -> Page:
        name = path.rsplit("/", 1)[-1]
        if name.startswith("deny"):
            self.requests.append(path)
            raise NotListable("403")
        if name.startswith("boom"):
            self.requests.append(path)
            raise ConnectionResetError("reset")
        return await super().__call__(path, handle, budget)

    async def wave(self, dirs: list[tuple[str, Any, Budget]]) -> list[Page | Exception]:
        self.waves.append(len(dirs))
        out: list[Page | Exception] = []
        for path, handle, budget in dirs:
            try:
                out.append(await self(path, handle, budget))
            except Exception as exc:
                out.append(exc)
        return out


def odd_tree(width: int, depth: int) -> Tree:
    t = tree(width, depth)
    t["deny-a"] = {"x.txt": 1}
    t["boom-b"] = {"y.txt": 1}
    if depth > 1:
        t[f"d{depth}x0"]["deny-c"] = {"z.txt": 1}
    return t


def _same(a: Any, b: Any) -> None:
    assert [(e.path, e.size, e.is_dir) for e in a.entries] == [
        (e.path, e.size, e.is_dir) for e in b.entries
    ]
    assert (a.truncated, a.stopped_by, a.dirs_listed, a.dirs_seen, a.requests, a.bytes) == (
        b.truncated, b.stopped_by, b.dirs_listed, b.dirs_seen, b.requests, b.bytes
    )  # fmt: skip
    assert a.partial == b.partial and a.estimate == b.estimate


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.integers(2, 8), st.integers(1, 40),
       st.integers(50, 3000), st.integers(5, 200))  # fmt: skip
def test_a_wave_lister_gives_the_same_crawl_as_one_listing_each(
    width: int, depth: int, parallel: int, requests: int, nbytes: int, entries: int
) -> None:
    t = odd_tree(width, depth)
    bounds = ListingBounds(requests=requests, bytes=nbytes, entries=entries)
    each, together = WaveServer(t), WaveServer(t)
    a = asyncio.run(crawl(each, bounds, parallel=parallel, seed=3))
    b = asyncio.run(crawl(together, bounds, parallel=parallel, seed=3, wave_lister=together.wave))
    _same(a, b)
    assert sorted(each.requests) == sorted(together.requests)
    assert all(2 <= w <= parallel for w in together.waves)  # a wave of one: the lister


async def test_a_wave_that_fails_whole_fails_each_directory_and_keeps_the_rest() -> None:
    t = tree(3, 2)
    calls = 0

    async def broken(dirs: list[tuple[str, Any, Budget]]) -> list[Page | Exception]:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("max connections")

    server = SlowServer(t)
    r = await crawl(server, ListingBounds(), parallel=4, wave_lister=broken)
    assert calls == 1  # three failures end the crawl (MAX_ERRORS)
    assert {e.path for e in r.entries} == {"/d2x0", "/d2x1", "/d2x2", "/r2.txt"}
    assert r.truncated and r.stopped_by == "error" and len(r.partial) == 3
    assert all("ConnectionRefusedError" in p for p in r.partial)


async def test_a_wave_lister_answering_the_wrong_count_is_an_error_not_a_guess() -> None:
    async def short(dirs: list[tuple[str, Any, Budget]]) -> list[Page | Exception]:
        return [Page([Item("x.wav", size=1)])]  # one answer for a wave of three

    r = await crawl(SlowServer(tree(3, 2)), ListingBounds(), parallel=4, wave_lister=short)
    assert not any(e.path.endswith("x.wav") for e in r.entries)
    assert r.stopped_by == "error" and all("wrong count" in p for p in r.partial)


async def test_a_wave_is_charged_one_request_per_directory_up_to_the_bound() -> None:
    server = WaveServer(tree(6, 1))
    r = await crawl(server, ListingBounds(requests=4), parallel=8, wave_lister=server.wave)
    assert server.waves == [3] and r.requests == 4 and r.stopped_by == "requests"
