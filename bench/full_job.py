"""The full job (issue 20): a /16 with 200 web listings and 50 anonymous FTP servers.

Inside a loopback-only namespace it creates (``bench/run.py``'s ``Netns``), planted on
127.0.0.0/16 at seeded pseudo-random addresses: nginx autoindex listings on port 80 of 200
addresses and pyftpdlib anonymous read-only FTP on port 21 of 50 others, all serving a small
recordings tree (``bench/full_job_servers.py``). Then, alternating run by run:

- nasscan with default ports and settings:
  ``nasscan scan 127.0.0.0/16 --format json -o OUT --quiet --yes --fail-on critical``
  (every probe, every default port, UDP 69 included);
- nmap on ports 21 and 80 alone: ``nmap -sT -Pn -n -T4 --script http-ls,ftp-anon -p 21,80``.

Two more tools for a comparison at equal work (``--tools``): ``nmap-same-ports`` is that nmap
command given nasscan's default TCP ports (the probes' union), and ``nasscan-2ports`` is nasscan
given ports 21 and 80 alone (``-p T:21,T:80``).

``--sparse``: every address that is not planted drops every packet (nftables in the namespace),
as most addresses of a real /16 answer nothing; without it every address answers (RST, ICMP).

Each run is scored on the 250 planted services: found when the tool reports the listing or the
anonymous FTP login there (nasscan: an ``unauthenticated-access`` finding on that host and
port; nmap: ``http-ls`` listing a volume, ``ftp-anon`` saying anonymous login is allowed).
Wall seconds, CPU seconds of the tool (children included) and found counts are printed as a
Markdown table with medians, and the load average at the start of each run.

    .venv/bin/python bench/full_job.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import NASSCAN, ROOT, Netns  # bench/ is not a package

LISTINGS = 200
FTP_SERVERS = 50
NET = "127.0.0.0/16"
SYSTEM_PY = "/usr/bin/python3"  # Debian's python3-pyftpdlib lives there


def plant_addresses(seed: int = 20) -> tuple[list[str], list[str]]:
    """200 + 50 distinct addresses of 127.0.0.0/16, never the scanner's 127.0.0.1."""
    rng = random.Random(seed)
    picks = rng.sample(range(256, 65535), LISTINGS + FTP_SERVERS)
    addrs = [f"127.0.{n >> 8}.{n & 255}" for n in picks]
    return addrs[:LISTINGS], addrs[LISTINGS:]


def sparse_rules(planted: list[str]) -> str:
    """Inside the namespace: every address but the planted ones (and the scanner's own
    127.0.0.1) drops every packet."""
    keep = ", ".join(["127.0.0.1", *planted])
    return (
        "table inet nasscan_bench {\n"
        "  chain input { type filter hook input priority 0; policy accept;\n"
        f"    ip daddr 127.0.0.0/16 ip daddr != {{ {keep} }} drop\n"
        "  }\n"
        "}\n"
    )


def nasscan_cmd(out: str) -> list[str]:
    return [NASSCAN, "scan", NET, "--format", "json", "-o", out, "--quiet", "--yes",
            "--fail-on", "critical"]  # fmt: skip


def nmap_cmd(out: str, ports: str = "21,80") -> list[str]:
    return ["nmap", "-sT", "-Pn", "-n", "-T4", "--script", "http-ls,ftp-anon", "-p", ports,
            "-oX", out, NET]  # fmt: skip


def default_tcp_ports() -> str:
    """nasscan's default TCP ports (the union of the installed probes'), as nmap writes them."""
    from scanner.engine import default_ports

    spec = str(default_ports([]))
    return spec.split(",U:")[0].removeprefix("T:")


def command(tool: str, out: str) -> list[str]:
    if tool == "nasscan":
        return nasscan_cmd(out)
    if tool == "nasscan-2ports":
        return [*nasscan_cmd(out), "-p", "T:21,T:80"]
    if tool == "nmap-same-ports":
        return nmap_cmd(out, default_tcp_ports())
    return nmap_cmd(out)


def nasscan_found(path: str) -> set[tuple[str, int]]:
    report = json.loads(Path(path).read_text())
    return {
        (f["host"], int(f["port"]))
        for f in report.get("findings", [])
        if f.get("kind") == "unauthenticated-access"
    }


def nmap_found(path: str) -> set[tuple[str, int]]:
    hits: set[tuple[str, int]] = set()
    for host in ET.parse(path).getroot().iter("host"):
        addr_el = host.find("address")
        if addr_el is None:
            continue
        for port in host.iter("port"):
            for script in port.iter("script"):
                sid, out = script.get("id", ""), script.get("output", "")
                if (sid == "ftp-anon" and "Anonymous FTP login allowed" in out) or (
                    sid == "http-ls" and "Volume" in out
                ):
                    hits.add((addr_el.get("addr", ""), int(port.get("portid", "0"))))
    return hits


def timed(cmd: list[str], ns: Netns, limit: float) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        rc = subprocess.run([*ns.prefix(), *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=limit, check=False).returncode
    except subprocess.TimeoutExpired:  # run() killed it (our child, by PID)
        rc = -9
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tools", default="nasscan,nmap")
    ap.add_argument("--limit", type=float, default=900.0, help="seconds per run at most")
    ap.add_argument("--keep", help="directory to keep nasscan's JSON reports in")
    ap.add_argument("--sparse", action="store_true",
                    help="every other address of the /16 drops every packet (nftables)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (a network namespace of its own)", file=sys.stderr)
        return 2
    http, ftp = plant_addresses()
    planted = {(h, 80) for h in http} | {(h, 21) for h in ftp}
    tools = a.tools.split(",")
    rows: dict[str, list[tuple[float, float, int, float]]] = {t: [] for t in tools}
    with Netns(True) as ns, tempfile.TemporaryDirectory(prefix="nasscan-fulljob-") as tmp:
        if a.sparse:  # a real network: most addresses answer nothing at all
            ns.firewall(False, sparse_rules(http + ftp))
        os.chmod(tmp, 0o755)  # nginx's workers (nobody) read the tree
        servers = subprocess.Popen(
            [*ns.prefix(), SYSTEM_PY, str(ROOT / "bench" / "full_job_servers.py"), tmp,
             ",".join(http), ",".join(ftp)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert servers.stdout is not None
            if servers.stdout.readline().strip() != "ready":
                print("planted servers did not start", file=sys.stderr)
                return 1
            for i in range(a.runs):
                for tool in tools if i % 2 == 0 else list(reversed(tools)):
                    out = str(Path(tmp) / f"out-{tool}-{i}")
                    load = os.getloadavg()[0]
                    wall, cpu, rc = timed(command(tool, out), ns, a.limit)
                    try:
                        ours = tool.startswith("nasscan")
                        found = nasscan_found(out) if ours else nmap_found(out)
                    except (OSError, ValueError, ET.ParseError):  # cut off: no whole report
                        found = set()
                    hits = len(found & planted)
                    rows[tool].append((wall, cpu, hits, load))
                    missed = sorted(planted - found)
                    if missed:
                        print(f"  missed: {missed[:10]}", flush=True)
                    if tool.startswith("nasscan") and a.keep:
                        keep = Path(a.keep) / f"{tool}-{i}.json"
                        keep.write_bytes(Path(out).read_bytes())
                    cut = f" (cut off at {a.limit:g} s)" if rc == -9 else ""
                    print(f"run {i + 1} {tool}{cut}: {wall:.2f} s, {cpu:.2f} CPU s, "
                          f"{hits}/{len(planted)} found, {len(found - planted)} elsewhere, "
                          f"rc {rc}, load {load:.2f}", flush=True)  # fmt: skip
        finally:
            assert servers.stdin is not None
            servers.stdin.close()
            try:
                servers.wait(15)
            except subprocess.TimeoutExpired:
                servers.kill()  # our own child, by PID
                servers.wait(5)
    print()
    print("| tool | median s | min s | max s | median CPU s | found (each run) | load at start |")
    print("|---|---:|---:|---:|---:|---|---|")
    for tool, rs in rows.items():
        if not rs:
            continue
        walls = [r[0] for r in rs]
        print(f"| {tool} | {statistics.median(walls):.2f} | {min(walls):.2f} | {max(walls):.2f} "
              f"| {statistics.median(r[1] for r in rs):.2f} "
              f"| {', '.join(f'{r[2]}/{len(planted)}' for r in rs)} "
              f"| {', '.join(f'{r[3]:.1f}' for r in rs)} |")  # fmt: skip
    print()
    print("```")
    for tool in rows:
        print(" ".join(command(tool, "OUT")))
    print("```")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
