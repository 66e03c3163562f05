"""The S3 probe against the lab's moto_server (public buckets) and its AccessDenied twin;
and the HTTP probe standing back from the S3 endpoint (no double report)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lab_fixtures import Lab

from probes.http import PROBE as HTTP
from probes.s3 import PROBE
from scanner.lab import manifest
from scanner.models import Kind, ServiceInfo, Status
from scanner.probe import ProbeContext
from scanner.triage import triage_finding

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("name", ["s3-open", "s3-twin"])
async def test_s3_matches_manifest(
    lab: Lab, make_ctx: Callable[..., ProbeContext], name: str
) -> None:
    t = lab.target(name)
    result = await PROBE.run(ServiceInfo(host=t.host, port=t.port), make_ctx(timeout=30.0))
    assert result.protocol == "s3", result.detail
    assert manifest.check(manifest.Manifest([t]), result.findings) == []
    assert any(f.kind == Kind.CLEARTEXT_TRANSPORT for f in result.findings)


async def test_s3_open_bucket_evidence(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    t = lab.target("s3-open")
    result = await PROBE.run(ServiceInfo(host=t.host, port=t.port), make_ctx(timeout=30.0))
    (rec,) = [f for f in result.findings if f.resource == "call-recordings"]
    assert rec.evidence["objects"] > 10
    assert triage_finding(rec).evidence["total_size"] > 0  # triage builds the summary
    assert rec.evidence["bucket_listed_by_listbuckets"] is True
    assert rec.listing is not None and any(e.path.endswith(".wav") for e in rec.listing.entries)


async def test_s3_twin_denies(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    t = lab.target("s3-twin")
    result = await PROBE.run(ServiceInfo(host=t.host, port=t.port), make_ctx(timeout=30.0))
    assert result.status == Status.AUTH_REQUIRED
    assert result.info["list_buckets"] == "AccessDenied"


async def test_http_probe_leaves_s3_to_the_s3_probe(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("s3-open")
    result = await HTTP.run(ServiceInfo(host=t.host, port=t.port), make_ctx(timeout=30.0))
    assert result.status == Status.NOT_APPLICABLE and result.protocol == "s3"
    assert result.findings == []


async def test_s3_probe_not_applicable_on_plain_web_server(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("http-apache")
    result = await PROBE.run(ServiceInfo(host=t.host, port=t.port), make_ctx(timeout=30.0))
    assert result.status == Status.NOT_APPLICABLE and result.findings == []
