"""One fetch per resource (issue 20): the per-service HTTP response cache.

Unit tests of ``ResponseCache`` (what is shared, cut to the asking request's byte bound, never
widened, bounded in entries and bytes) and of ``HttpTarget`` with a cache against an in-process
server that counts the requests it answers.
"""

from __future__ import annotations

import pytest
from http_answers import serve_answers
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.dialer import Dialer
from scanner.probe import ProbeContext
from scanner.protocols.http_cache import CacheKey, ResponseCache, cache_key
from scanner.protocols.http_client import HttpResponse, HttpTarget

ADDR = "127.0.67.20"


def _key(path: str = "/", method: str = "GET", **kw: object) -> CacheKey:
    args: dict[str, object] = dict(tls=False, host=ADDR, port=80, authority=ADDR, method=method,
                                   path=path, headers=None, body=b"")  # fmt: skip
    args.update(kw)
    key = cache_key(**args)  # type: ignore[arg-type]
    assert key is not None
    return key


def _resp(body: bytes, truncated: bool = False) -> HttpResponse:
    return HttpResponse(200, "OK", "HTTP/1.1", [("server", "x")], body, truncated)


def test_only_read_only_methods_are_shared() -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE"):
        assert cache_key(tls=False, host=ADDR, port=80, authority=ADDR, method=method,
                         path="/", headers=None, body=b"") is None  # fmt: skip
    for method in ("GET", "HEAD", "PROPFIND", "get"):
        assert _key(method=method) is not None


def test_key_holds_every_part_of_the_question() -> None:
    base = _key()
    assert _key(tls=True) != base
    assert _key(port=8080) != base
    assert _key(authority="nas.example:80") != base
    assert _key(path="/a/") != base
    assert _key(method="HEAD") != base
    assert _key(headers={"Range": "bytes=0-9"}) != base
    assert _key(headers={"Depth": "1"}, method="PROPFIND") != _key(
        headers={"Depth": "0"}, method="PROPFIND")
    assert _key(body=b"<a/>", method="PROPFIND") != _key(body=b"<b/>", method="PROPFIND")
    assert _key(headers={"A": "1", "B": "2"}) == _key(headers={"b": "2", "a": "1"})


def test_a_hit_is_cut_to_the_asking_bound_and_marked() -> None:
    cache = ResponseCache()
    cache.put(_key(), _resp(b"x" * 100))
    whole = cache.get(_key(), 1000)
    assert whole is not None and whole.body == b"x" * 100 and not whole.truncated
    cut = cache.get(_key(), 10)
    assert cut is not None and cut.body == b"x" * 10 and cut.truncated
    again = cache.get(_key(), 1000)  # cutting a copy left the stored answer whole
    assert again is not None and len(again.body) == 100 and not again.truncated
    assert cache.hits == 3


def test_a_cut_answer_never_serves_a_request_allowed_more() -> None:
    cache = ResponseCache()
    cache.put(_key(), _resp(b"y" * 50, truncated=True))
    assert cache.get(_key(), 51) is None  # would have read further: ask the server
    same = cache.get(_key(), 50)
    assert same is not None and same.truncated and len(same.body) == 50
    smaller = cache.get(_key(), 20)
    assert smaller is not None and smaller.truncated and len(smaller.body) == 20


def test_bounded_in_entries_and_bytes_first_answers_kept() -> None:
    cache = ResponseCache(max_entries=3, max_bytes=100)
    for i in range(3):
        cache.put(_key(f"/{i}"), _resp(b"a" * 10))
    cache.put(_key("/3"), _resp(b"b" * 10))  # full: the first answers stay, this one is not kept
    assert len(cache) == 3 and cache.get(_key("/3"), 100) is None
    assert all(cache.get(_key(f"/{i}"), 100) is not None for i in range(3))
    assert cache.refused == 1
    cache.put(_key("/1"), _resp(b"c" * 80))  # the same question asked again replaces its answer
    assert cache.bytes == 100 and cache.get(_key("/1"), 100).body == b"c" * 80  # type: ignore[union-attr]
    roomy = ResponseCache(max_entries=10, max_bytes=100)
    roomy.put(_key("/huge"), _resp(b"d" * 101))  # larger than the whole bound: not kept
    assert roomy.get(_key("/huge"), 1000) is None and roomy.bytes == 0 and len(roomy) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 70)), max_size=60),
       st.integers(1, 5), st.integers(1, 150))  # fmt: skip
def test_bounds_hold_whatever_is_stored(
    ops: list[tuple[int, int]], entries: int, size: int
) -> None:
    cache = ResponseCache(max_entries=entries, max_bytes=size)
    for path, n in ops:
        cache.put(_key(f"/{path}"), _resp(b"z" * n))
        assert len(cache) <= entries and 0 <= cache.bytes <= size
        got = cache.get(_key(f"/{path}"), 1000)
        assert got is None or got.body == b"z" * n


def test_each_service_gets_its_own_cache(dialer: Dialer) -> None:
    base = ProbeContext(dialer=dialer)
    one, two = base.for_service(), base.for_service()
    assert base.responses is None
    assert one.responses is not None and two.responses is not None
    assert one.responses is not two.responses
    assert one.for_probe("http").responses is one.responses  # probe bounds keep the cache


@pytest.mark.parametrize("size", [10, 300_000])
async def test_target_asks_the_server_once(dialer: Dialer, size: int) -> None:
    log: list[str] = []
    body = b"<html>" + b"r" * size

    def answer(method: str, target: str) -> tuple[int, str, bytes]:
        return 200, "text/html", body

    async with serve_answers(ADDR, answer, log=log) as port:
        cache = ResponseCache()
        a = HttpTarget(dialer, ADDR, port, tls=False, cache=cache, max_body=1 << 20)
        b = HttpTarget(dialer, ADDR, port, tls=False, cache=cache, max_body=1 << 20)
        first = await a.request("GET", "/")
        second = await b.request("GET", "/")
        assert first.body == second.body == body
        assert log == ["GET /"] and b.requests == 0 and b.cached == 1
        await b.request("HEAD", "/")
        await b.request("POST", "/", body=b"x")  # never shared: asked each time
        await b.request("POST", "/", body=b"x")
        await b.request("GET", "/", headers={"Range": "bytes=0-3"})
        assert log == ["GET /", "HEAD /", "POST /", "POST /", "GET /"]
        other = HttpTarget(dialer, ADDR, port, tls=False, max_body=1 << 20)  # no cache
        await other.request("GET", "/")
        assert log.count("GET /") == 3


async def test_target_reasks_when_allowed_more_than_was_read(dialer: Dialer) -> None:
    log: list[str] = []

    def answer(method: str, target: str) -> tuple[int, str, bytes]:
        return 200, "text/plain", b"0123456789" * 10

    async with serve_answers(ADDR, answer, log=log) as port:
        cache = ResponseCache()
        t = HttpTarget(dialer, ADDR, port, tls=False, cache=cache)
        small = await t.request("GET", "/p", max_body=20)
        assert small.truncated and len(small.body) == 20
        smaller = await t.request("GET", "/p", max_body=5)
        assert smaller.body == b"01234" and smaller.truncated and len(log) == 1
        whole = await t.request("GET", "/p", max_body=1000)
        assert len(whole.body) == 100 and not whole.truncated and len(log) == 2
        assert (await t.request("GET", "/p", max_body=1000)).body == whole.body
        assert len(log) == 2


async def test_failures_are_not_kept(dialer: Dialer) -> None:
    cache = ResponseCache()
    t = HttpTarget(dialer, ADDR, 9, tls=False, cache=cache, request_timeout=2.0)
    with pytest.raises(ConnectionRefusedError):
        await t.request("GET", "/")
    assert len(cache) == 0 and cache.hits == 0


async def test_scheme_is_learnt_once_per_service(dialer: Dialer) -> None:
    log: list[str] = []

    def answer(method: str, target: str) -> tuple[int, str, bytes]:
        return 200, "text/plain", b"ok"

    async with serve_answers(ADDR, answer, log=log) as port:
        cache = ResponseCache()
        a = HttpTarget(dialer, ADDR, port, cache=cache)
        assert await a.probe_scheme() is False
        b = HttpTarget(dialer, ADDR, port, cache=cache)
        before = dialer.dials
        assert await b.probe_scheme() is False and b.tls is False
        assert dialer.dials == before  # no second handshake attempt
        assert cache.schemes == {(ADDR, port): False}
