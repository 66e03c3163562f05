"""Raw-SYN discovery against real sockets on 127.77.x (needs root, as CI and the lab run)."""

from __future__ import annotations

import pytest
from socket_listeners import free_port, listeners, silent_listeners

from scanner.sweep import SweepConfig
from scanner.synscan import SynScanner, available
from scanner.targets import TargetSpace, build_scope


async def test_syn_finds_exactly_the_open_ports_and_times_out_silent_ones() -> None:
    assert available(), "raw sockets are needed (run as root, as CI does)"
    p_open, p_closed = free_port("127.77.28.1"), free_port("127.77.28.1")
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
