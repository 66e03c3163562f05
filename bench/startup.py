"""Start-up benchmark: wall time of `nasscan --version`, `--help`, `scan --help` (medians).

The interpreter's own start (`python -c pass`, same venv, same site-packages) is measured
alongside as the floor no command can go below.

    .venv/bin/python bench/startup.py --runs 11
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PY = str(BIN / "python") if BIN.exists() else sys.executable
NASSCAN = str(BIN / "nasscan") if BIN.exists() else "nasscan"

COMMANDS = {
    "python -c pass": [PY, "-c", "pass"],
    "nasscan --version": [NASSCAN, "--version"],
    "nasscan --help": [NASSCAN, "--help"],
    "nasscan scan --help": [NASSCAN, "scan", "--help"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=11)
    a = ap.parse_args()
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for _ in range(a.runs):
        for name, cmd in COMMANDS.items():  # interleaved, run by run
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    load = os.getloadavg()[0]
    print(f"load average at end: {load:.2f}; {a.runs} runs each, interleaved\n")
    print("| command | median s | min s | max s |")
    print("|---|---:|---:|---:|")
    for name, ts in times.items():
        print(f"| `{name}` | {statistics.median(ts):.3f} | {min(ts):.3f} | {max(ts):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
