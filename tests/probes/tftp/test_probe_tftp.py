"""The TFTP probe against the lab's tftpd-hpa: alive, and the well-known files it holds."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lab_fixtures import Lab

from probes.tftp import PROBE
from scanner.lab import manifest
from scanner.models import Access, Kind, ServiceInfo, Status, Transport
from scanner.probe import ProbeContext

pytestmark = pytest.mark.lab


async def test_tftp_matches_manifest(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    t = lab.target("tftp")
    assert PROBE.claims_port(69, Transport.UDP) and not PROBE.claims_port(69, Transport.TCP)
    res = await PROBE.run(ServiceInfo(host=t.host, port=t.port, transport=Transport.UDP),
                          make_ctx(timeout=30.0))
    assert res.status == Status.SUCCESS, res.detail
    assert manifest.check(manifest.Manifest([t]), res.findings) == []
    (f,) = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.transport == Transport.UDP and f.access == Access.READ
    assert f.listing is not None
    sizes = {e.path: e.size for e in f.listing.entries}
    assert set(sizes) == {"startup-config", "pxelinux.0", "backup/nas.cfg"}
    root = lab.ctx.state / "tftp" / "root"
    # a short first block is the whole file; pxelinux.0 (1536 bytes) is only known to be >= 512
    assert sizes["startup-config"] == (root / "startup-config").stat().st_size
    assert sizes["pxelinux.0"] is None
    assert res.info["random_name"].startswith("error 1")


async def test_only_named_files_and_alive_without_files(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("tftp")
    ctx = make_ctx(options={"tftp.names": "running-config,nothing-here.bin"})
    res = await PROBE.run(ServiceInfo(host=t.host, port=t.port, transport=Transport.UDP), ctx)
    assert res.status == Status.SUCCESS
    (f,) = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.listing is not None and f.listing.entries == [] and f.access is None
    assert f.evidence["names_tried"] == 2


async def test_host_without_tftp_is_refused(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    # No server on 127.0.10.79:69: the ICMP port unreachable ends the attempt (refused), the
    # probe does not wait out its 30 s timeout and call that silence.
    ctx = make_ctx(options={"tftp.timeout": 30.0})
    res = await PROBE.run(ServiceInfo(host="127.0.10.79", port=69, transport=Transport.UDP), ctx)
    assert res.status == Status.REFUSED and not res.findings
