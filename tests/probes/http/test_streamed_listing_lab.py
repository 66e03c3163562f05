"""Listing pages parsed as they stream (issue 20), counted at a real server: the lab's crawl
nginx serves a 100,000-entry directory on 127.0.10.81:8000 (about 11 MB of autoindex HTML) and
logs the body bytes it sent for every request (``$body_bytes_sent``, with a 64 KiB send buffer
on that server so that what it counts as sent is what left it, not what it queued).

A default scan reads that page only until it is a listing cut at the entry bound: 2,000 entries
and the parser's slack of 64 are 2,064 rows of about 115 bytes (0.24 MB), rounded up to the
parser's 32,768-character block and the client's last 64 KiB read (0.32 MB taken), then the
connection is closed. What was in flight by then is sent too: asyncio's last read (up to
256 KiB), the 128 KiB receive buffer the client sets for a streamed read
(``http_client.STREAM_WINDOW``) and nginx's send buffer; nginx logs about 0.65 MB. With
streaming off the same scan takes the page up to the byte bound of one page (2 MiB; nginx sends
4-5 MB) and the streamed bound fails: the parametrised ``buffered`` case checks that it does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lab_fixtures import Lab

import probes.http as http_probe
from scanner.engine import scan_targets
from scanner.lab.services import crawl as svc
from scanner.models import Kind
from scanner.protocols.http_client import MAX_PAGE_BODY

pytestmark = pytest.mark.lab

STREAMED_BOUND = 1_000_000
"""Body bytes nginx may send for the flat page when it is parsed as it streams."""


def _lines(path: Path) -> list[list[str]]:
    text = path.read_text(errors="replace") if path.exists() else ""
    return [ln.split() for ln in text.splitlines()]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "buffered"])
async def test_flat_page_is_read_to_its_entry_bound(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    monkeypatch.setattr(http_probe, "STREAM_LISTINGS", stream)
    log = lab.ctx.state / "crawl" / "http" / "access-flat.log"
    before = len(_lines(log))
    port = svc.HTTP_PORTS["flat"]
    report = await scan_targets([svc.HTTP_ADDR], ports=str(port), yes=True, seed=0)
    await asyncio.sleep(0.3)  # nginx writes its log line after the connection ends
    roots = [ln for ln in _lines(log)[before:] if ln[:2] == ["GET", "/"]]
    assert len(roots) == 1, roots  # one fetch (the S3 probe's GET / is answered by the cache)
    sent = int(roots[0][3])
    (found,) = [
        f for f in report.findings
        if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.protocol == "http" and f.port == port
    ]  # fmt: skip
    assert found.evidence["family"] == "nginx" and found.evidence["truncated"] is True
    assert found.evidence["files_seen"] == 2000  # the same listing either way
    if stream:
        assert sent < STREAMED_BOUND
    else:  # the check above fails without streaming: the page is read to its byte bound
        assert sent >= MAX_PAGE_BODY > STREAMED_BOUND
