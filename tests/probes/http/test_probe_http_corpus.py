"""Every captured listing of tests/listing_corpus/ end to end through the HTTP probe: served
at ``/share/`` by an in-process server on 127.0.68.x whose listed files answer HEAD (and
nothing else exists), the probe must report one listing there with the right entry count,
family fast path or structure plus confirmation alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from http_answers import Answer, serve_answers
from repo_paths import CORPUS

from probes.http import PROBE
from scanner.models import Kind, ProbeResult, ServiceInfo
from scanner.probe import ProbeContext

CAPTURED = sorted(CORPUS.glob("cap_*.expected.json"))


def _answers(page: bytes, exp: dict[str, Any], files_exist: bool) -> Answer:
    files = {e["name"]: e for e in exp["entries"] if not e["is_dir"] and files_exist}

    def answer(method: str, target: str) -> tuple[int, str, bytes]:
        path = unquote(urlsplit(target).path)
        if method == "GET" and path == "/share/":
            return 200, str(exp["content_type"]), page
        if method == "HEAD" and path.startswith("/share/") and path[7:] in files:
            return 200, "application/octet-stream", b"x" * files[path[7:]]["size"]
        return 404, "text/html", b"<html><body>not found</body></html>"

    return answer


async def _probe(
    make_ctx: Callable[..., ProbeContext], exp_path: Path, files_exist: bool
) -> tuple[ProbeResult, dict[str, Any]]:
    exp = json.loads(exp_path.read_text())
    page = exp_path.with_name(exp_path.name.removesuffix(".expected.json")).read_bytes()
    async with serve_answers("127.0.68.1", _answers(page, exp, files_exist)) as port:
        result = await PROBE.run(ServiceInfo(host="127.0.68.1", port=port), make_ctx(timeout=20))
    return result, exp


@pytest.mark.parametrize("exp_path", CAPTURED, ids=lambda p: p.name.split(".")[0])
async def test_probe_reports_each_captured_listing(
    make_ctx: Callable[..., ProbeContext], exp_path: Path
) -> None:
    result, exp = await _probe(make_ctx, exp_path, True)
    (f,) = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.resource == "/share/" and f.listing is not None
    top = {e.path.rstrip("/") for e in f.listing.entries}  # paths from the listing root
    assert top == {"/" + e["name"] for e in exp["entries"]}
    assert f.evidence["family"] == exp["family"]


@pytest.mark.parametrize("exp_path", CAPTURED, ids=lambda p: p.name.split(".")[0])
async def test_structure_alone_is_not_reported_when_no_entry_exists(
    make_ctx: Callable[..., ProbeContext], exp_path: Path
) -> None:
    """The same pages on a server where no listed file or directory exists: a page known by
    structure alone is not confirmed, so not reported; a family's page still is."""
    result, exp = await _probe(make_ctx, exp_path, False)
    found = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    structural = str(exp["family"]).startswith("generic")
    assert len(found) == (0 if structural else 1)


def test_corpus_has_captures() -> None:
    assert len(CAPTURED) >= 25
