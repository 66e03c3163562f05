"""The dialer against real listeners on loopback: scope refusal, per-host cap, global rate."""

from __future__ import annotations

import asyncio
import ipaddress
import time

import pytest

from scanner.dialer import Dialer, OutOfScopeError, RateLimiter


async def _echo_server(host: str) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readline()
        writer.write(data.upper())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, host, 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


async def test_in_scope_dial_talks() -> None:
    server, port = await _echo_server("127.0.20.1")
    d = Dialer(ipaddress.ip_network("127.0.20.0/24"))
    try:
        async with d.tcp("127.0.20.1", port) as conn:
            await conn.send(b"hello\n")
            assert await conn.recv_line() == b"HELLO\n"
    finally:
        server.close()
        d.shutdown()
    assert d.dials == 1


async def test_out_of_scope_dial_is_refused_before_any_packet() -> None:
    # A listener that would answer: the refusal must come from the dialer, not the network.
    server, port = await _echo_server("127.0.21.1")
    accepted = 0

    d = Dialer(ipaddress.ip_network("127.0.20.0/24"))
    try:
        with pytest.raises(OutOfScopeError):
            async with d.tcp("127.0.21.1", port):
                accepted += 1
        with pytest.raises(OutOfScopeError):
            async with d.blocking_socket("127.0.21.1", port):
                accepted += 1
        with pytest.raises(OutOfScopeError):
            async with d.udp("127.0.21.1", 69):
                accepted += 1
        with pytest.raises(OutOfScopeError):  # names are never dialed: the core resolves them
            d.check("localhost", port)
    finally:
        server.close()
        d.shutdown()
    assert accepted == 0
    assert d.dials == 0
    assert d.refused_out_of_scope == 4


async def test_per_host_cap_holds() -> None:
    release = asyncio.Event()
    peak = 0
    current = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal peak, current
        current += 1
        peak = max(peak, current)
        await release.wait()
        current -= 1
        writer.close()

    server = await asyncio.start_server(handle, "127.0.20.2", 0)
    port = server.sockets[0].getsockname()[1]
    d = Dialer(ipaddress.ip_network("127.0.20.0/24"), per_host=3, concurrency=50)

    async def one() -> None:
        async with d.tcp("127.0.20.2", port) as conn:
            assert d.in_use("127.0.20.2") <= 3
            assert await conn.recv(timeout=10) == b""  # held until the server lets go

    tasks = [asyncio.create_task(one()) for _ in range(10)]
    await asyncio.sleep(0.3)
    assert d.in_use("127.0.20.2") == 3
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    server.close()
    d.shutdown()
    assert peak <= 3
    assert d.dials == 10


async def test_rate_limiter_spaces_new_connections() -> None:
    limiter = RateLimiter(rate=50, burst=1)
    start = time.monotonic()
    for _ in range(11):
        await limiter.acquire()
    elapsed = time.monotonic() - start
    # 10 tokens after the first at 50/s cannot take less than 0.2 s (no upper bound asserted).
    assert elapsed >= 0.18


def test_unlimited_rate_never_waits() -> None:
    limiter = RateLimiter(rate=None)
    assert limiter.try_take(1000) == 1000
    assert limiter.delay_for_one() == 0.0
