"""Every captured listing of tests/listing_corpus/ end to end through the HTTP probe: served
at ``/share/`` by an in-process server on 127.0.68.x whose listed files answer HEAD (and
nothing else exists), the probe must report one listing there with the right entry count,
family fast path or structure plus confirmation alike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from probes.http import PROBE
from scanner.models import Kind, ServiceInfo
from scanner.probe import ProbeContext

CORPUS = Path(__file__).parent / "listing_corpus"
CAPTURED = sorted(CORPUS.glob("cap_*.expected.json"))


async def _serve(
    page: bytes, exp: dict[str, object], *, files_exist: bool = True
) -> tuple[asyncio.Server, int]:
    entries = exp["entries"] if files_exist else []
    files = {e["name"]: e for e in entries if not e["is_dir"]}  # type: ignore[attr-defined]

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            method, target = head.decode("latin-1").split(" ", 2)[:2]
            path = unquote(urlsplit(target).path)
            if method == "GET" and path == "/share/":
                status, ctype, body = 200, str(exp["content_type"]), page
            elif method == "HEAD" and path.startswith("/share/") and path[7:] in files:
                size = files[path[7:]]["size"]
                status, ctype, body = 200, "application/octet-stream", b"x" * size
            else:
                status, ctype, body = 404, "text/html", b"<html><body>not found</body></html>"
            w.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}"
                "\r\nConnection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                w.write(body)
            await w.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(on_conn, "127.0.68.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


@pytest.mark.parametrize("exp_path", CAPTURED, ids=lambda p: p.name.split(".")[0])
async def test_probe_reports_each_captured_listing(
    make_ctx: Callable[..., ProbeContext], exp_path: Path
) -> None:
    exp = json.loads(exp_path.read_text())
    page = exp_path.with_name(exp_path.name.removesuffix(".expected.json")).read_bytes()
    server, port = await _serve(page, exp)
    try:
        result = await PROBE.run(ServiceInfo(host="127.0.68.1", port=port), make_ctx(timeout=20))
    finally:
        server.close()
        await server.wait_closed()
    (f,) = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.resource == "/share/" and f.listing is not None
    top = {e.path.rstrip("/") for e in f.listing.entries}
    assert top == {"/share/" + e["name"] for e in exp["entries"]}
    assert f.evidence["family"] == exp["family"]


@pytest.mark.parametrize("exp_path", CAPTURED, ids=lambda p: p.name.split(".")[0])
async def test_structure_alone_is_not_reported_when_no_entry_exists(
    make_ctx: Callable[..., ProbeContext], exp_path: Path
) -> None:
    """The same pages on a server where no listed file or directory exists: a page known by
    structure alone is not confirmed, so not reported; a family's page still is."""
    exp = json.loads(exp_path.read_text())
    page = exp_path.with_name(exp_path.name.removesuffix(".expected.json")).read_bytes()
    server, port = await _serve(page, exp, files_exist=False)
    try:
        result = await PROBE.run(ServiceInfo(host="127.0.68.1", port=port), make_ctx(timeout=20))
    finally:
        server.close()
        await server.wait_closed()
    found = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    structural = str(exp["family"]).startswith("generic")
    assert len(found) == (0 if structural else 1)


def test_corpus_has_captures() -> None:
    assert len(CAPTURED) >= 25
