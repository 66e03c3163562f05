"""Hostile SMB servers started in-process on 127.0.77.x: the probe must end in protocol-error,
timeout or refused within its budget, with bounded memory, and claim no access it did not get."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hostile_servers import BUDGET, MEMORY_BOUND, endless, probe, serve
from repo_paths import CAPTURES

from probes.smb import PROBE as SMB
from scanner.models import Kind, Status
from scanner.probe import ProbeContext


# -- SMB ------------------------------------------------------------------------------------------
async def test_smb_garbage(make_ctx: Callable[..., ProbeContext]) -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(4096)
        w.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await w.drain()

    async with serve("127.0.77.21", h) as port:
        result, elapsed, _ = await probe(SMB, "127.0.77.21", port, make_ctx)
    assert result.status is Status.PROTOCOL_ERROR and result.findings == []
    assert elapsed < BUDGET


async def test_smb_huge_frame_is_refused_unread(make_ctx: Callable[..., ProbeContext]) -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(4096)
        w.write(b"\x00\xff\xff\xff")
        await endless(w, b"\xfeSMB" * 16384)

    async with serve("127.0.77.22", h) as port:
        result, elapsed, peak = await probe(SMB, "127.0.77.22", port, make_ctx)
    assert result.status is Status.PROTOCOL_ERROR
    assert elapsed < BUDGET and peak < MEMORY_BOUND


async def test_smb_stalls_mid_reply(make_ctx: Callable[..., ProbeContext]) -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(4096)
        w.write(b"\x00\x00\x01\x00\xfeSMB@\x00")  # announces 256 bytes, sends 6
        await w.drain()
        await asyncio.sleep(60)

    async with serve("127.0.77.23", h) as port:
        result, elapsed, _ = await probe(SMB, "127.0.77.23", port, make_ctx)
    assert result.status is Status.TIMEOUT
    assert elapsed < BUDGET + 1


async def test_smb_negotiate_then_garbage_session(make_ctx: Callable[..., ProbeContext]) -> None:
    """A real (captured) NEGOTIATE answer, then nonsense: facts kept, no access claimed."""
    negotiate = CAPTURES / "smb" / "negotiate_guest_server.bin"
    answer = negotiate.read_bytes()

    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        hdr = await r.readexactly(4)
        await r.readexactly(int.from_bytes(hdr[1:], "big"))
        w.write(b"\x00" + len(answer).to_bytes(3, "big") + answer)
        await w.drain()
        await r.read(4096)
        w.write(b"\x00\x00\x00\x10" + b"\x42" * 16)
        await w.drain()
        await r.read(4096)

    async with serve("127.0.77.24", h) as port:
        result, elapsed, _ = await probe(SMB, "127.0.77.24", port, make_ctx)
    assert result.status is Status.AUTH_REQUIRED
    assert not any(f.kind is Kind.UNAUTHENTICATED_ACCESS for f in result.findings)
    assert result.info["guest_session"].startswith("error")
    assert elapsed < BUDGET


async def test_smb_refused(make_ctx: Callable[..., ProbeContext]) -> None:
    async with serve("127.0.77.25", lambda r, w: asyncio.sleep(0)) as port:
        pass  # closed again: nothing listens on it now
    result, _, _ = await probe(SMB, "127.0.77.25", port, make_ctx)
    assert result.status is Status.REFUSED
