"""The lab's 100,000-entry directory page, scanned with default settings: bytes, time, memory.

Issue 20 ("listing pages are parsed as they stream"): the crawl lab's nginx serves a flat
directory of 100,000 files on 127.0.10.81:8000 (about 11 MB of autoindex HTML, plus an open
WebDAV PROPFIND). This runs ``nasscan scan 127.0.10.81 -p 8000`` (default settings, JSON report,
no history) inside a lab with the ``crawl`` service, ``--runs`` times per scanner tree, the
trees interleaved run by run, and reports per run:

- ``GET / sent``: body bytes nginx logged as sent for the page (``$body_bytes_sent``, counted at
  the server, what left it; the flat server's send buffer is 64 KiB);
- ``all sent``: body bytes nginx sent for every request of the run (the PROPFIND's included);
- ``http bytes``: body bytes the HTTP probe took (``info.http.bytes`` of the report);
- wall seconds, CPU seconds (user+system) and peak RSS of the scanning process
  (``/usr/bin/time``);
- the listing finding's entries (the same listing is expected from every tree).

Trees: ``--tree NAME=DIR`` (a checkout, put first on ``PYTHONPATH`` and run by this venv's
interpreter; e.g. ``git archive cccee61 | tar -x -C /tmp/base``); ``this`` is this checkout. The
lab is started in its own namespace (``nasscan-bench-flat-<pid>``, ``--only crawl``) and stopped
at the end, unless ``--ns`` names a running lab that has the crawl service.

    .venv/bin/python bench/flat_page.py --runs 5 --tree base=/tmp/base --tree this=.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
NASSCAN = str(ROOT / ".venv" / "bin" / "nasscan")
ADDR, PORT = "127.0.10.81", 8000
MAIN = "import sys; from scanner.cli import main; sys.exit(main(sys.argv[1:]))"


def _log_lines(path: Path) -> list[list[str]]:
    text = path.read_text(errors="replace") if path.exists() else ""
    return [ln.split() for ln in text.splitlines()]


def one_run(lab: list[str], log: Path, tree: Path, out: Path) -> dict[str, Any]:
    before = len(_log_lines(log))
    cmd = [*lab, "exec", "--", "/usr/bin/time", "-f", "TIME %e %U %S %M", PY, "-c", MAIN, "scan",
           ADDR, "-p", str(PORT), "--format", "json", "-o", str(out), "--quiet", "--yes",
           "--fail-on", "none", "--no-history"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree, timeout=600)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"scan failed ({done.returncode}): {done.stderr[-1500:]}")
    tline = [ln for ln in done.stderr.splitlines() if ln.startswith("TIME ")][-1].split()
    time.sleep(0.5)  # nginx logs a request when its connection ends
    lines = _log_lines(log)[before:]
    report = json.loads(out.read_text())
    (svc,) = [s for s in report["services"] if s["port"] == PORT]
    listing = [f for f in report["findings"]
               if f["kind"] == "unauthenticated-access" and f["protocol"] == "http"]  # fmt: skip
    return {
        "get_root_sent": sum(int(ln[3]) for ln in lines if ln[:2] == ["GET", "/"]),
        "all_sent": sum(int(ln[3]) for ln in lines if len(ln) > 3 and ln[3].isdigit()),
        "http_bytes": svc["info"]["http"]["bytes"],
        "wall": float(tline[1]),
        "outer_wall": wall,
        "cpu": float(tline[2]) + float(tline[3]),
        "rss_mb": int(tline[4]) / 1024,
        "entries": [f["evidence"].get("entries_seen") for f in listing],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tree", action="append", default=[], help="NAME=DIR (default this=.)")
    ap.add_argument("--ns", help="a running lab with the crawl service (else one is started)")
    a = ap.parse_args()
    trees = dict(t.split("=", 1) for t in a.tree) or {"this": str(ROOT)}
    trees = {k: str(Path(v).resolve()) for k, v in trees.items()}
    ns = a.ns or f"nasscan-bench-flat-{os.getpid()}"
    lab = [NASSCAN, "lab", "--ns", ns]
    state = Path(os.environ.get("NASSCAN_LAB_STATE", "/run/nasscan-lab")) / ns
    log = state / "crawl" / "http" / "access-flat.log"
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in trees}
    try:
        if not a.ns:
            subprocess.run([*lab, "up", "--only", "crawl"], check=True, capture_output=True)
        with tempfile.TemporaryDirectory(prefix="nasscan-bench-flat-") as tmp:
            for i in range(a.runs):
                for name, tree in trees.items():
                    r = one_run(lab, log, Path(tree), Path(tmp) / f"{name}-{i}.json")
                    results[name].append(r)
                    load = os.getloadavg()[0]
                    print(f"run {i + 1} {name}: GET / sent {r['get_root_sent']:,}, all sent "
                          f"{r['all_sent']:,}, http bytes {r['http_bytes']:,}, wall "
                          f"{r['wall']:.2f} s, CPU {r['cpu']:.2f} s, RSS {r['rss_mb']:.1f} MB, "
                          f"entries {r['entries']}, load {load:.2f}", flush=True)  # fmt: skip
    finally:
        if not a.ns:
            subprocess.run([*lab, "down"], check=False, capture_output=True)
    print("\n| tree | GET / sent (B) | all sent (B) | http bytes | wall s | CPU s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rs in results.items():
        def med(k: str, rs: list[dict[str, Any]] = rs) -> float:
            return statistics.median(r[k] for r in rs)

        print(f"| {name} | {med('get_root_sent'):,.0f} | {med('all_sent'):,.0f} | "
              f"{med('http_bytes'):,.0f} | {med('wall'):.2f} | {med('cpu'):.2f} | "
              f"{med('rss_mb'):.1f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
