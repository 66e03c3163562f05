"""Catch-all servers: a server that accepts any name gets no finding for a guessed name.

In-process hostile servers on loopback (rsync, TFTP, S3) answer "yes" to every module, file or
bucket name; their twins accept only one real name, which must still be found by guessing, so
each test can fail both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from probes.rsync import PROBE as RSYNC
from probes.s3 import PROBE as S3
from probes.tftp import PROBE as TFTP
from scanner.catchall import CatchAllCheck, ask_random
from scanner.models import Kind, ProbeResult, ServiceInfo, Transport
from scanner.probe import ProbeContext

HOST = "127.0.59.1"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def tcp_server(handler: Handler) -> AsyncIterator[int]:
    async def wrapped(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(handler(r, w), 10)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(wrapped, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


async def run(probe: Any, port: int, ctx: ProbeContext, transport: Transport = Transport.TCP,
              greeting: bytes = b"") -> ProbeResult:
    service = ServiceInfo(host=HOST, port=port, transport=transport, greeting=greeting)
    result: ProbeResult = await asyncio.wait_for(probe.run(service, ctx), 30)
    return result


def unauth_resources(result: ProbeResult) -> set[str]:
    return {f.resource or "" for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS}


# -- the helper ------------------------------------------------------------------------------


async def test_ask_random_and_guesses() -> None:
    asked: list[str] = []

    async def yes(name: str) -> bool:
        asked.append(name)
        return True

    check = await ask_random(yes)
    assert check.accepted and asked == [check.name] and check.name.startswith("nasscan-")
    assert check.guesses(["a", "b"], ["a"]) == []
    assert check.evidence()["accepts_any_name"] is True

    async def broken(name: str) -> bool:
        raise OSError("reset")

    check = await ask_random(broken, errors=(OSError,))
    assert not check.accepted and check.guesses(["a", "b"], ["a"]) == ["b"]
    assert check.evidence() == {}
    assert CatchAllCheck("x", False).guesses(["x"]) == ["x"]


# -- rsync -----------------------------------------------------------------------------------


def rsync_handler(accepts: Callable[[str], bool], listed: tuple[str, ...] = ()) -> Handler:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"@RSYNCD: 31.0\n")
        await w.drain()
        await r.readline()  # client version
        module = (await r.readline()).decode().strip()
        if module == "#list":
            w.write(b"".join(f"{m}\tlisted module\n".encode() for m in listed))
            w.write(b"@RSYNCD: EXIT\n")
        elif accepts(module):
            w.write(b"@RSYNCD: OK\n")
        else:
            w.write(f"@ERROR: Unknown module '{module}'\n".encode())
        await w.drain()

    return handle


async def test_rsync_catch_all_has_no_guessed_module(make_ctx: Callable[..., ProbeContext]
                                                     ) -> None:
    async with tcp_server(rsync_handler(lambda m: True, listed=("real",))) as port:
        result = await run(RSYNC, port, make_ctx(timeout=20))
    assert unauth_resources(result) == {"real"}  # listed: still reported, guesses are not
    real = next(f for f in result.findings if f.resource == "real")
    assert real.evidence["accepts_any_name"] is True
    clear = next(f for f in result.findings if f.kind == Kind.CLEARTEXT_TRANSPORT)
    assert "accepts any name" in clear.evidence["catch_all"]


async def test_rsync_twin_guessed_module_still_found(make_ctx: Callable[..., ProbeContext]
                                                     ) -> None:
    async with tcp_server(rsync_handler(lambda m: m in ("real", "backup"), ("real",))) as port:
        result = await run(RSYNC, port, make_ctx(timeout=20))
    assert unauth_resources(result) == {"real", "backup"}
    assert all("accepts_any_name" not in f.evidence for f in result.findings)


# -- TFTP ------------------------------------------------------------------------------------


class _Tftp(asyncio.DatagramProtocol):
    def __init__(self, accepts: Callable[[str], bool]) -> None:
        self.accepts = accepts
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if data[:2] != b"\x00\x01":
            return  # the client's abort (ERROR) and anything else
        name = data[2:].split(b"\0", 1)[0].decode(errors="replace")
        if self.accepts(name):
            self.transport.sendto(b"\x00\x03\x00\x01" + b"hostname router\n", addr)
        else:
            self.transport.sendto(b"\x00\x05\x00\x01File not found\0", addr)


@contextlib.asynccontextmanager
async def tftp_server(accepts: Callable[[str], bool]) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Tftp(accepts),
                                                       local_addr=(HOST, 0))
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def _tftp_files(result: ProbeResult) -> list[str]:
    unauth = next(f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS)
    return [f["name"] for f in unauth.evidence["files"]]


async def test_tftp_catch_all_has_no_guessed_file(make_ctx: Callable[..., ProbeContext]) -> None:
    async with tftp_server(lambda n: True) as port:
        result = await run(TFTP, port, make_ctx(timeout=20), Transport.UDP)
    assert _tftp_files(result) == []
    unauth = next(f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS)
    assert unauth.evidence["accepts_any_name"] is True
    assert unauth.listing is not None and unauth.listing.entries == []


async def test_tftp_twin_guessed_file_still_found(make_ctx: Callable[..., ProbeContext]) -> None:
    async with tftp_server(lambda n: n == "startup-config") as port:
        result = await run(TFTP, port, make_ctx(timeout=20), Transport.UDP)
    assert _tftp_files(result) == ["startup-config"]
    assert all("accepts_any_name" not in f.evidence for f in result.findings)


# -- S3 --------------------------------------------------------------------------------------

_BUCKETS = b"<ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>"


def _objects(bucket: str) -> bytes:
    return (f"<ListBucketResult><Name>{bucket}</Name><IsTruncated>false</IsTruncated>"
            "<Contents><Key>a.txt</Key><Size>3</Size></Contents></ListBucketResult>").encode()


_NO_BUCKET = b"<Error><Code>NoSuchBucket</Code><Message>no</Message></Error>"


def s3_handler(accepts: Callable[[str], bool]) -> Handler:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        request = await r.readline()
        while (await r.readline()).strip():
            pass
        path = request.split()[1].decode()
        bucket = path.split("?", 1)[0].strip("/")
        if not bucket:
            status, body = "200 OK", _BUCKETS
        elif accepts(bucket):
            status, body = "200 OK", _objects(bucket)
        else:
            status, body = "404 Not Found", _NO_BUCKET
        w.write(f"HTTP/1.1 {status}\r\nServer: AmazonS3\r\nx-amz-request-id: 1\r\n"
                f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode() + body)
        await w.drain()

    return handle


async def test_s3_catch_all_has_no_guessed_bucket(make_ctx: Callable[..., ProbeContext]) -> None:
    async with tcp_server(s3_handler(lambda b: True)) as port:
        result = await run(S3, port, make_ctx(timeout=20))
    assert unauth_resources(result) == set()
    assert result.info["accepts_any_name"] is True


async def test_s3_twin_guessed_bucket_still_found(make_ctx: Callable[..., ProbeContext]) -> None:
    async with tcp_server(s3_handler(lambda b: b == "backup")) as port:
        result = await run(S3, port, make_ctx(timeout=20))
    assert unauth_resources(result) == {"backup"}
    assert "accepts_any_name" not in result.info


# -- HTTP: a server that lists any path --------------------------------------------------------


def _index(path: str) -> bytes:
    rows = "".join(f'<a href="{n}">{n}</a>  01-Jan-2024 10:00  {i * 100 + 5}\n'
                   for i, n in enumerate(("a.wav", "b.wav", f"{len(path)}.txt")))
    return (f"<html><head><title>Index of {path}</title></head><body><h1>Index of {path}</h1>"
            f'<hr><pre><a href="../">../</a>\n{rows}</pre><hr></body></html>').encode()


def http_handler(lists: Callable[[str], bool]) -> Handler:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        request = await r.readline()
        while (await r.readline()).strip():
            pass
        path = request.split()[1].decode("latin-1").split("?", 1)[0]
        if lists(path) and path.endswith("/"):
            status, body = "200 OK", _index(path)
        else:
            status, body = "404 Not Found", b"<html><body>not found</body></html>"
        w.write(f"HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await w.drain()

    return handle


async def test_http_server_listing_any_path_has_no_guessed_path(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    from probes.http import PROBE as HTTP

    async with tcp_server(http_handler(lambda p: True)) as port:
        result = await run(HTTP, port, make_ctx(timeout=20))
    assert unauth_resources(result) == {"/"}  # "/" is not a guess
    root = next(f for f in result.findings if f.resource == "/")
    assert root.evidence["accepts_any_name"] is True


async def test_http_twin_guessed_path_still_found(make_ctx: Callable[..., ProbeContext]) -> None:
    from probes.http import PROBE as HTTP

    # "/" does not list (a listing root's crawl would cover /backup/ and no path under it is
    # examined on its own): the guessed /backup/ is found, and no catch-all is claimed
    async with tcp_server(http_handler(lambda p: p == "/backup/")) as port:
        result = await run(HTTP, port, make_ctx(timeout=20))
    assert unauth_resources(result) == {"/backup/"}
    assert all("accepts_any_name" not in f.evidence for f in result.findings)
