"""The UDP pre-pass against real sockets on 127.66.x: answer, ICMP refusal, silence."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from scanner.dialer import Dialer, OutOfScopeError, RateLimiter
from scanner.udpsweep import UdpPrepass

PORT_BASE = 47069


@contextmanager
def answering_from_another_port(host: str, port: int) -> Iterator[list[bytes]]:
    """A TFTP-like server: answers each datagram from a fresh source port, as TFTP does."""
    got: list[bytes] = []
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = srv.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            got.append(data)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tid:
                tid.bind((host, 0))
                tid.sendto(b"\x00\x05\x00\x01not found\x00", peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield got
    finally:
        stop.set()
        t.join(2)
        srv.close()


def _free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def test_answers_refusals_and_silence_are_told_apart() -> None:
    port = _free_udp_port("127.66.1.5")
    hosts = [f"127.66.1.{i}" for i in range(1, 41)]
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.66.1.9", port))  # bound, never reads: no answer, no ICMP
    d = Dialer(ipaddress.ip_network("127.66.1.0/24"))
    answered: list[tuple[str, int]] = []
    try:
        with answering_from_another_port("127.66.1.5", port) as got:
            pre = UdpPrepass(d.check, d.rate, timeout=0.4, min_timeout=0.2, retries=1)
            stats = await asyncio.wait_for(
                pre.run([(h, port) for h in hosts], lambda p: b"\x00\x01x\x00octet\x00",
                        lambda h, p: answered.append((h, p))),
                30,
            )
        assert got, "the server saw the datagram"
    finally:
        silent.close()
        d.shutdown()
    assert answered == [("127.66.1.5", port)]
    assert stats.answered == 1
    assert stats.refused == len(hosts) - 2
    assert stats.timeouts == 1 and stats.retried == 1  # the silent one, retried once
    assert stats.sent == len(hosts) + 1
    assert stats.unreachable == 0


async def test_every_datagram_is_scope_checked() -> None:
    d = Dialer(ipaddress.ip_network("127.66.2.0/24"))
    pre = UdpPrepass(d.check, RateLimiter(None), timeout=0.2)
    try:
        with pytest.raises(OutOfScopeError):
            await pre.run([("127.66.2.1", 69), ("127.66.3.1", 69)], lambda p: b"x", print)
    finally:
        d.shutdown()
    assert d.refused_out_of_scope == 1


async def test_rate_is_honoured_without_timing() -> None:
    # 200 datagrams at 100/s cannot all go out in one burst: the limiter's tokens run dry.
    d = Dialer(ipaddress.ip_network("127.66.4.0/24"), rate=100)
    pre = UdpPrepass(d.check, d.rate, timeout=0.2)
    port = _free_udp_port("127.66.4.1")
    pairs = [(f"127.66.4.{i}", port) for i in range(1, 201)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        stats = await asyncio.wait_for(pre.run(pairs, lambda p: b"x", print), 60)
    finally:
        d.shutdown()
    assert stats.sent == 200 and stats.refused == 200
    assert loop.time() - started >= 1.0  # sanity: 200 at 100/s with a burst of 10
