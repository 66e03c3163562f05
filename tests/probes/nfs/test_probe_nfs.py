"""The NFS probe against the lab's nfs-ganesha + rpcbind (open AUTH_SYS export, krb5p twin)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from lab_fixtures import Lab

from probes.nfs import PROBE
from scanner.lab import content, manifest
from scanner.lab.services.nfs import SHAPE_EXPORTS
from scanner.models import Authentication, Encryption, Finding, Kind, ServiceInfo, Status
from scanner.probe import ListingBounds, ProbeContext

OPEN = "/export/open"
SHAPES = [pseudo for _, pseudo in SHAPE_EXPORTS.values()]

pytestmark = pytest.mark.lab


async def run(
    lab: Lab, ctx: ProbeContext, port: int = 2049
) -> tuple[Status, dict[str, Any], list[Finding]]:
    t = lab.target("nfs")
    res = await PROBE.run(ServiceInfo(host=t.host, port=port), ctx)
    return res.status, res.info, res.findings


@pytest.mark.parametrize("port", [111, 2049])
async def test_open_export_over_v3_and_v4(
    lab: Lab, make_ctx: Callable[..., ProbeContext], port: int
) -> None:
    t = lab.target("nfs")
    status, info, findings = await run(lab, make_ctx(timeout=60.0), port)
    assert status == Status.SUCCESS
    assert manifest.check(manifest.Manifest([t]), findings) == []
    unauth = [f for f in findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    # /export/open plus the crawl shapes (scanner/lab/shapes.py), exported the same way
    assert sorted(f.resource or "" for f in unauth) == sorted([OPEN, *SHAPES])
    (f,) = [x for x in unauth if x.resource == OPEN]
    assert f.port == 2049 and f.protocol == "nfs"
    assert f.authentication == Authentication.NONE
    assert f.evidence["versions"] == ["nfsv3", "nfsv4"]
    assert f.evidence["clients"] == ["(everyone)"] and f.evidence["open_to"] == "everyone"
    assert f.evidence["flavors"] == ["sys"]
    assert "read" in f.evidence["nfsv3_access"] and "modify" not in f.evidence["nfsv3_access"]
    assert f.listing is not None and not f.listing.truncated
    paths = {e.path for e in f.listing.entries}
    assert "/" + content.RECORDING_EXAMPLE in paths
    assert next(e for e in f.listing.entries if e.path == "/2019").is_dir
    # the Kerberos-only twin: refused to AUTH_SYS over both versions, never reported open
    secure = info["export_states"]["/export/secure"]
    assert secure["versions"] == [] and secure["auth_required"] == ["nfsv3", "nfsv4"]
    assert secure["flavors"] == ["krb5p"]
    clear = [f for f in findings if f.kind == Kind.CLEARTEXT_TRANSPORT]
    assert sorted((c.resource or "", c.encryption) for c in clear) == sorted(
        (r, Encryption.NONE) for r in [OPEN, *SHAPES]
    )
    if os.geteuid() == 0:
        assert info["privileged_source_port"] is True


async def test_same_finding_ids_from_111_and_2049(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    _, _, a = await run(lab, make_ctx(timeout=60.0), 111)
    _, _, b = await run(lab, make_ctx(timeout=60.0), 2049)
    assert sorted(f.id for f in a) == sorted(f.id for f in b) and len(a) == 2 * (1 + len(SHAPES))


@pytest.mark.parametrize("version", ["3", "4"])
async def test_each_version_alone(
    lab: Lab, make_ctx: Callable[..., ProbeContext], version: str
) -> None:
    ctx = make_ctx(timeout=60.0, options={"nfs.versions": version})
    status, info, findings = await run(lab, ctx)
    assert status == Status.SUCCESS
    (f,) = [f for f in findings if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.resource == OPEN]
    assert f.resource == "/export/open" and f.evidence["versions"] == [f"nfsv{version}"]
    assert f.listing is not None
    assert "/" + content.RECORDING_EXAMPLE in {e.path for e in f.listing.entries}
    assert info["export_states"]["/export/secure"]["auth_required"] == [f"nfsv{version}"]


async def test_over_udp(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    ctx = make_ctx(timeout=60.0, options={"nfs.transport": "udp"})
    status, info, findings = await run(lab, ctx, 111)
    assert status == Status.SUCCESS and info["transport"] == "udp"
    assert manifest.check(manifest.Manifest([lab.target("nfs")]), findings) == []
    (f,) = [f for f in findings if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.resource == OPEN]
    assert f.evidence["versions"] == ["nfsv3", "nfsv4"]
    assert f.listing is not None
    assert "/" + content.RECORDING_EXAMPLE in {e.path for e in f.listing.entries}


async def test_listing_is_bounded(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    ctx = make_ctx(timeout=60.0, bounds=ListingBounds(entries=5))
    _, _, findings = await run(lab, ctx)
    (f,) = [f for f in findings if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.resource == OPEN]
    assert f.listing is not None and f.listing.truncated and len(f.listing.entries) == 5
    ctx = make_ctx(timeout=60.0, bounds=ListingBounds(depth=1))
    _, _, findings = await run(lab, ctx)
    (f,) = [f for f in findings if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.resource == OPEN]
    assert f.listing is not None and f.listing.truncated
    assert f.listing.entries and all(e.path.count("/") == 1 for e in f.listing.entries)


async def test_identity_is_configurable(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    ctx = make_ctx(timeout=60.0, options={"nfs.uid": 1234, "nfs.gid": 4321})
    _, _, findings = await run(lab, ctx)
    (f,) = [f for f in findings if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.resource == OPEN]
    assert f.evidence["credential"] == "AUTH_SYS uid=1234 gid=4321"
    _, _, findings = await run(lab, make_ctx(timeout=60.0))
    (f,) = [f for f in findings if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.resource == OPEN]
    assert f.evidence["credential"] == "AUTH_SYS uid=65534 gid=65534"  # never root by default


async def test_closed_port_is_refused(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    t = lab.target("nfs")
    res = await PROBE.run(ServiceInfo(host=t.host, port=2050), make_ctx(timeout=10.0))
    assert res.status == Status.REFUSED and not res.findings
