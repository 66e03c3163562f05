"""Crawl benchmark: each listing probe against the lab's crawl shapes (deep, wide, flat), with the
DEFAULT bounds (``ListingBounds()``: 50 requests, 2,000 entries, 4 MB per resource, depth 32) and
the engine's default probe timeout. Per protocol and shape: listing requests and bytes of the
resource (from the crawl itself, the server logs of ``tests/crawl/test_crawl_lab.py`` check the same
numbers), wall seconds of the probe run, peak memory traced during the run (``tracemalloc``),
files seen and the estimate.

Runs inside the lab's namespace with the ``crawl`` service up::

    sudo nasscan lab up --only crawl,nfs
    nasscan lab exec -- .venv/bin/python bench/crawl_bench.py --runs 3 [--only others,nfs]

HTTP and WebDAV rows come from the same probe run (one HTTP service lists both); SMB and rsync
rows come from one run each that lists the three shares/modules, so their seconds and memory
cover all three resources. The S3 bucket ``deep`` holds one branch of the deep tree (673 objects);
the S3 buckets ``wide`` and ``flat`` come from the lab's generating endpoint ``scanner.lab.s3gen``
(one probe run lists both; ``--only s3gen`` runs it alone).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.ftp import PROBE as FTP
from probes.http import PROBE as HTTP
from probes.nfs import PROBE as NFS
from probes.rsync import PROBE as RSYNC
from probes.s3 import PROBE as S3
from probes.smb import PROBE as SMB
from scanner.dialer import Dialer
from scanner.engine import ScanOptions
from scanner.lab import shapes
from scanner.lab.services import crawl as svc
from scanner.lab.services import nfs as nfs_svc
from scanner.models import Kind, ProbeResult, ServiceInfo
from scanner.probe import ListingBounds, ProbeContext
from scanner.triage import triage_finding

SCOPE = ipaddress.ip_network("127.0.0.0/8")
TRUTH = {"deep": shapes.DEEP_FILES, "wide": shapes.WIDE_FILES, "flat": shapes.FLAT_FILES}
S3_DEEP = 1 + shapes.DEEP_LEAF_DIRS * shapes.PER_DAY // 8
"""The S3 bucket holds the deep tree's readme and one of its 8 site/direction/year branches."""


async def _run(
    probe: Any, host: str, port: int, options: dict[str, Any] | None = None
) -> tuple[ProbeResult, float, int]:
    dialer = Dialer(SCOPE, concurrency=64, per_host=8, connect_timeout=2.0, read_timeout=5.0)
    ctx = ProbeContext(
        dialer=dialer, bounds=ListingBounds(), timeout=ScanOptions.probe_timeout,
        options=options or {},
    )  # fmt: skip
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = await probe.run(ServiceInfo(host=host, port=port), ctx)
    finally:
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        dialer.shutdown()
    return result, elapsed, peak


def _rows(result: ProbeResult, label: str, shape_of: dict[str, str], secs: float, peak: int
          ) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for f in result.findings:
        if f.kind != Kind.UNAUTHENTICATED_ACCESS or f.listing is None:
            continue
        key = f.protocol if f.protocol in shape_of else (f.resource or "").strip("/")
        shape = shape_of.get(key)
        if shape is None:
            continue
        t = triage_finding(f)
        ev = t.evidence
        lst = f.listing
        out.append({
            "protocol": f.protocol if label == "http" else label, "shape": shape,
            "requests": lst.requests, "bytes": lst.bytes_read, "seconds": secs, "peak": peak,
            "files_seen": ev["files_seen"], "estimate": ev.get("files_estimated"),
            "severity": t.severity.value,
        })  # fmt: skip
    return out


async def once(only: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "s3gen" in only or "others" in only:  # the generating S3 endpoint: buckets wide, flat
        r, s, p = await _run(S3, svc.S3GEN_ADDR, svc.S3GEN_PORT)
        rows += _rows(r, "s3", {"wide": "wide", "flat": "flat"}, s, p)
    if "nfs" in only:
        for shape in shapes.SHAPES:  # one export per run: its own seconds and memory
            opts = {"nfs.exports": f"/export/{shape}"}
            r, s, p = await _run(NFS, nfs_svc.ADDR, nfs_svc.NFS_PORT, opts)
            rows += _rows(r, "nfs", {f"export/{shape}": shape}, s, p)
    if "others" not in only:
        return rows
    for shape, port in svc.HTTP_PORTS.items():
        r, s, p = await _run(HTTP, svc.HTTP_ADDR, port)
        rows += _rows(r, "http", {"http": shape, "webdav": shape}, s, p)
    for shape, port in svc.FTP_PORTS.items():
        r, s, p = await _run(FTP, svc.FTP_ADDR, port)
        rows += _rows(r, "ftp", {"": shape}, s, p)
    every = {n: n for n in shapes.SHAPES}
    r, s, p = await _run(SMB, svc.SMB_ADDR, 445)
    rows += _rows(r, "smb", every, s, p)
    r, s, p = await _run(RSYNC, svc.RSYNC_ADDR, 873)
    rows += _rows(r, "rsync", every, s, p)
    r, s, p = await _run(S3, svc.S3_ADDR, svc.S3_PORT)
    rows += _rows(r, "s3", {"deep": "deep"}, s, p)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="others,nfs",
                    help="others (the crawl service, s3gen included), nfs, s3gen")  # fmt: skip
    args = ap.parse_args()
    only = {x.strip() for x in args.only.split(",")}
    runs = [asyncio.run(once(only)) for _ in range(max(1, args.runs))]
    print("| protocol | shape | requests | listing bytes | seconds (median) | peak MiB (run) "
          "| files seen / true | estimate | severity |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for i, row in enumerate(runs[0]):
        same = [run[i] for run in runs if i < len(run)]
        secs = statistics.median(x["seconds"] for x in same)
        peak = max(x["peak"] for x in same) / 2**20
        est = row["estimate"]
        deep_s3 = row["protocol"] == "s3" and row["shape"] == "deep"
        truth = S3_DEEP if deep_s3 else TRUTH[row["shape"]]
        print(
            f"| {row['protocol']} | {row['shape']} | {row['requests']} | {row['bytes']:,} | "
            f"{secs:.2f} | {peak:.1f} | {row['files_seen']:,} / {truth:,} | "
            f"{'about ' + format(est, ',') if est else '-'} | {row['severity']} |"
        )


if __name__ == "__main__":
    main()
