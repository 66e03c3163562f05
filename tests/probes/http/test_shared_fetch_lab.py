"""One fetch per resource (issue 20), counted at a real server: the lab's crawl nginx
(127.0.10.81: the deep tree on :80, the wide tree on :8080, a 100,000-entry directory on :8000,
each with its own access log). A default scan of those ports runs the HTTP, S3 and DLNA probes
on each service (all three claim 8000/8080 or 80 and 9000); each asks ``GET /`` and before the
shared response cache the 100,000-entry page was downloaded by the HTTP probe and again by the
S3 probe. Now nginx must log ``GET /`` exactly once per service, and the listing is still found.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lab_fixtures import Lab

from scanner.engine import scan_targets
from scanner.lab.services import crawl as svc
from scanner.models import Kind

pytestmark = pytest.mark.lab


def _lines(path: Path) -> list[list[str]]:
    text = path.read_text(errors="replace") if path.exists() else ""
    return [ln.split() for ln in text.splitlines()]


async def test_get_root_is_fetched_once_per_service(lab: Lab) -> None:
    logs = {
        port: lab.ctx.state / "crawl" / "http" / f"access-{shape}.log"
        for shape, port in svc.HTTP_PORTS.items()
    }
    before = {port: len(_lines(log)) for port, log in logs.items()}
    ports = ",".join(str(p) for p in sorted(logs))
    report = await scan_targets([svc.HTTP_ADDR], ports=ports, yes=True, seed=0)
    await asyncio.sleep(0.3)  # nginx writes its log line after the response
    for port, log in logs.items():
        lines = _lines(log)[before[port]:]
        roots = [ln for ln in lines if ln[:2] == ["GET", "/"]]
        assert len(roots) == 1, (port, roots)
        ran = {name for s in report.services if s.port == port for name in s.probes}
        assert {"http", "s3"} <= ran, ran  # both probes asked this service
    listed = {
        f.port for f in report.findings
        if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.protocol == "http" and f.resource == "/"
    }  # fmt: skip
    assert listed == set(logs)  # the listings are still found, the flat one included
