"""The discovery sweep against real sockets on 127.77.x.x (no mocks, no timing assertions).

- open ports: listening sockets; closed ports: nothing bound (the kernel answers RST);
- silent ports: a listener whose accept queue is full (backlog 0, filled by clients never
  accepted): Linux drops further SYNs without answering, exactly like a filtered port;
- resource errors: a child process with a low RLIMIT_NOFILE (``resource.setrlimit``).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest
from repo_paths import REPO_ROOT
from socket_listeners import free_port, listeners, silent_listeners

from scanner.sweep import SweepConfig, Sweeper, SweepStats, default_processes
from scanner.targets import TargetSpace, build_scope


async def sweep(
    targets: list[str], ports: list[int], **cfg: object
) -> tuple[set[tuple[str, int]], SweepStats, int]:
    space = TargetSpace(await build_scope(targets), ports)
    conf: dict[str, object] = {
        "concurrency": 512,
        "connect_timeout": 0.3,
        "retries": 1,
        "rate": None,
        "processes": 1,
    }
    conf.update(cfg)
    found: list[tuple[str, int]] = []
    stats = await Sweeper(SweepConfig(**conf)).run(  # type: ignore[arg-type]
        space, 7, (0, 1), lambda ip, port: found.append((ip, port))
    )
    assert len(found) == len(set(found)), "an open port was reported twice"
    return set(found), stats, len(space)


@pytest.mark.parametrize(("processes", "rate"), [(1, None), (2, None), (1, 20000.0), (2, 20000.0)])
async def test_finds_exactly_the_open_ports(processes: int, rate: float | None) -> None:
    p_open, p_other, p_closed = (free_port("127.77.0.1") for _ in range(3))
    planted = [
        ("127.77.0.1", p_open),
        ("127.77.0.77", p_open),
        ("127.77.1.200", p_other),
        ("127.77.3.255", p_open),
    ]
    with listeners(planted):
        found, stats, total = await sweep(
            ["127.77.0.0/22"], [p_open, p_other, p_closed], processes=processes, rate=rate
        )
    assert found == set(planted)
    assert stats.attempted == total == 1024 * 3
    assert stats.open == 4
    assert stats.closed == total - 4
    assert stats.timeouts == stats.resource_errors == stats.unresolved == stats.unreachable == 0


async def test_shards_are_disjoint_and_cover_the_space() -> None:
    port = free_port("127.77.4.1")
    planted = [(f"127.77.4.{i}", port) for i in range(1, 41)]
    space = TargetSpace(await build_scope(["127.77.4.0/24"]), [port, port + 1])
    cfg = SweepConfig(concurrency=256, connect_timeout=0.5, retries=0, rate=None, processes=2)
    seen: list[tuple[str, int]] = []
    attempted = 0
    with listeners(planted):
        for i in range(3):
            stats = await Sweeper(cfg).run(space, 11, (i, 3), lambda ip, p: seen.append((ip, p)))
            attempted += stats.attempted
    assert sorted(seen) == sorted(planted)
    assert attempted == len(space)


async def test_found_runs_in_the_loop_thread_and_the_loop_keeps_turning() -> None:
    port = free_port("127.77.8.1")
    threads: set[int] = set()
    ticks = 0
    stop = False

    async def ticker() -> None:
        nonlocal ticks
        while not stop:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    with listeners([("127.77.8.1", port)]):
        space = TargetSpace(await build_scope(["127.77.8.0/22"]), [port, port + 1, port + 2])
        cfg = SweepConfig(concurrency=4096, connect_timeout=0.5, retries=0, rate=None)
        stats = await Sweeper(cfg).run(
            space, 1, (0, 1), lambda ip, p: threads.add(threading.get_ident())
        )
    before = ticks
    stop = True
    await task
    assert stats.open == 1
    assert threads == {threading.get_ident()}
    # The sweep yields to the loop between bounded batches (3072 probes, batches of 512).
    assert before >= 3


@pytest.mark.parametrize("processes", [1, 2])
async def test_silent_ports_time_out_after_retries(processes: int) -> None:
    p_open, p_silent = free_port("127.77.12.1"), free_port("127.77.12.1")
    silent = [(f"127.77.12.{i}", p_silent) for i in (3, 9, 200)]
    with listeners([("127.77.12.5", p_open)]), silent_listeners(silent):
        found, stats, total = await sweep(
            ["127.77.12.0/24"], [p_open, p_silent], retries=2, processes=processes
        )
    assert found == {("127.77.12.5", p_open)}
    assert stats.timeouts == 3
    assert stats.retried == 3 * 2
    assert stats.closed == total - 1 - 3
    assert stats.resource_errors == stats.unresolved == 0


async def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.fail("IPv6 is required for this test")
    port, closed = free_port("::1"), free_port("::1")
    with listeners([("::1", port)]):
        found, stats, _ = await sweep(["::1"], [port, closed])
    assert found == {("::1", port)}
    assert stats.closed == 1


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError):
        Sweeper(SweepConfig(concurrency=0, connect_timeout=1, retries=0, rate=None))
    with pytest.raises(ValueError):
        Sweeper(SweepConfig(concurrency=1, connect_timeout=0, retries=0, rate=None))
    with pytest.raises(ValueError):
        Sweeper(SweepConfig(concurrency=1, connect_timeout=1, retries=0, rate=None, processes=0))
    assert default_processes() >= 1


# -- resource errors (low RLIMIT_NOFILE in a child process) ------------------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, resource, sys
    from scanner.sweep import SweepConfig, Sweeper
    from scanner.targets import TargetSpace, build_scope

    args = json.loads(sys.argv[1])

    async def main():
        space = TargetSpace(await build_scope(args["targets"]), args["ports"])
        used = len(os.listdir("/proc/self/fd"))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        held = []
        if args["mode"] == "tight":
            # Every descriptor taken but one (for the sweep's epoll): socket() always fails.
            resource.setrlimit(resource.RLIMIT_NOFILE, (used + 8, hard))
            try:
                while True:
                    held.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                os.close(held.pop())
        else:
            resource.setrlimit(resource.RLIMIT_NOFILE, (used + args["spare"], hard))
        found = []
        cfg = SweepConfig(concurrency=args["concurrency"], connect_timeout=args["timeout"],
                          retries=0, rate=None, processes=args["processes"],
                          resource_give_up=args["give_up"])
        stats = await Sweeper(cfg).run(space, 3, (0, 1), lambda ip, p: found.append([ip, p]))
        print(json.dumps({"found": found, "stats": stats.__dict__, "total": len(space)}))

    asyncio.run(main())
    """
)


def run_child(**args: object) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("processes", [1, 2])
def test_resource_errors_are_retried_never_closed(processes: int) -> None:
    """Too-many-open-files must never be recorded as closed: every open port is still found."""
    p_open, p_silent, p_closed = (free_port("127.77.16.1") for _ in range(3))
    planted = [(f"127.77.16.{i}", p_open) for i in (1, 50, 99, 254)]
    # 64 silent probes hold descriptors for the whole timeout; only ~20 are available.
    silent = [(f"127.77.16.{i}", p_silent) for i in range(100, 164)]
    with listeners(planted), silent_listeners(silent):
        out = run_child(
            targets=["127.77.16.0/24"],
            ports=[p_open, p_silent, p_closed],
            mode="spare",
            spare=20,
            concurrency=500,
            timeout=0.3,
            processes=processes,
            give_up=20.0,
        )
    stats = SweepStats(**out["stats"])
    found = {(ip, port) for ip, port in out["found"]}
    assert found == set(planted)
    assert stats.resource_errors > 0
    assert stats.unresolved == 0
    assert stats.timeouts == len(silent)
    assert stats.open == len(planted)
    assert stats.closed == out["total"] - len(planted) - len(silent)


def test_persistent_resource_errors_are_reported_not_closed() -> None:
    port = free_port("127.77.20.1")
    with listeners([("127.77.20.1", port)]):
        out = run_child(
            targets=["127.77.20.0/28"],
            ports=[port, port + 1],
            mode="tight",
            concurrency=64,
            timeout=0.3,
            processes=1,
            give_up=0.3,
        )
    stats = SweepStats(**out["stats"])
    assert out["found"] == []
    assert stats.resource_errors > 0
    assert stats.open == stats.closed == stats.timeouts == 0
    assert stats.unresolved == stats.attempted == out["total"] == 32
    assert not stats.complete


def test_bench_tiny_still_runs() -> None:
    """bench/ must not rot: the tiny workload (no namespace, 127.99.x) finds exactly its ports."""
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "tiny", "--runs", "1", "--check", "--no-netns"],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
        cwd=str(REPO_ROOT),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| nasscan")]
    assert len(rows) == 2 and all("| 1/1 |" in ln for ln in rows), proc.stdout


async def test_cancel_stops_the_sweep_processes_quietly() -> None:
    """Cancelling (Ctrl-C in the engine) stops the children by PID; their SIGTERM never reaches
    the parent's own signal handlers through the inherited wakeup fd."""
    loop = asyncio.get_running_loop()
    got_sigterm: list[bool] = []
    loop.add_signal_handler(signal.SIGTERM, lambda: got_sigterm.append(True))
    p_silent = free_port("127.77.24.1")
    silent = [(f"127.77.24.{i}", p_silent) for i in range(1, 9)]
    try:
        with silent_listeners(silent):
            space = TargetSpace(await build_scope(["127.77.24.0/24"]), [p_silent])
            # floor = ceiling: measured round trips must not shorten the 30 s wait
            cfg = SweepConfig(
                concurrency=64,
                connect_timeout=30,
                retries=0,
                rate=None,
                processes=2,
                min_timeout=30,
            )
            task = asyncio.create_task(Sweeper(cfg).run(space, 1, (0, 1), lambda ip, p: None))
            while not multiprocessing.active_children():
                await asyncio.sleep(0.01)
            children = multiprocessing.active_children()
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert all(not c.is_alive() for c in children)
        for _ in range(10):  # let a stray wakeup byte, if any, be dispatched
            await asyncio.sleep(0.01)
        assert got_sigterm == []
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
