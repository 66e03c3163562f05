"""The iSCSI probe against the lab's tgtd: the no-CHAP target is reported, the CHAP one not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lab_fixtures import Lab

from probes.iscsi import PROBE
from scanner.lab import manifest
from scanner.models import Access, Authentication, Encryption, Kind, ServiceInfo, Status
from scanner.probe import ProbeContext
from scanner.protocols import iscsi

pytestmark = pytest.mark.lab

OPEN = "iqn.2026-01.lab.nasscan:open"
CHAP = "iqn.2026-01.lab.nasscan:chap"


async def test_iscsi_matches_manifest(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    t = lab.target("iscsi")
    res = await PROBE.run(ServiceInfo(host=t.host, port=t.port), make_ctx(timeout=30.0))
    assert res.status == Status.SUCCESS, res.detail
    assert manifest.check(manifest.Manifest([t]), res.findings) == []
    unauth = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert [f.resource for f in unauth] == [OPEN]
    assert unauth[0].authentication == Authentication.NONE and unauth[0].access == Access.READ
    (clear,) = [f for f in res.findings if f.kind == Kind.CLEARTEXT_TRANSPORT]
    assert clear.encryption == Encryption.NONE and set(clear.evidence["targets"]) == {OPEN, CHAP}
    # unlike nmap's iscsi-info, the CHAP target is known to need authentication
    assert res.info["targets"] == {OPEN: "open", CHAP: "auth-required"}
    # LUN metadata from read-only SCSI commands: the lab's disk is a write-protected 4 MiB LUN
    disks = [x for x in unauth[0].evidence["luns"] if x["type"] == "disk"]
    assert disks and all(d["write_protected"] is True and d["size_bytes"] > 0 for d in disks)
    # every session we opened was logged out, and the target confirmed it
    assert res.info["discovery_logout"] is True and res.info["logouts"] == {OPEN: True}


async def test_chap_target_refuses_a_login_without_chap(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("iscsi")
    ctx = make_ctx()
    async with ctx.dialer.tcp(t.host, t.port) as conn:
        outcome = await iscsi.Session(conn).login(CHAP)
    assert not outcome.ok and outcome.auth_required
    assert outcome.status == 0x0201
    async with ctx.dialer.tcp(t.host, t.port) as conn:
        s = iscsi.Session(conn)
        ok = await s.login(OPEN)
        assert ok.ok and s.logged_in
        assert await s.logout()


async def test_nonexistent_target_is_not_open(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    t = lab.target("iscsi")
    async with make_ctx().dialer.tcp(t.host, t.port) as conn:
        outcome = await iscsi.Session(conn).login("iqn.2026-01.lab.nasscan:nope")
    assert not outcome.ok and outcome.status >> 8 == 2  # an initiator error (not found)
