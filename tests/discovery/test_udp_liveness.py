"""UDP-only scans judge liveness by the UDP pre-pass (issue 20).

A loopback-only namespace of its own (``ip netns add``; root, as CI and the lab run) where
nftables drops every UDP datagram to most addresses of 127.11.0.0/27: those hosts are silent.
Two hosts are there without any UDP service (the kernel answers ICMP port unreachable), one
answers on the pre-pass port, and one "filtered" host drops every datagram except to the
pre-pass port, where it answers. The scan runs in a child process inside the namespace with two
UDP probes made here: one with a first datagram (it gets the pre-pass) and one without.

- the pre-pass reaches every address once: the answering and the filtered host are found
  (recall exact), the refusing hosts count as alive, silent ones do not;
- the probe without a datagram goes only to the hosts the pre-pass found alive, or to every
  address with ``--no-liveness`` (``liveness=False``).
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

TESTS = Path(__file__).resolve().parent.parent
NET = "127.11.0"
REFUSING = [f"{NET}.5", f"{NET}.6"]  # no UDP service: ICMP port unreachable
ANSWERING = f"{NET}.7"  # answers on the pre-pass port
FILTERED = f"{NET}.9"  # drops every datagram but those to the pre-pass port, answers there
PREPASS_PORT, PLAIN_PORT = 6969, 7070

_SEEN = ", ".join([*REFUSING, ANSWERING, FILTERED])
RULES = textwrap.dedent(
    f"""
    table inet nasscan_test {{
      chain input {{ type filter hook input priority 0; policy accept;
        ip daddr {NET}.0/24 ip daddr != {{ {_SEEN} }} ip protocol udp drop
        ip daddr {FILTERED} udp dport != {PREPASS_PORT} drop
      }}
    }}
    """
)

CHILD = textwrap.dedent(
    """
    import asyncio, json, socket, sys
    from scanner.engine import ScanOptions, run_scan
    from scanner.models import ProbeResult, Status, Transport
    from scanner.ports import PortSpec
    from scanner.probe import Probe
    from scanner.targets import build_scope

    args = json.loads(sys.argv[1])
    ran = {"first": [], "plain": []}

    class First(Probe):
        name, default_ports, transport, description = "first", (args["pp"],), Transport.UDP, "t"
        def udp_payload(self, port):
            return b"hello"
        async def run(self, service, ctx):
            ran["first"].append(service.host)
            return ProbeResult(status=Status.SUCCESS)

    class Plain(Probe):
        name, default_ports, transport, description = "plain", (args["plain"],), Transport.UDP, "t"
        async def run(self, service, ctx):
            ran["plain"].append(service.host)
            return ProbeResult(status=Status.NOT_APPLICABLE)

    async def echo(host, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((host, port))
        s.setblocking(False)
        loop = asyncio.get_running_loop()
        def reply():
            try:
                data, addr = s.recvfrom(2048)
                s.sendto(b"hi:" + data, addr)
            except BlockingIOError:
                pass
        loop.add_reader(s.fileno(), reply)
        return s

    async def main():
        socks = [await echo(h, args["pp"]) for h in args["answer"]]
        options = ScanOptions(ports=PortSpec.of([], [args["pp"], args["plain"]]),
                              probes=[First(), Plain()], read_timeout=0.5, retries=1,
                              liveness=args["liveness"], probe_timeout=5.0)
        report = await run_scan(await build_scope([args["scope"]]), options)
        for s in socks:
            s.close()
        print(json.dumps({"ran": {k: sorted(v) for k, v in ran.items()},
                          "scope": report.scope}))

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    with private_netns("nasscan-test-udplive", RULES) as name:
        yield name


def scan_in(ns: str, liveness: bool) -> dict[str, Any]:
    args = {"scope": f"{NET}.0/27", "pp": PREPASS_PORT, "plain": PLAIN_PORT,
            "answer": [ANSWERING, FILTERED], "liveness": liveness}  # fmt: skip
    env = dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", CHILD, json.dumps(args)],
        capture_output=True, text=True, timeout=90, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_udp_only_scan_is_judged_by_the_prepass(netns: str) -> None:
    r = scan_in(netns, liveness=True)
    udp = r["scope"]["udp"]
    assert r["ran"]["first"] == sorted([ANSWERING, FILTERED])  # recall exact
    assert udp["answered"] == 2 and udp["refused"] == len(REFUSING)
    silent = 32 - len(REFUSING) - 2
    assert udp["timeouts"] == silent  # every silent address still got its datagram
    assert r["scope"]["udp_judge"] == "udp-prepass"
    assert r["scope"]["udp_alive_hosts"] == len(REFUSING) + 2
    # the probe without a first datagram: only where something came back
    assert r["ran"]["plain"] == sorted([*REFUSING, ANSWERING, FILTERED])
    assert r["scope"]["udp_skipped_silent"] == silent


def test_no_liveness_sends_the_other_probes_everywhere(netns: str) -> None:
    r = scan_in(netns, liveness=False)
    assert r["ran"]["first"] == sorted([ANSWERING, FILTERED])
    assert len(r["ran"]["plain"]) == 32
    assert r["scope"]["udp_judge"] == "none" and "udp_skipped_silent" not in r["scope"]
