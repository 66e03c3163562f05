"""Fleet benchmark: W2 (127.0.0.0/16 x 12 ports) run by 1, 2 and 4 workers, and the latency
from ``nasscan fleet submit`` to the first result stored in PostgreSQL.

Everything runs inside a loopback-only network namespace this script creates
(``nasscan-fleetbench-<pid>``, removed at the end): W2's planted listeners (bench/plant.py), a
redis-server, a PostgreSQL cluster, the workers (default settings) and the submitter. Needs root.

    sudo .venv/bin/python bench/fleet_bench.py --runs 3 --workers 1,2,4

Per run: wall time from the start of ``fleet submit`` until every part is done (polled in the
store every 20 ms), the time until the first service row of the scan was committed, recall
(the planted (host, port) pairs must be exactly the services stored). Then, once per worker
count, a one-target scan of a Python http.server directory listing with the default probes:
submit to the first *finding* row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from run import NASSCAN, PY, WORKLOADS  # noqa: E402  (bench/run.py: the workload definitions)

LISTING = ("127.1.0.80", 8080)  # outside W2's /16


def _submit(broker: str, db: str, *args: str) -> tuple[str, float]:
    t0 = time.monotonic()
    r = subprocess.run([NASSCAN, "fleet", "submit", "--broker", broker, "--db", db, *args],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return r.stdout.strip(), t0


def _poll(db: str, scan_id: str, t0: float, table: str, limit: float = 600) -> tuple[float, float]:
    """(seconds to the first row of ``table``, seconds until every part is done)."""
    import psycopg

    first = None
    with psycopg.connect(db, autocommit=True) as conn:
        while time.monotonic() - t0 < limit:
            now = time.monotonic() - t0
            if first is None:
                row = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE scan_id = %s",
                                   (scan_id,)).fetchone()
                if row and row[0]:
                    first = now
            row = conn.execute("SELECT COUNT(*) FROM fleet_shards WHERE scan_id = %s AND state"
                               " NOT IN ('done', 'failed')", (scan_id,)).fetchone()
            if row and row[0] == 0:
                return (first if first is not None else now), now
            time.sleep(0.02)
    raise RuntimeError(f"scan {scan_id} did not finish in {limit} s")


def _found(db: str, scan_id: str) -> set[tuple[str, int]]:
    import psycopg

    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT host, port FROM services WHERE scan_id = %s",
                            (scan_id,)).fetchall()
    return {(str(h), int(p)) for h, p in rows}


def inside(runs: int, counts: list[int]) -> int:
    from fleet_fixtures import Fleet, postgres_server, redis_server

    w = WORKLOADS["W2"]
    ports = ",".join(str(p) for p in w.ports)
    planted = set(w.planted)
    planter = subprocess.Popen([PY, str(HERE / "plant.py"),
                                *[f"{h}:{p}" for h, p in w.planted]],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    listing_dir = Path(tempfile.mkdtemp(prefix="nasscan-fleetbench-"))
    for i in range(5):
        (listing_dir / f"backup-{i}.tar").write_bytes(b"x" * 100)
    web = subprocess.Popen([PY, "-m", "http.server", str(LISTING[1]), "--bind", LISTING[0],
                            "--directory", str(listing_dir)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert planter.stdout is not None and planter.stdout.readline().strip() == "ready"
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    rows: list[tuple[object, float, float, float, float | None, float | None, str]] = []
    try:
        with redis_server() as broker, postgres_server() as db:
            from scanner.history.store import open_store

            open_store(db).close()
            fleet = Fleet(broker, db, Path(tempfile.mkdtemp(prefix="nasscan-fleetbench-")))
            local = []
            for _ in range(runs):  # the same work by `nasscan scan` on this machine, no fleet
                t0 = time.monotonic()
                subprocess.run([NASSCAN, "scan", w.targets, "-p", ports, "--probes", "none",
                                "--no-history", "--quiet", "--format", "json", "-o", "/dev/null"],
                               check=True, timeout=600)
                local.append(time.monotonic() - t0)
            print(f"local nasscan scan walls={[round(x, 2) for x in local]}", flush=True)
            rows.append(("local `nasscan scan`", statistics.median(local), min(local),
                         max(local), None, None, "-"))
            try:
                for n in counts:
                    workers = [fleet.start_worker(f"bench-{n}-{i}", "w2")
                               for i in range(n)]
                    for worker in workers:
                        fleet.wait_ready(worker, timeout=120)
                    walls, firsts, exact = [], [], 0
                    for _ in range(runs):
                        scan_id, t0 = _submit(broker, db, w.targets, "-p", ports, "--probes",
                                              "none", "--queue", "w2", "--shards", str(n))
                        first, wall = _poll(db, scan_id, t0, "services")
                        walls.append(wall)
                        firsts.append(first)
                        exact += _found(db, scan_id) == planted
                    scan_id, t0 = _submit(broker, db, LISTING[0], "-p", str(LISTING[1]),
                                          "--queue", "w2")
                    finding, _ = _poll(db, scan_id, t0, "findings")
                    rows.append((n, statistics.median(walls), min(walls), max(walls),
                                 statistics.median(firsts), finding, f"{exact}/{runs}"))
                    print(f"workers={n} walls={[round(x, 2) for x in walls]} "
                          f"first_service={[round(x, 2) for x in firsts]} "
                          f"first_finding={finding:.2f}", flush=True)
                    fleet.stop()  # the next worker count starts afresh
            finally:
                fleet.stop()
    finally:
        web.terminate()
        web.wait(5)
        assert planter.stdin is not None
        planter.stdin.close()
        planter.wait(5)
    print()
    print("| workers | median s | min s | max s | submit to first service s | "
          "submit to first finding s | exact recall |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for label, med, lo, hi, t_service, t_finding, exact_s in rows:
        lat = "-" if t_service is None else f"{t_service:.2f}"
        lat2 = "-" if t_finding is None else f"{t_finding:.2f}"
        print(f"| {label} | {med:.2f} | {lo:.2f} | {hi:.2f} | {lat} | {lat2} | {exact_s} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    if args.inside:
        return inside(args.runs, counts)
    ns = f"nasscan-fleetbench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        return subprocess.run(
            ["ip", "netns", "exec", ns, PY, __file__, "--inside", "--runs", str(args.runs),
             "--workers", args.workers],
        ).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    sys.exit(main())
