"""Host liveness keeps recall exact: a filtered host with one open port is still found.

Each test creates its own loopback-only network namespace (``ip netns add``; root, as CI and the
lab run) with nftables rules that drop every SYN to most addresses, and to every port but one of
a few "filtered" hosts that have a real listener on that one port. The sweep (connect, and raw
SYN) runs inside the namespace in a child process and reports what it found as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from private_netns import private_netns
from repo_paths import TESTS

NET = "127.10.0"  # scope 127.10.0.0/26 inside the test namespace
PORTS = [21, 80, 139, 443, 445, 873, 2049, 3260]
ALIVE = [5, 6, 7]  # hosts that answer (RST on closed ports)
OPEN = [(f"{NET}.5", 445), (f"{NET}.7", 80)]
FILTERED = [(f"{NET}.{h}", port) for h, port in ((20, 2049), (21, 873), (22, 3260), (23, 21))]
"""Hosts that drop every SYN except to the one port where a listener waits."""

RULES = textwrap.dedent(
    f"""
    table inet nasscan_test {{
      chain input {{ type filter hook input priority 0; policy accept;
        ip daddr {NET}.0/20 ip daddr != {{ {", ".join(f"{NET}.{h}" for h in ALIVE)},
          {", ".join(h for h, _ in FILTERED)} }} tcp flags & (syn | ack) == syn drop
        {" ".join(
            f"ip daddr {h} tcp dport != {p} tcp flags & (syn | ack) == syn drop;"
            for h, p in FILTERED
        )}
      }}
    }}
    """
)

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from dataclasses import asdict
    from socket_listeners import listeners
    from scanner.sweep import SweepConfig, Sweeper
    from scanner.synscan import SynScanner
    from scanner.targets import TargetSpace, build_scope

    args = json.loads(sys.argv[1])

    async def main():
        space = TargetSpace(await build_scope([args["scope"]]), args["ports"])
        cfg = SweepConfig(concurrency=4096, connect_timeout=args["timeout"], retries=1,
                          rate=None, processes=args["processes"], liveness=args["liveness"])
        found, alive = [], []
        sweeper = SynScanner(cfg) if args["syn"] else Sweeper(cfg)
        with listeners([tuple(p) for p in args["listen"]]):
            stats = await sweeper.run(space, args["seed"], (0, 1),
                                      lambda ip, p: found.append([ip, p]), alive=alive.append)
        print(json.dumps({"found": found, "alive": sorted(set(alive)), "stats": asdict(stats),
                          "total": len(space)}))

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    with private_netns("nasscan-test-live", RULES) as name:
        yield name


def sweep_in(ns: str, **kw: Any) -> dict[str, Any]:
    args = {
        "scope": f"{NET}.0/26",
        "ports": PORTS,
        "timeout": 0.5,
        "processes": 1,
        "liveness": True,
        "syn": False,
        "seed": 3,
        "listen": [*OPEN, *FILTERED],
        **kw,
    }
    env = dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", CHILD, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


EXPECTED = {*OPEN, *FILTERED}
ANSWERING = {f"{NET}.{h}" for h in ALIVE} | {h for h, _ in FILTERED}


@pytest.mark.parametrize(
    ("syn", "processes", "seed"), [(False, 1, 3), (False, 1, 11), (False, 2, 3), (True, 1, 3)]
)
def test_filtered_host_with_one_open_port_is_found(
    netns: str, syn: bool, processes: int, seed: int
) -> None:
    r = sweep_in(netns, syn=syn, processes=processes, seed=seed)
    found = {(h, p) for h, p in r["found"]}
    assert found == EXPECTED
    st = r["stats"]
    assert st["attempted"] == r["total"] == 64 * len(PORTS)
    assert set(r["alive"]) == ANSWERING
    silent_pairs = (64 - len(ANSWERING)) * len(PORTS) + len(FILTERED) * (len(PORTS) - 1)
    # every silent pair ends as a timeout; liveness spared some of them their retry
    assert st["timeouts"] == silent_pairs
    assert st["presumed_silent"] > 0
    assert st["retried"] + st["presumed_silent"] == silent_pairs


@pytest.mark.parametrize("syn", [False, True])
def test_no_liveness_retries_every_silent_pair(netns: str, syn: bool) -> None:
    r = sweep_in(netns, liveness=False, syn=syn)
    assert {(h, p) for h, p in r["found"]} == EXPECTED
    st = r["stats"]
    assert st["presumed_silent"] == 0
    assert st["retried"] == st["timeouts"]


@pytest.mark.parametrize("liveness", [True, False])
def test_udp_probes_go_only_to_hosts_the_sweep_found_alive(
    netns: str, liveness: bool, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    cmd = [
        sys.executable, "-m", "scanner.cli", "scan", f"{NET}.0/26", "-p", "T:80,U:69",
        "--probes", "tftp", "--timeout", "0.5", "--format", "json", "-o", str(out),
        "--quiet", "--no-history", "--fail-on", "none",
        *([] if liveness else ["--no-liveness"]),
    ]  # fmt: skip
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, *cmd], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    scope = json.loads(out.read_text())["scope"]
    answering_80 = len(ALIVE)  # the filtered hosts drop SYNs to port 80: not seen alive
    if liveness:
        assert scope["alive_hosts"] == answering_80
        assert scope["udp_skipped_silent"] == 64 - answering_80
        assert scope["udp"]["sent"] == answering_80
    else:
        assert "udp_skipped_silent" not in scope
        assert scope["udp"]["sent"] == 64
    # nothing serves TFTP in the namespace: every datagram sent was refused by ICMP at once
    assert scope["udp"]["refused"] == scope["udp"]["sent"]
    assert scope["udp"]["timeouts"] == 0


def _scan_in(netns: str, out: Path, scope: str, *extra: str) -> dict[str, Any]:
    cmd = [
        sys.executable, "-m", "scanner.cli", "scan", scope, "-p", ",".join(map(str, PORTS)),
        "--probes", "none", "--timeout", "0.5", "--format", "json", "-o", str(out),
        "--quiet", "--no-history", "--fail-on", "none", *extra,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    code = (
        "import sys, runpy\n"
        "from socket_listeners import listeners\n"
        f"with listeners({[*OPEN, *FILTERED]!r}):\n"
        f"    sys.argv = {cmd[2:]!r}\n"
        "    try:\n"
        "        runpy.run_module('scanner.cli', run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        sys.exit(e.code)\n"
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code], capture_output=True,
        text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


@pytest.mark.parametrize("connect", [False, True])
def test_engine_chooses_raw_syn_for_a_sparse_scope_and_finds_the_same(
    netns: str, tmp_path: Path, connect: bool
) -> None:
    # 127.10.0.0/20 x 8 ports = 32,768 pairs, all but 7 hosts silent: sparse
    r = _scan_in(netns, tmp_path / "r.json", f"{NET}.0/20", *(["--connect"] if connect else []))
    scope = r["scope"]
    assert {(s["host"], s["port"]) for s in r["services"]} == EXPECTED
    assert scope["sweep"]["attempted"] == 4096 * len(PORTS)
    assert scope["alive_hosts"] == len(ANSWERING)
    if connect:
        assert scope["sweep_mode"] == "connect" and "sweep_sample" not in scope
    else:
        assert scope["sweep_mode"] == "syn"
        assert scope["sweep_sample"]["unanswered"] / scope["sweep_sample"]["pairs"] > 0.9


def test_engine_keeps_connect_for_a_dense_scope(netns: str, tmp_path: Path) -> None:
    # 127.11.0.0/20: no rule, every address answers (RST): dense
    r = _scan_in(netns, tmp_path / "r.json", "127.11.0.0/20")
    assert r["scope"]["sweep_mode"] == "connect"
    assert r["scope"]["sweep_sample"]["unanswered"] == 0
    assert r["services"] == []
    assert r["scope"]["sweep"]["closed"] == 4096 * len(PORTS)
