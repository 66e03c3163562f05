"""Triage throughput: listed entries classified (and masked) per second.

Triage runs once per finding in the engine's event loop, so its cost per listed entry bounds how
many large listings a scan can digest. The workload is a full-size bounded listing (2,000 entries,
the default entry bound) shaped like the 1177 tree (recordings named with identity and phone
numbers, plus dull files), triaged with the packaged default rules.

    .venv/bin/python bench/triage_bench.py --listings 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.models import Authentication, Entry, Finding, Kind, Listing
from scanner.triage import triage_finding


def listing(seed: int, n: int) -> Listing:
    entries = []
    for i in range(n):
        if i % 10 == 9:
            entries.append(Entry(path=f"{seed}/docs/readme_{i}.txt", size=1200))
        else:
            day = 1 + i % 28
            entries.append(
                Entry(
                    path=f"{seed}/2019/03/197903{day:02d}-{i % 1000:03d}{i % 10}_070{i:07d}_"
                    f"201903{day:02d}T101500.wav",
                    size=480_000,
                )
            )
    return Listing(entries=entries, truncated=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listings", type=int, default=20)
    ap.add_argument("--entries", type=int, default=2000)
    args = ap.parse_args()
    times = []
    for k in range(args.listings):
        f = Finding(
            host="127.0.10.21",
            port=443,
            protocol="http",
            kind=Kind.UNAUTHENTICATED_ACCESS,
            authentication=Authentication.NONE,
            resource=f"/{k}/",
            title="bench",
            listing=listing(k, args.entries),
        )
        t0 = time.perf_counter()
        out = triage_finding(f)
        times.append(time.perf_counter() - t0)
        assert out.evidence["files"] == args.entries
    med = statistics.median(times)
    print(
        f"triage: {args.listings} listings x {args.entries} entries: median {med * 1000:.1f} ms "
        f"per listing, {args.entries / med:,.0f} entries/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
