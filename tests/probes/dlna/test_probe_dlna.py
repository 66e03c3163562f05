"""The DLNA probe against the lab's MiniDLNA (127.0.10.91:8200) and its non-UPnP twin
(127.0.10.92:8200): the media library is browsable by anyone and counted from the content
directory; the twin gives nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lab_fixtures import Lab

from probes.dlna import PROBE
from scanner.engine import scan_targets
from scanner.lab import content, manifest
from scanner.lab.services.dlna import MEDIA_EXT
from scanner.models import Access, Kind, ServiceInfo, Severity, Status, Transport
from scanner.probe import ListingBounds, ProbeContext
from scanner.triage import triage_finding

pytestmark = pytest.mark.lab

RECORDINGS = [f for f in content.files() if f.path.endswith(MEDIA_EXT)]


async def test_minidlna_library_browsable_and_counted(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("dlna-minidlna")
    assert PROBE.claims_port(8200, Transport.TCP)
    res = await PROBE.run(ServiceInfo(host=t.host, port=t.port), make_ctx(timeout=30.0))
    assert res.status == Status.SUCCESS, res.detail
    assert manifest.check(manifest.Manifest([t]), res.findings) == []
    (f,) = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.listing is not None and not f.listing.truncated
    files = [e for e in f.listing.entries if not e.is_dir]
    # every media file once, though MiniDLNA shows each under several views
    assert len(files) == len(RECORDINGS) == 37
    assert sum(e.size or 0 for e in files) == sum(len(r.data) for r in RECORDINGS)
    assert f.evidence["items_in_several_views"] > 0
    assert f.access == Access.READ and f.evidence["head"]["status"] == 200
    assert res.info["device"]["model_name"].endswith("(MiniDLNA)")
    assert f.listing.requests is not None and f.listing.requests < ListingBounds().requests
    t_f = triage_finding(f)
    assert t_f.severity == Severity.CRITICAL
    assert t_f.evidence["categories"]["recording"] == 37
    assert all("-XXXX_" in s for s in t_f.evidence["samples"])


async def test_twin_is_not_upnp(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    t = lab.target("dlna-twin")
    res = await PROBE.run(ServiceInfo(host=t.host, port=t.port), make_ctx(timeout=10.0))
    assert res.status == Status.NOT_APPLICABLE and not res.findings
    assert "no UPnP device description" in (res.detail or "")


async def test_scan_reports_minidlna_critical_and_nothing_for_the_twin(lab: Lab) -> None:
    mini, twin = lab.target("dlna-minidlna"), lab.target("dlna-twin")
    report = await scan_targets([f"{mini.host}-{twin.host.rsplit('.', 1)[1]}"], ports="8200")
    m = manifest.Manifest([mini, twin])
    assert manifest.check(m, report.findings, report.services) == []
    crit = [f for f in report.findings if f.severity == Severity.CRITICAL]
    assert [(f.host, f.protocol) for f in crit] == [(mini.host, "dlna")]
    assert not [f for f in report.findings if f.host == twin.host]
    (svc,) = [s for s in report.services if s.host == twin.host]
    assert svc.probes["dlna"] == Status.NOT_APPLICABLE


async def test_sample_bytes_reads_first_bytes_of_items_only_when_asked(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("dlna-minidlna")
    svc = ServiceInfo(host=t.host, port=t.port)
    off = await PROBE.run(svc, make_ctx(timeout=30.0))
    (f0,) = [f for f in off.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert "sniffed" not in f0.evidence and "intrusive" not in off.info
    on = await PROBE.run(svc, make_ctx(timeout=30.0, sample_bytes=64,
                                       options={"dlna.sample_files": 2}))  # fmt: skip
    (f,) = [f for f in on.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.evidence["intrusive"] == ["sample-bytes"] and f.evidence["sample_bytes"] == 64
    assert f.evidence["sampled_files"] == 2
    assert set(f.evidence["sniffed"].values()) <= {"wav", "mp3"} and f.evidence["sniffed"]
