"""The HTTP client hands a body to a consumer as it arrives (issue 20: listing pages parsed as
they stream), against in-process servers that count what they manage to send.

A consumer sees every body byte once, in order, in pieces of 64 KiB (the last shorter) whatever
the framing (Content-Length, chunked, until EOF) and whatever sizes the server's writes and the
network deliver; when it says it needs no more, the client reads nothing further and closes the
connection, and the body is what was fed (marked cut unless Content-Length says it was all), so
where a read stops depends on the body alone.
The per-service cache keeps such a body as cut: it serves only requests that read no further.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from listing_pages import nginx_autoindex

from scanner.dialer import Dialer
from scanner.protocols.http_cache import ResponseCache
from scanner.protocols.http_client import FEED_PIECE, HttpResponse, HttpTarget
from scanner.protocols.listing import parse_listing
from scanner.protocols.listing_stream import ListingStream

ADDR = "127.0.67.30"
SEND_CAP = 256 * 1024 * 1024


@dataclass
class Sent:
    requests: list[str] = field(default_factory=list)
    bytes: int = 0
    """Body bytes the server's writes handed to the kernel (all connections)."""
    broken: int = 0
    """Connections whose peer went away while the server was still writing."""


Body = Callable[[asyncio.StreamWriter, Sent], Awaitable[None]]
Framing = Callable[[bytes], Body]


@contextlib.asynccontextmanager
async def serve(bodies: dict[str, Body]) -> AsyncIterator[tuple[int, Sent]]:
    sent = Sent()

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            method, path = head.decode("latin-1").split(" ", 2)[:2]
            sent.requests.append(f"{method} {path}")
            await bodies[path](w, sent)
        except (ConnectionError, BrokenPipeError):
            sent.broken += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            w.close()

    srv = await asyncio.start_server(on_conn, ADDR, 0)
    try:
        yield int(srv.sockets[0].getsockname()[1]), sent
    finally:
        srv.close()
        await srv.wait_closed()


async def _write(w: asyncio.StreamWriter, sent: Sent, data: bytes) -> None:
    w.write(data)
    await w.drain()
    sent.bytes += len(data)


def sized(body: bytes) -> Body:
    async def send(w: asyncio.StreamWriter, sent: Sent) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
                % len(body))  # fmt: skip
        for i in range(0, len(body), 1000):
            await _write(w, sent, body[i : i + 1000])

    return send


def chunked(body: bytes, size: int = 777) -> Body:
    async def send(w: asyncio.StreamWriter, sent: Sent) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), size):
            piece = body[i : i + size]
            w.write(b"%x\r\n" % len(piece))
            await _write(w, sent, piece)
            w.write(b"\r\n")
        w.write(b"0\r\n\r\n")
        await w.drain()

    return send


def until_eof(body: bytes) -> Body:
    async def send(w: asyncio.StreamWriter, sent: Sent) -> None:
        w.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n")
        for i in range(0, len(body), 1000):
            await _write(w, sent, body[i : i + 1000])

    return send


async def endless(w: asyncio.StreamWriter, sent: Sent) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n")
    row = b"x" * 65536
    while sent.bytes < SEND_CAP:
        w.write(b"%x\r\n" % len(row))
        await _write(w, sent, row)
        w.write(b"\r\n")


async def drip(w: asyncio.StreamWriter, sent: Sent) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(100):
        await _write(w, sent, b"<")
        await asyncio.sleep(0.1)


class Recorder:
    """A consumer keeping every piece; says stop once it holds ``stop_at`` bytes or more."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.pieces: list[bytes] = []
        self.stop_at = stop_at
        self.heads: list[HttpResponse] = []

    def __call__(self, resp: HttpResponse) -> Recorder:
        self.heads.append(resp)
        return self

    @property
    def data(self) -> bytes:
        return b"".join(self.pieces)

    def feed(self, data: bytes) -> bool:
        assert data  # never an empty piece
        self.pieces.append(data)
        return self.stop_at is not None and len(self.data) >= self.stop_at


BODY = bytes(range(256)) * 400  # 102,400 bytes


@pytest.mark.parametrize("framing", [sized, chunked, until_eof], ids=["sized", "chunked", "eof"])
async def test_consumer_sees_every_body_byte_in_order(dialer: Dialer, framing: Framing) -> None:
    async with serve({"/": framing(BODY)}) as (port, _):
        t = HttpTarget(dialer, ADDR, port, tls=False)
        rec = Recorder()
        resp = await t.request("GET", "/", consumer=rec)
        plain = await t.request("GET", "/")
    assert rec.data == resp.body == plain.body == BODY
    assert [len(p) for p in rec.pieces] == [FEED_PIECE, len(BODY) - FEED_PIECE]
    assert not resp.truncated and rec.heads == [resp] and resp.status == 200


@pytest.mark.parametrize("framing", [sized, chunked, until_eof], ids=["sized", "chunked", "eof"])
async def test_consumer_within_the_byte_bound(dialer: Dialer, framing: Framing) -> None:
    async with serve({"/": framing(BODY)}) as (port, _):
        t = HttpTarget(dialer, ADDR, port, tls=False)
        rec = Recorder()
        resp = await t.request("GET", "/", max_body=5000, consumer=rec)
    assert rec.data == resp.body == BODY[:5000] and resp.truncated


@pytest.mark.parametrize("framing", [sized, chunked, until_eof], ids=["sized", "chunked", "eof"])
async def test_stop_ends_the_read(dialer: Dialer, framing: Framing) -> None:
    async with serve({"/": framing(BODY)}) as (port, _):
        t = HttpTarget(dialer, ADDR, port, tls=False)
        rec = Recorder(stop_at=3000)
        resp = await t.request("GET", "/", consumer=rec)
    assert resp.body == rec.data == BODY[:FEED_PIECE] and resp.truncated


async def test_stop_on_the_last_byte_of_a_sized_body_is_no_cut(dialer: Dialer) -> None:
    async with serve({"/": sized(BODY)}) as (port, _):
        t = HttpTarget(dialer, ADDR, port, tls=False)
        resp = await t.request("GET", "/", consumer=Recorder(stop_at=len(BODY)))
    assert resp.body == BODY and not resp.truncated


async def test_stop_closes_the_connection_of_an_endless_body(dialer: Dialer) -> None:
    async with serve({"/": endless}) as (port, sent):
        t = HttpTarget(dialer, ADDR, port, tls=False, request_timeout=20.0)
        t0 = time.monotonic()
        resp = await t.request("GET", "/", max_body=SEND_CAP, consumer=Recorder(stop_at=100_000))
        elapsed = time.monotonic() - t0
        for _ in range(100):  # the server notices the closed connection at its next writes
            if sent.broken:
                break
            await asyncio.sleep(0.05)
    assert resp.truncated and len(resp.body) == 2 * FEED_PIECE
    assert resp.received < 100_000 + 3 * 65536
    assert sent.broken == 1 and sent.bytes < SEND_CAP // 8
    assert elapsed < 5


async def test_consumer_of_a_slow_drip_gets_what_arrived(dialer: Dialer) -> None:
    async with serve({"/": drip}) as (port, _):
        t = HttpTarget(dialer, ADDR, port, tls=False)
        rec = Recorder()
        resp = await t.request("GET", "/", timeout=0.5, consumer=rec)
    assert resp.truncated and resp.body == rec.data and 1 <= len(resp.body) <= 10
    assert set(resp.body) == {ord("<")}


async def test_no_body_no_consumer(dialer: Dialer) -> None:
    async def empty(w: asyncio.StreamWriter, sent: Sent) -> None:
        w.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await w.drain()

    async with serve({"/": sized(BODY), "/e": empty}) as (port, _):
        t = HttpTarget(dialer, ADDR, port, tls=False, cache=ResponseCache())
        rec = Recorder()
        await t.request("HEAD", "/", consumer=rec)
        await t.request("GET", "/e", consumer=rec)
        await t.request("HEAD", "/", consumer=rec)  # from the cache
        assert rec.heads == [] and t.cached == 1


async def test_a_cut_body_is_cached_as_cut(dialer: Dialer) -> None:
    async with serve({"/": sized(BODY)}) as (port, sent):
        cache = ResponseCache()
        t = HttpTarget(dialer, ADDR, port, tls=False, cache=cache)
        cut = await t.request("GET", "/", consumer=Recorder(stop_at=20_000))
        n = len(cut.body)
        assert cut.truncated and n < len(BODY) and sent.requests == ["GET /"]
        # a request reading no further than that is answered from the cache ...
        small = await t.request("GET", "/", max_body=n)
        assert small.body == cut.body and sent.requests == ["GET /"]
        # ... one allowed more asks again, and its whole answer replaces the cut one
        whole = await t.request("GET", "/")
        assert whole.body == BODY and not whole.truncated and len(sent.requests) == 2
        again = await t.request("GET", "/")
        assert again.body == BODY and len(sent.requests) == 2


async def test_a_cached_answer_is_fed_to_the_consumer(dialer: Dialer) -> None:
    async with serve({"/": sized(BODY)}) as (port, sent):
        cache = ResponseCache()
        t = HttpTarget(dialer, ADDR, port, tls=False, cache=cache)
        await t.request("GET", "/")
        rec = Recorder()
        whole = await t.request("GET", "/", consumer=rec)
        assert rec.data == whole.body == BODY and not whole.truncated
        assert [len(p) for p in rec.pieces] == [65536, len(BODY) - 65536]
        stop = Recorder(stop_at=10)
        cut = await t.request("GET", "/", consumer=stop)
        # cut after the piece it stopped in, as a connection read in pieces of 64 KiB would be
        assert cut.body == stop.data == BODY[:65536] and cut.truncated
        last = Recorder(stop_at=len(BODY))
        full = await t.request("GET", "/", consumer=last)
        assert full.body == BODY and not full.truncated
    assert sent.requests == ["GET /"]
    assert cache.get(next(iter(cache._entries)), len(BODY)) is not None  # the whole one stays


@pytest.mark.parametrize("framing", [sized, chunked, until_eof], ids=["sized", "chunked", "eof"])
async def test_listing_stream_reads_a_big_page_to_its_entry_bound(
    dialer: Dialer, framing: Framing
) -> None:
    page = nginx_autoindex(100_000)
    async with serve({"/": framing(page)}) as (port, _):
        t = HttpTarget(dialer, ADDR, port, tls=False, max_body=2 * 1024 * 1024)
        stream: list[ListingStream] = []

        def consumer(resp: HttpResponse) -> ListingStream:
            stream.append(ListingStream(content_type=resp.content_type, max_entries=2000))
            return stream[0]

        resp = await t.request("GET", "/", consumer=consumer)
        got = stream[0].close()
    want = parse_listing(page[: 2 * 1024 * 1024], max_entries=2000)
    assert got == want and got is not None and got.family == "nginx" and got.truncated
    assert resp.truncated and stream[0].fed == len(resp.body)
    # 2,064 rows of ~110 bytes and a parser block of 32,768 characters, not 2 MiB
    assert len(resp.body) < 400_000 and resp.received < 400_000
