"""Benchmark driver: nasscan's discovery sweep alone (scanner.sweep.Sweeper over a TargetSpace).

Prints one ``HOST PORT`` line per open port on stdout and the sweep statistics as JSON on stderr.
The same work as ``nasscan scan TARGET -p PORTS --probes none`` without the CLI, engine and report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict

from scanner.limits import raise_nofile
from scanner.sweep import SweepConfig, Sweeper, default_processes
from scanner.targets import TargetSpace, build_scope


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("targets", nargs="+")
    ap.add_argument("-p", "--ports", required=True, help="comma-separated TCP ports")
    ap.add_argument("--concurrency", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--rate", type=float, default=None)
    ap.add_argument("--processes", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--syn", action="store_true", help="raw-SYN mode (scanner.synscan, root)")
    a = ap.parse_args()
    soft, _hard = raise_nofile()
    processes = a.processes or default_processes()
    # Each sweep process has its own descriptor table: size per process, keep a reserve.
    per_proc = max(16, soft - 256)
    concurrency = a.concurrency or per_proc * processes
    space = TargetSpace(await build_scope(a.targets), [int(p) for p in a.ports.split(",")])
    out: list[str] = []
    cfg = SweepConfig(
        concurrency=concurrency,
        connect_timeout=a.timeout,
        retries=a.retries,
        rate=a.rate,
        processes=processes,
        syn=a.syn,
    )
    sweeper = Sweeper(cfg)
    stats = await sweeper.run(space, a.seed, (0, 1), lambda h, p: out.append(f"{h} {p}"))
    sys.stdout.write("".join(line + "\n" for line in out))
    sys.stderr.write(json.dumps(asdict(stats)) + "\n")
    return 0 if stats.complete else 4


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
