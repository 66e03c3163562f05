"""The iSCSI probe's judge on facts built here (no server): open and CHAP targets, LUN access,
a refused discovery, and a cut attempt."""

from __future__ import annotations

from typing import Any

from probes.iscsi import PROBE, IscsiFacts, TargetLogin
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Finding,
    Kind,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.probe_skeleton import Cut
from scanner.protocols import iscsi

SERVICE = ServiceInfo(host="127.0.10.61", port=3260)
OPEN = iscsi.SendTarget("iqn.2026-01.lab.nasscan:open", ["127.0.10.61:3260,1"])
CHAP = iscsi.SendTarget("iqn.2026-01.lab.nasscan:chap", ["127.0.10.61:3260,1"])
OK = iscsi.LoginOutcome(True, detail="login accepted", target_keys={"HeaderDigest": "None"})
NEEDS_CHAP = iscsi.LoginOutcome(False, 0x0201, auth_required=True, detail="authentication failed")
DISK_RO = iscsi.LunInfo(1, 0, "LIO", "disk", blocks=8192, block_size=512, write_protected=True)
DISK_RW = iscsi.LunInfo(2, 0, "LIO", "disk2", blocks=16, block_size=512, write_protected=False)


def facts(**kw: Any) -> IscsiFacts:
    base: dict[str, Any] = {"discovery": OK, "targets": [OPEN, CHAP], "discovery_logout": True}
    return IscsiFacts(SERVICE, **{**base, **kw})


def kinds(r: ProbeResult) -> dict[Kind, list[Finding]]:
    out: dict[Kind, list[Finding]] = {}
    for f in r.findings:
        out.setdefault(f.kind, []).append(f)
    return out


def test_open_target_and_chap_target() -> None:
    logins = [TargetLogin(OPEN, OK, [DISK_RO], logout=True), TargetLogin(CHAP, NEEDS_CHAP)]
    r = PROBE.judge(facts(logins=logins), None)
    assert (r.status, r.protocol) == (Status.SUCCESS, "iscsi")
    assert r.detail == "2 target(s), 1 open without CHAP"
    assert r.info == {"discovery": "login accepted", "discovery_logout": True,
                      "targets": {OPEN.name: "open", CHAP.name: "auth-required"},
                      "logouts": {OPEN.name: True}}
    (clear,) = kinds(r)[Kind.CLEARTEXT_TRANSPORT]
    assert clear.authentication is Authentication.NONE and clear.encryption is Encryption.NONE
    assert clear.evidence == {"discovery": "open", "targets": [OPEN.name, CHAP.name]}
    (f,) = kinds(r)[Kind.UNAUTHENTICATED_ACCESS]
    assert (f.resource, f.access, f.authentication) == (OPEN.name, Access.READ,
                                                        Authentication.NONE)
    assert f.evidence["luns"] == [{"lun": 1, "type": "disk", "product": "LIO disk",
                                   "size_bytes": 8192 * 512, "write_protected": True}]
    assert f.evidence["negotiated"] == {"HeaderDigest": "None"}


def test_a_disk_without_write_protection_is_write_access() -> None:
    r = PROBE.judge(facts(targets=[OPEN], logins=[TargetLogin(OPEN, OK, [DISK_RO, DISK_RW])]),
                    None)
    (f,) = kinds(r)[Kind.UNAUTHENTICATED_ACCESS]
    assert f.access is Access.WRITE
    unexamined = PROBE.judge(facts(targets=[OPEN], logins=[TargetLogin(OPEN, OK)]), None)
    assert kinds(unexamined)[Kind.UNAUTHENTICATED_ACCESS][0].evidence["luns"] == "not examined"


def test_every_target_wants_chap_is_auth_required() -> None:
    r = PROBE.judge(facts(targets=[CHAP], logins=[TargetLogin(CHAP, NEEDS_CHAP)]), None)
    assert r.status is Status.AUTH_REQUIRED
    assert list(kinds(r)) == [Kind.CLEARTEXT_TRANSPORT]


def test_refused_discovery() -> None:
    r = PROBE.judge(facts(discovery=NEEDS_CHAP, targets=[], discovery_logout=None), None)
    assert (r.status, r.detail) == (Status.AUTH_REQUIRED, "discovery login: authentication failed")
    (clear,) = r.findings
    assert clear.authentication is Authentication.REQUIRED
    assert clear.evidence["discovery"] == "authentication failed"
    other = iscsi.LoginOutcome(False, 0x0300, detail="target error")
    assert PROBE.judge(facts(discovery=other), None).status is Status.REFUSED


def test_cut_attempts() -> None:
    timeout = Cut(Status.TIMEOUT, "no iSCSI answer in time", "TimeoutError")
    none_seen = PROBE.judge(facts(discovery=None), timeout)
    assert (none_seen.status, none_seen.findings) == (Status.TIMEOUT, [])
    # cut after the open target's login: what it proved stays reported
    r = PROBE.judge(facts(logins=[TargetLogin(OPEN, OK)]), timeout)
    assert (r.status, r.detail) == (Status.TIMEOUT, "no iSCSI answer in time")
    assert [f.resource for f in kinds(r)[Kind.UNAUTHENTICATED_ACCESS]] == [OPEN.name]
    assert r.info["targets"] == {OPEN.name: "open"}
