"""Raw-SYN discovery against real sockets on 127.77.x (needs root, as CI and the lab run)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from scanner.sweep import SweepConfig
from scanner.synscan import SynScanner, available
from scanner.targets import TargetSpace, build_scope


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def listeners(pairs: list[tuple[str, int]]) -> Iterator[None]:
    socks = []
    try:
        for ip, port in pairs:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
            s.listen(64)
            socks.append(s)
        yield
    finally:
        for s in socks:
            s.close()


@contextlib.contextmanager
def silent_listeners(pairs: list[tuple[str, int]]) -> Iterator[None]:
    """Listeners with a full accept queue (backlog 0, filled): Linux drops further SYNs."""
    socks: list[socket.socket] = []
    try:
        for ip, port in pairs:
            lst = socket.socket()
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lst.bind((ip, port))
            lst.listen(0)
            socks.append(lst)
            for _ in range(2):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex((ip, port))
                socks.append(c)
        yield
    finally:
        for s in socks:
            s.close()


async def test_syn_finds_exactly_the_open_ports_and_times_out_silent_ones() -> None:
    assert available(), "raw sockets are needed (run as root, as CI does)"
    p_open, p_closed = _free_port("127.77.28.1"), _free_port("127.77.28.1")
    planted = [("127.77.28.1", p_open), ("127.77.28.90", p_open), ("127.77.28.254", p_closed)]
    silent = [("127.77.28.7", p_closed), ("127.77.28.8", p_closed)]
    with listeners(planted), silent_listeners(silent):
        space = TargetSpace(await build_scope(["127.77.28.0/24"]), [p_open, p_closed])
        cfg = SweepConfig(concurrency=300, connect_timeout=0.3, retries=1, rate=None)
        found: list[tuple[str, int]] = []
        stats = await SynScanner(cfg).run(space, 5, (0, 1), lambda h, p: found.append((h, p)))
    assert sorted(found) == sorted(planted)
    assert stats.attempted == len(space) == 512
    assert stats.open == 3
    assert stats.timeouts == 2 and stats.retried == 2
    assert stats.closed == 512 - 3 - 2


async def test_syn_refuses_ipv6() -> None:
    space = TargetSpace(await build_scope(["::1"]), [1])
    cfg = SweepConfig(concurrency=10, connect_timeout=0.2, retries=0, rate=None)
    with pytest.raises(ValueError, match="IPv4 only"):
        await SynScanner(cfg).run(space, 1, (0, 1), lambda h, p: None)
