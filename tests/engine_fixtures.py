"""Listeners and a line-protocol probe for engine tests (127.0.55.x, loopback only): used by
tests/core/test_engine.py and tests/history/test_history_cli.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from scanner.engine import ScanOptions
from scanner.models import (
    Authentication,
    Entry,
    Finding,
    Kind,
    Listing,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.ports import PortSpec
from scanner.probe import Probe, ProbeContext, not_applicable

GREETING = b"220 nasscan-test line server ready\r\n"


@dataclass
class Listeners:
    greeter: tuple[str, int]
    silent: tuple[str, int]
    http: tuple[str, int]
    claimed: tuple[str, int]
    outside: tuple[str, int]
    """A listener OUTSIDE the scan scope (127.0.0.1): must never see a connection."""
    udp: tuple[str, int]
    accepts: dict[tuple[str, int], int] = field(default_factory=dict)
    accept_times: list[float] = field(default_factory=list)

    @property
    def tcp_ports(self) -> tuple[int, ...]:
        return tuple(sorted({self.greeter[1], self.silent[1], self.http[1], self.claimed[1]}))


class _Udp(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo:" + data, addr)


@pytest.fixture
async def net() -> AsyncIterator[Listeners]:
    servers: list[asyncio.Server] = []
    lab_accepts: dict[tuple[str, int], int] = {}
    times: list[float] = []
    hold: list[asyncio.StreamWriter] = []

    async def start(host: str, handler_kind: str) -> tuple[str, int]:
        key: list[tuple[str, int]] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            lab_accepts[key[0]] = lab_accepts.get(key[0], 0) + 1
            times.append(time.monotonic())
            try:
                if handler_kind == "greet":
                    writer.write(GREETING)
                    await writer.drain()
                    line = await asyncio.wait_for(reader.readline(), 5)
                    if line:
                        writer.write(b"200 " + line)
                        await writer.drain()
                elif handler_kind == "http":
                    data = await asyncio.wait_for(reader.read(1024), 5)
                    if data.startswith(b"GET "):
                        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        await writer.drain()
                elif handler_kind == "silent":
                    hold.append(writer)
                    await asyncio.sleep(30)
            except (TimeoutError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, host, 0)
        servers.append(server)
        key.append((host, server.sockets[0].getsockname()[1]))
        return key[0]

    greeter = await start("127.0.55.1", "greet")
    silent = await start("127.0.55.2", "silent")
    http = await start("127.0.55.3", "http")
    claimed = await start("127.0.55.4", "greet")
    outside = await start("127.0.0.1", "greet")
    loop = asyncio.get_running_loop()
    udp_transport, _ = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.55.5", 0))
    udp = udp_transport.get_extra_info("sockname")[:2]
    try:
        yield Listeners(
            greeter, silent, http, claimed, outside, (udp[0], udp[1]), lab_accepts, times
        )
    finally:
        udp_transport.close()
        for w in hold:
            w.close()
        for s in servers:
            s.close()
        for s in servers:
            await s.wait_closed()


class LineProbe(Probe):
    """Recognises the test greeting; reports an unauthenticated 'share'."""

    name = "line"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "test line protocol"

    def matches_greeting(self, greeting: bytes) -> bool:
        return greeting.startswith(b"220 nasscan-test")

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        async with ctx.dialer.tcp(service.host, service.port) as conn:
            greeting = await conn.recv_line()
            if not self.matches_greeting(greeting):
                return not_applicable()
            await conn.send(b"LIST\r\n")
            reply = await conn.recv_line()
        finding = Finding(
            host=service.host,
            port=service.port,
            protocol="line",
            kind=Kind.UNAUTHENTICATED_ACCESS,
            authentication=Authentication.NONE,
            resource="share",
            title="test share listable without authentication",
            evidence={"reply": reply.decode().strip()},
            listing=Listing(entries=[Entry(path="readme.txt", size=3)]),
        )
        return ProbeResult(status=Status.SUCCESS, protocol="line", findings=[finding])


def claiming(probe_cls: type[Probe], *ports: int) -> Probe:
    """An instance of ``probe_cls`` claiming ``ports`` by default."""
    cls = type(probe_cls.__name__ + "Claim", (probe_cls,), {"default_ports": tuple(ports)})
    return cls()


def options(ports: PortSpec, probes: list[Probe], **kw: object) -> ScanOptions:
    base: dict[str, object] = {
        "connect_timeout": 0.5,
        "retries": 0,
        "probe_timeout": 2.0,
        "greeting_timeout": 0.5,
        "processes": 1,
    }
    base.update(kw)
    return ScanOptions(ports=ports, probes=probes, **base)  # type: ignore[arg-type]
