"""For the ``--sample-bytes`` tests of the HTTP and S3 probes: an in-process HTTP server on
loopback that logs every request (path, method, headers) and serves endless, Range-ignoring
bodies bounded in count and time; and a dialer that records the head of every request sent."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from scanner.dialer import Connection, Dialer
from scanner.probe import ListingBounds, ProbeContext

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
WAV_HEAD = b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00"
GZ_HEAD = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
SERVER_BOUND = 2048  # writes of 64 KiB: a server never sends more than 128 MiB
SERVER_SECONDS = 10.0


def stream(first: bytes, n: int) -> bytes:
    """The first ``n`` bytes of an endless body that starts with ``first``."""
    pattern = first + bytes(range(256))
    return (pattern * (n // len(pattern) + 1))[:n]


@dataclass
class Req:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Log:
    requests: list[Req] = field(default_factory=list)
    closed_early: dict[str, float] = field(default_factory=dict)
    """path -> seconds from the request until the client's close was noticed mid-body."""
    sent: dict[str, int] = field(default_factory=dict)

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    def ranged(self) -> list[Req]:
        return [r for r in self.requests if "range" in r.headers]


Handler = Callable[[Req, asyncio.StreamWriter, Log], Awaitable[None]]


async def _read_request(r: asyncio.StreamReader) -> Req | None:
    first = await asyncio.wait_for(r.read(1), 5)
    if not first or first == b"\x16":  # a TLS ClientHello: this server speaks plain HTTP only
        return None
    head = (first + await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)).decode("latin-1")
    lines = head.split("\r\n")
    method, path = lines[0].split(" ", 2)[:2]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        await asyncio.wait_for(r.readexactly(min(length, 65536)), 5)
    return Req(method, path, headers)


@contextlib.asynccontextmanager
async def serve(addr: str, handler: Handler) -> AsyncIterator[tuple[int, Log]]:
    log = Log()
    tasks: set[asyncio.Task[None]] = set()

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        t = asyncio.current_task()
        assert t is not None
        tasks.add(t)
        try:
            req = await _read_request(r)
            if req is not None:
                log.requests.append(req)
                await handler(req, w, log)
                await asyncio.wait_for(w.drain(), 5)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            tasks.discard(t)
            w.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(w.wait_closed(), 1)

    server = await asyncio.start_server(on_conn, addr, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, log
    finally:
        server.close()
        for t in list(tasks):
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def respond(w: asyncio.StreamWriter, status: str, body: bytes, ctype: str = "text/html",
            extra: str = "") -> None:  # fmt: skip
    w.write(
        f"HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Type: {ctype}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


async def endless(w: asyncio.StreamWriter, log: Log, path: str, first: bytes, framing: str) -> None:
    """200 OK whatever Range said, then a body that never ends (bounded in count and time)."""
    head = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\n"
    if framing == "length":
        head += "Content-Length: 10000000000\r\n"  # a 10 GB lie
    elif framing == "chunked":
        head += "Transfer-Encoding: chunked\r\n"
    w.write((head + "\r\n").encode())
    data = stream(first, 65536 * 2)
    started = time.monotonic()
    sent = 0
    try:
        for i in range(SERVER_BOUND):
            piece = data[(i % 2) * 65536 : (i % 2 + 1) * 65536]
            if i == 0:
                piece = data[:65536]
            w.write(b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece)
            await asyncio.wait_for(w.drain(), 5)
            sent += len(piece)
            if time.monotonic() - started > SERVER_SECONDS:
                break
    except (ConnectionError, TimeoutError):
        log.closed_early[path] = time.monotonic() - started
    finally:
        log.sent[path] = sent


PN_NAME = "19790312-2391_0701234567_20190314T101500.wav"
BOUNDS = ListingBounds(depth=2, entries=200, bytes=1024 * 1024, requests=40)


class RecordingDialer(Dialer):
    """A loopback dialer that keeps the first line and headers of every request sent."""

    def __init__(self) -> None:
        super().__init__(LOOPBACK, concurrency=64, per_host=8, connect_timeout=2.0,
                         read_timeout=3.0)  # fmt: skip
        self.sent: list[Req] = []

    @contextlib.asynccontextmanager
    async def tcp(self, host: str, port: int, **kw: Any) -> AsyncIterator[Connection]:
        async with super().tcp(host, port, **kw) as conn:
            send = conn.send

            async def recording_send(data: bytes) -> None:
                head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                if head and " HTTP/1." in head[0]:
                    method, path = head[0].split(" ", 2)[:2]
                    hdrs = {}
                    for line in head[1:]:
                        k, _, v = line.partition(":")
                        hdrs[k.strip().lower()] = v.strip()
                    self.sent.append(Req(method, path, hdrs))
                await send(data)

            conn.send = recording_send  # type: ignore[method-assign]
            yield conn


@pytest.fixture
async def rec_dialer() -> AsyncIterator[RecordingDialer]:
    d = RecordingDialer()
    yield d
    d.shutdown()


def _lab_ctx(d: Dialer, **kw: Any) -> ProbeContext:
    return ProbeContext(dialer=d, timeout=30.0, **kw)


def _is_file_request(r: Req) -> bool:
    path = unquote(urlsplit(r.path).path)
    return r.method == "GET" and not path.endswith("/")
