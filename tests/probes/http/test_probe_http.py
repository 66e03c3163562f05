"""The HTTP probe against the lab's real servers (nginx/Apache/lighttpd/http.server/WebDAV,
Basic-auth twins, the "Index of" trap), checked against the expected-results manifest."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lab_fixtures import Lab

from probes.http import PROBE
from scanner.lab import manifest
from scanner.models import Kind, ProbeResult, ServiceInfo, Status
from scanner.probe import ListingBounds, ProbeContext
from scanner.triage import triage_finding

pytestmark = pytest.mark.lab

HTTP_TARGETS = [
    "http-nginx-443", "http-apache", "http-lighttpd", "http-python", "http-webdav",
    "http-auth", "http-https-auth", "http-trap", "http-webfs", "http-mini-httpd",
]  # fmt: skip


async def _run(make_ctx: Callable[..., ProbeContext], host: str, port: int) -> ProbeResult:
    return await PROBE.run(ServiceInfo(host=host, port=port), make_ctx(timeout=30.0))


@pytest.mark.parametrize("name", HTTP_TARGETS)
async def test_http_target_matches_manifest(
    lab: Lab, make_ctx: Callable[..., ProbeContext], name: str
) -> None:
    t = lab.target(name)
    result = await _run(make_ctx, t.host, t.port)
    assert result.status not in (Status.ERROR, Status.TIMEOUT), result.detail
    problems = manifest.check(manifest.Manifest([t]), result.findings)
    assert problems == [], [f.model_dump() for f in result.findings]
    # every unauthenticated finding carries a bounded listing; triage summarises it
    for f in result.findings:
        if f.kind == Kind.UNAUTHENTICATED_ACCESS:
            assert f.listing is not None and f.listing.entries
            ev = triage_finding(f).evidence
            assert ev["files_seen"] > 0 and ev["samples"] and "sample" not in ev


async def test_1177_server_plain_http_on_443_is_evidence(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("http-nginx-443")
    result = await _run(make_ctx, t.host, t.port)
    assert result.tls is False
    (clear,) = [f for f in result.findings if f.kind == Kind.CLEARTEXT_TRANSPORT]
    assert clear.evidence["tls_conventional_port"] == 443
    (unauth,) = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert unauth.resource == "/" and unauth.evidence["family"] == "nginx"
    names = [e.path for e in unauth.listing.entries] if unauth.listing else []
    assert any(p.startswith("/2019/") and p.endswith((".wav", ".mp3")) for p in names)
    sized = [e for e in unauth.listing.entries if not e.is_dir] if unauth.listing else []
    assert sized and all(e.size is not None and e.size > 0 for e in sized)


async def test_webdav_reported_as_webdav_with_write_hint(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("http-webdav")
    result = await _run(make_ctx, t.host, t.port)
    dav = [f for f in result.findings if f.protocol == "webdav"]
    assert {f.resource for f in dav} >= {"/", "/dav/"}
    assert all(f.kind == Kind.UNAUTHENTICATED_ACCESS for f in dav)
    assert result.info.get("dav") == ["1"]


async def test_basic_auth_over_plaintext_is_cleartext_only(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("http-auth")
    result = await _run(make_ctx, t.host, t.port)
    assert result.status == Status.AUTH_REQUIRED
    (clear,) = result.findings
    assert clear.kind == Kind.CLEARTEXT_TRANSPORT
    assert clear.evidence["auth_over_plaintext"] == ["basic"]


async def test_trap_is_seen_as_soft404_and_not_a_listing(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("http-trap")
    result = await _run(make_ctx, t.host, t.port)
    assert result.info["soft404"] is True
    assert result.findings == []


async def test_crawl_respects_bounds(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    t = lab.target("http-nginx-443")
    bounds = ListingBounds(depth=1, entries=5, requests=6)
    result = await PROBE.run(
        ServiceInfo(host=t.host, port=t.port), make_ctx(bounds=bounds, timeout=30.0)
    )
    (unauth,) = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert unauth.listing is not None and unauth.listing.truncated
    assert len(unauth.listing.entries) <= 5
    assert all(e.path.count("/") <= 2 for e in unauth.listing.entries)
    assert unauth.evidence["pages"] <= 6
    assert result.info["requests"] <= 6 * 2  # discovery + this root's crawl


async def test_detect_on_unclaimed_port(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    t = lab.target("http-python")
    assert await PROBE.detect(ServiceInfo(host=t.host, port=t.port), make_ctx())
    r = lab.target("rsync")
    assert not await PROBE.detect(
        ServiceInfo(host=r.host, port=r.port, greeting=b"@RSYNCD: 32.0\n"), make_ctx()
    )
