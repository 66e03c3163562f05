"""Hostile FTP servers started in-process on 127.0.77.x: the probe must end in protocol-error
or timeout within its budget, with bounded memory, and never follow a server somewhere else
(the 227 address)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hostile_servers import BUDGET, MEMORY_BOUND, SEND_CAP, endless, probe, serve

from probes.ftp import PROBE as FTP
from scanner.models import Kind, ServiceInfo, Status
from scanner.probe import ListingBounds, ProbeContext


# -- FTP ------------------------------------------------------------------------------------------
async def test_ftp_huge_banner(make_ctx: Callable[..., ProbeContext]) -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"220-")
        await endless(w, b"A" * 65536)

    async with serve("127.0.77.1", h) as port:
        result, elapsed, peak = await probe(FTP, "127.0.77.1", port, make_ctx)
    assert result.status is Status.PROTOCOL_ERROR, result.detail
    assert elapsed < BUDGET and peak < MEMORY_BOUND


async def test_ftp_endless_multiline_greeting(make_ctx: Callable[..., ProbeContext]) -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await endless(w, b"220-welcome to the endless banner\r\n" * 100)

    async with serve("127.0.77.2", h) as port:
        result, elapsed, peak = await probe(FTP, "127.0.77.2", port, make_ctx)
    assert result.status is Status.PROTOCOL_ERROR
    assert elapsed < BUDGET and peak < MEMORY_BOUND


async def test_ftp_garbage(make_ctx: Callable[..., ProbeContext]) -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"\x00\xff\x13garbage that is no FTP reply\r\n")
        await w.drain()
        await r.read(100)

    async with serve("127.0.77.3", h) as port:
        result, elapsed, _ = await probe(FTP, "127.0.77.3", port, make_ctx)
    assert result.status is Status.PROTOCOL_ERROR and result.findings == []
    assert elapsed < BUDGET


async def test_ftp_stalls_mid_reply(make_ctx: Callable[..., ProbeContext]) -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"220-Welcome\r\n220 almost don")
        await w.drain()
        await asyncio.sleep(60)

    async with serve("127.0.77.4", h) as port:
        result, elapsed, _ = await probe(FTP, "127.0.77.4", port, make_ctx)
    assert result.status is Status.TIMEOUT
    assert elapsed < BUDGET + 1


class FakeFtp:
    """A tiny anonymous FTP server for the data-channel cases (real sockets, real protocol)."""

    def __init__(self, host: str, data: Callable[[asyncio.StreamWriter], Awaitable[None]],
                 pasv_host: str = "10,1,2,3") -> None:  # fmt: skip
        self.host = host
        self.data = data
        self.pasv_host = pasv_host
        self.data_connections = 0

    async def control(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"220 hostile ftp\r\n")
        pending: asyncio.Future[asyncio.StreamWriter] | None = None
        data_server: asyncio.Server | None = None
        try:
            for _ in range(100):
                line = await r.readline()
                if not line:
                    return
                cmd = line.decode().strip().split(" ", 1)[0].upper()
                if cmd == "USER":
                    w.write(b"230 Login successful.\r\n")
                elif cmd == "EPSV":
                    w.write(b"500 EPSV not understood.\r\n")
                elif cmd == "PASV":
                    loop = asyncio.get_running_loop()
                    pending = loop.create_future()

                    async def on_data(
                        dr: asyncio.StreamReader,
                        dw: asyncio.StreamWriter,
                        fut: asyncio.Future[asyncio.StreamWriter] = pending,
                    ) -> None:
                        self.data_connections += 1
                        if not fut.done():
                            fut.set_result(dw)

                    data_server = await asyncio.start_server(on_data, self.host, 0)
                    p = data_server.sockets[0].getsockname()[1]
                    # the advertised address is NOT ours: a correct client ignores it
                    w.write(f"227 Entering Passive Mode ({self.pasv_host},{p >> 8},{p & 255}).\r\n"
                            .encode())  # fmt: skip
                elif cmd in ("LIST", "MLSD") and pending is not None:
                    w.write(b"150 Here comes the directory listing.\r\n")
                    await w.drain()
                    dw = await asyncio.wait_for(pending, 5)
                    try:
                        await self.data(dw)
                    except (OSError, asyncio.CancelledError):
                        pass
                    finally:
                        dw.close()
                    w.write(b"226 Directory send OK.\r\n")
                elif cmd == "QUIT":
                    w.write(b"221 Goodbye.\r\n")
                    return
                elif cmd == "AUTH":
                    w.write(b"530 Please login with USER and PASS.\r\n")
                else:
                    w.write(b"200 OK.\r\n")
                await w.drain()
        finally:
            if data_server is not None:
                data_server.close()


async def test_ftp_endless_listing_is_bounded(make_ctx: Callable[..., ProbeContext]) -> None:
    async def data(w: asyncio.StreamWriter) -> None:
        i = 0
        sent = 0
        while sent < SEND_CAP:
            block = b"".join(
                b"-rw-r--r--   1 ftp ftp 1234 Mar 14  2019 file%07d.wav\r\n" % (i + k)
                for k in range(500)
            )
            i += 500
            w.write(block)
            await w.drain()
            sent += len(block)

    fake = FakeFtp("127.0.77.5", data)
    async with serve("127.0.77.5", fake.control) as port:
        result, elapsed, peak = await probe(
            FTP, "127.0.77.5", port, make_ctx, bounds=ListingBounds(entries=1000)
        )
    assert result.status is Status.SUCCESS, result.detail
    anon = next(f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert anon.listing is not None and anon.listing.truncated
    assert len(anon.listing.entries) == 1000
    assert elapsed < BUDGET and peak < MEMORY_BOUND
    # the 227 said 10.1.2.3: the probe connected to the host it dialed instead
    assert fake.data_connections >= 1


async def test_ftp_endless_listing_line(make_ctx: Callable[..., ProbeContext]) -> None:
    async def data(w: asyncio.StreamWriter) -> None:
        await endless(w, b"x" * 65536)

    fake = FakeFtp("127.0.77.6", data)
    async with serve("127.0.77.6", fake.control) as port:
        result, elapsed, peak = await probe(FTP, "127.0.77.6", port, make_ctx)
    assert result.status is Status.PROTOCOL_ERROR
    assert elapsed < BUDGET and peak < MEMORY_BOUND
    # the anonymous login was proven before the listing broke: still reported, without listing,
    # and the encryption checks still ran
    by_kind = {f.kind: f for f in result.findings}
    assert set(by_kind) == {Kind.UNAUTHENTICATED_ACCESS, Kind.CLEARTEXT_TRANSPORT}
    assert by_kind[Kind.UNAUTHENTICATED_ACCESS].listing is None


async def test_ftp_stalled_data_connection(make_ctx: Callable[..., ProbeContext]) -> None:
    async def data(w: asyncio.StreamWriter) -> None:
        w.write(b"-rw-r--r--   1 ftp ftp 1 Mar 14  2019 a")
        await w.drain()
        await asyncio.sleep(60)

    fake = FakeFtp("127.0.77.7", data)
    async with serve("127.0.77.7", fake.control) as port:
        result, elapsed, _ = await probe(FTP, "127.0.77.7", port, make_ctx)
    assert result.status is Status.TIMEOUT
    assert elapsed < BUDGET + 1
    by_kind = {f.kind: f for f in result.findings}
    assert set(by_kind) == {Kind.UNAUTHENTICATED_ACCESS, Kind.CLEARTEXT_TRANSPORT}
    anon = by_kind[Kind.UNAUTHENTICATED_ACCESS]
    assert anon.listing is None and anon.evidence["user_reply"] == 230


async def test_ftp_pasv_address_out_of_scope_is_ignored(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    async def data(w: asyncio.StreamWriter) -> None:
        w.write(b"drwxr-xr-x 2 0 0 4096 Mar 14  2019 2019\r\n-rw-r--r-- 1 0 0 5 Mar 14  2019 a\r\n")
        await w.drain()

    fake = FakeFtp("127.0.77.8", data, pasv_host="192,0,2,1")
    async with serve("127.0.77.8", fake.control) as port:
        ctx = make_ctx(timeout=BUDGET, bounds=ListingBounds(depth=1))
        result = await FTP.run(ServiceInfo(host="127.0.77.8", port=port), ctx)
    assert result.status is Status.SUCCESS
    assert ctx.dialer.refused_out_of_scope == 0  # it never even tried 192.0.2.1
    anon = next(f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert anon.listing is not None
    # paths are absolute from the login directory
    assert {e.path for e in anon.listing.entries} == {"/2019", "/a"}
