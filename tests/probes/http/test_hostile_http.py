"""Hostile HTTP servers (in-process, on 127.0.66.x): an endless listing, a huge page, a redirect
loop and a slow drip. The HTTP probe must end within its timeout, inside its bounds, with
bounded memory, and report nothing it did not see."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import subprocess
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import probes.http as http_probe
from probes.http import PROBE
from scanner.models import Kind, ProbeResult, ServiceInfo
from scanner.probe import ListingBounds, ProbeContext
from scanner.protocols.http_client import HttpError, HttpTarget, parse_head

Handler = Callable[[str, str, asyncio.StreamWriter], Awaitable[None]]
TIMEOUT = 6.0


async def _serve_one(handler: Handler, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        first = await asyncio.wait_for(r.read(1), 5)
        if not first or first == b"\x16":  # a TLS ClientHello: not spoken here
            return
        head = first + await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        method, path = head.decode("latin-1").split(" ", 2)[:2]
        await handler(method, path, w)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        pass
    finally:
        w.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(w.wait_closed(), 1)


@contextlib.asynccontextmanager
async def serve(addr: str, handler: Handler) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        t = asyncio.current_task()
        assert t is not None
        tasks.add(t)
        try:
            await _serve_one(handler, r, w)
        finally:
            tasks.discard(t)

    server = await asyncio.start_server(on_conn, addr, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for t in list(tasks):
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _listing_page(path: str, n: int) -> bytes:
    rows = "".join(
        f'<a href="d{i}/">d{i}/</a>      14-Mar-2019 10:15       -\n'
        f'<a href="f{i}.wav">f{i}.wav</a>     14-Mar-2019 10:15    1234\n'
        for i in range(n)
    )
    return (
        f"<html><head><title>Index of {path}</title></head><body><h1>Index of {path}</h1>"
        f'<hr><pre><a href="../">../</a>\n{rows}</pre><hr></body></html>'
    ).encode()


async def endless(method: str, path: str, w: asyncio.StreamWriter) -> None:
    if method != "GET" or "nasscan-" in path:
        w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return
    body = _listing_page(path, 150)
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body))
    w.write(body)
    await w.drain()


async def huge(method: str, path: str, w: asyncio.StreamWriter, server: bytes = b"") -> None:
    w.write(b"HTTP/1.1 200 OK\r\n%sContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
            % server)  # fmt: skip
    # nginx-shaped (parent link first): a page known by structure alone would need a confirming
    # request, and this server answers every path with the same endless page
    head = (
        b"<html><head><title>Index of /</title></head><body><h1>Index of /</h1><hr><pre>"
        b'<a href="../">../</a>\n'
    )
    w.write(b"%x\r\n%s\r\n" % (len(head), head))
    for i in itertools.count():
        row = b'<a href="f%d.wav">f%d.wav</a>   14-Mar-2019 10:15   1234\n' % (i, i)
        chunk = row * 200
        w.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await w.drain()


async def redirect_loop(method: str, path: str, w: asyncio.StreamWriter) -> None:
    target = "/b/" if path.startswith("/a/") else "/a/"
    w.write(f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode())


async def slow_drip(method: str, path: str, w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n")
    await w.drain()
    for _ in range(10_000):
        w.write(b"<")
        await w.drain()
        await asyncio.sleep(0.2)


async def slow_headers(method: str, path: str, w: asyncio.StreamWriter) -> None:
    for b in b"HTTP/1.1 200 OK\r\nX-Drip: " + b"a" * 10_000:
        w.write(bytes([b]))
        await w.drain()
        await asyncio.sleep(0.1)


async def _probe(
    make_ctx: Callable[..., ProbeContext], addr: str, handler: Handler, bounds: ListingBounds
) -> tuple[ProbeResult, float, int]:
    async with serve(addr, handler) as port:
        ctx = make_ctx(bounds=bounds, timeout=TIMEOUT)
        tracemalloc.start()
        t0 = time.monotonic()
        try:
            result = await asyncio.wait_for(
                PROBE.run(ServiceInfo(host=addr, port=port), ctx), TIMEOUT + 5
            )
        finally:
            elapsed = time.monotonic() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    return result, elapsed, peak


BOUNDS = ListingBounds(depth=4, entries=500, bytes=1024 * 1024, requests=30)


async def test_endless_listing_stops_at_bounds(make_ctx: Callable[..., ProbeContext]) -> None:
    result, elapsed, peak = await _probe(make_ctx, "127.0.66.1", endless, BOUNDS)
    assert elapsed < TIMEOUT
    found = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert 1 <= len(found) <= BOUNDS.resources
    assert found[0].resource == "/"
    for f in found:
        assert f.listing is not None and f.listing.truncated
        assert len(f.listing.entries) <= BOUNDS.entries
    # one budget for discovery plus one per listing root (bounds are per resource)
    assert result.info["requests"] <= BOUNDS.requests * (1 + len(found))
    assert peak < 64 * 1024 * 1024


async def test_huge_page_is_cut_at_the_byte_bound(make_ctx: Callable[..., ProbeContext]) -> None:
    result, elapsed, peak = await _probe(make_ctx, "127.0.66.2", huge, BOUNDS)
    assert elapsed < TIMEOUT
    assert result.info["bytes"] <= 2 * BOUNDS.bytes
    (f,) = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.listing is not None and f.listing.truncated
    assert len(f.listing.entries) <= BOUNDS.entries
    assert peak < 64 * 1024 * 1024


async def huge_root(method: str, path: str, w: asyncio.StreamWriter) -> None:
    if method == "GET" and path == "/":
        await huge(method, path, w, b"Server: nginx\r\n")
    else:
        w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "buffered"])
async def test_huge_listing_page_is_read_to_its_entry_bound(
    make_ctx: Callable[..., ProbeContext], monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """Parsed as it streams (issue 20), an endless listing page is read until its entry bound
    is passed (564 anchors: each chunk repeats one row 200 times, so three names), not until
    the byte bound; the listing is the same."""
    monkeypatch.setattr(http_probe, "STREAM_LISTINGS", stream)
    result, elapsed, _ = await _probe(make_ctx, "127.0.66.10", huge_root, BOUNDS)
    assert elapsed < TIMEOUT
    (f,) = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.listing is not None and f.listing.truncated
    assert [e.path for e in f.listing.entries] == ["/f0.wav", "/f1.wav", "/f2.wav"]
    if stream:  # 564 rows of 46 bytes, then at least 2 x 64 KiB (the soft-404 comparison's)
        assert 128 * 1024 <= result.info["bytes"] < 300_000
    else:
        assert result.info["bytes"] >= BOUNDS.bytes and f.listing.stopped_by == "bytes"


async def test_redirect_loop_ends(make_ctx: Callable[..., ProbeContext]) -> None:
    result, elapsed, _ = await _probe(make_ctx, "127.0.66.3", redirect_loop, BOUNDS)
    assert elapsed < TIMEOUT
    assert not [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert result.info["requests"] <= BOUNDS.requests


@pytest.mark.parametrize("handler", [slow_drip, slow_headers], ids=["body", "headers"])
async def test_slow_drip_ends_within_timeout(
    make_ctx: Callable[..., ProbeContext], handler: Handler
) -> None:
    result, elapsed, _ = await _probe(make_ctx, "127.0.66.4", handler, BOUNDS)
    assert elapsed < TIMEOUT
    assert not [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]


# -- in-process servers for behaviour that the lab does not cover ------------------------------


async def catch_all_listing(method: str, path: str, w: asyncio.StreamWriter) -> None:
    """Soft-404: the same listing-looking page for every path, random ones included."""
    body = _listing_page("/", 3)
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body))
    w.write(body)


async def test_soft404_listing_lookalike_is_not_reported(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    result, _, _ = await _probe(make_ctx, "127.0.66.5", catch_all_listing, BOUNDS)
    assert result.info["soft404"] is True
    assert not [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]


def _redirecting(location: str) -> Handler:
    async def handler(method: str, path: str, w: asyncio.StreamWriter) -> None:
        if path == "/":
            w.write(
                f"HTTP/1.1 301 Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
            )
        elif path.startswith("/files/") and method == "GET" and path.count("/") < 3:
            await endless(method, path, w)
        else:
            w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    return handler


async def test_same_host_redirect_is_followed(make_ctx: Callable[..., ProbeContext]) -> None:
    result, _, _ = await _probe(make_ctx, "127.0.66.6", _redirecting("/files/"), BOUNDS)
    found = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert [f.resource for f in found] == ["/files/"]
    assert found[0].listing is not None
    # entry paths are absolute from the resource root (/files/)
    assert any(e.path == "/f0.wav" for e in found[0].listing.entries)


async def test_other_host_redirect_is_not_followed(make_ctx: Callable[..., ProbeContext]) -> None:
    # /files/ is still found through the built-in path list, but never via the other host
    result, _, _ = await _probe(
        make_ctx, "127.0.66.7", _redirecting("http://127.0.66.99/files/"), BOUNDS
    )
    assert [f.resource for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS] == [
        "/files/"
    ]
    assert all("127.0.66.99" not in str(f.evidence) for f in result.findings)


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=nasscan-test", "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "c.pem", d / "k.pem")
    return ctx


async def test_listing_over_tls_is_unauthenticated_but_not_cleartext(
    make_ctx: Callable[..., ProbeContext], tls_context: ssl.SSLContext
) -> None:
    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            method, path = head.decode("latin-1").split(" ", 2)[:2]
            if path.count("/") < 3:
                await endless(method, path, w)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(on_conn, "127.0.66.8", 0, ssl=tls_context)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await PROBE.run(
            ServiceInfo(host="127.0.66.8", port=port), make_ctx(bounds=BOUNDS, timeout=TIMEOUT)
        )
    finally:
        server.close()
    assert result.tls is True and result.protocol == "https"
    found = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert found and found[0].resource == "/"
    f = found[0]
    assert f.encryption.value == "required" and f.evidence["url"].startswith("https://")
    assert not [f for f in result.findings if f.kind == Kind.CLEARTEXT_TRANSPORT]


# -- the small HTTP client on its own ----------------------------------------------------------


def test_parse_head_accepts_http_and_rejects_the_rest() -> None:
    version, status, reason, headers = parse_head(
        b"HTTP/1.1 207 Multi-Status\r\nDAV: 1\r\nContent-Type: text/xml\r\n\r\n"
    )
    assert (version, status, reason) == ("HTTP/1.1", 207, "Multi-Status")
    assert headers == [("dav", "1"), ("content-type", "text/xml")]
    for bad in (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", b"@RSYNCD: 32.0\n\n", b"HTTP/2 200\r\n\r\n"):
        with pytest.raises(HttpError):
            parse_head(bad)


async def chunked_and_sized(method: str, path: str, w: asyncio.StreamWriter) -> None:
    if path == "/chunked":
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        w.write(b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n")
    elif path == "/sized":
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
    else:
        w.write(b"HTTP/1.0 200 OK\r\n\r\nuntil-eof")
    await w.drain()


async def test_client_bodies_and_limits(make_ctx: Callable[..., ProbeContext]) -> None:
    async with serve("127.0.66.9", chunked_and_sized) as port:
        t = HttpTarget(make_ctx().dialer, "127.0.66.9", port, tls=False)
        r = await t.request("GET", "/chunked")
        assert (r.status, r.body, r.truncated) == (200, b"hello world", False)
        r = await t.request("GET", "/sized", max_body=4)
        assert (r.body, r.truncated) == (b"0123", True)
        r = await t.request("GET", "/eof")
        assert (r.version, r.body) == ("HTTP/1.0", b"until-eof")
        assert t.requests == 3
        with pytest.raises(ValueError):
            await t.request("GET", "/x\r\nHost: evil")
        with pytest.raises(ValueError):
            await t.request("GET", "/", headers={"X": "a\r\nInjected: 1"})


async def test_client_refuses_out_of_scope(make_ctx: Callable[..., ProbeContext]) -> None:
    from scanner.dialer import OutOfScopeError

    t = HttpTarget(make_ctx().dialer, "192.0.2.1", 80, tls=False)
    with pytest.raises(OutOfScopeError):
        await t.request("GET", "/")
