"""iSCSI probe: discovery with AuthMethod=None, then a normal-session login per target.

A target that accepts a normal-session login with AuthMethod=None gives block-level access to
its disks without authentication (``unauthenticated-access``, resource = the target IQN). A
CHAP demand or an authentication/authorization failure is authentication required: we try the
login for real instead of trusting the discovery answer (nmap's iscsi-info gets CHAP targets
wrong). iSCSI has no encryption of its own: one ``cleartext-transport`` finding per portal.
After an accepted login, read-only SCSI metadata commands (REPORT LUNS, INQUIRY, READ CAPACITY,
MODE SENSE) describe the LUNs: ``access`` is ``write`` when a disk is not write-protected, else
``read``; no block is ever read or written (option ``iscsi.luns=false`` skips this). Every
session is logged out.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scanner.models import (
    Access,
    Authentication,
    Encryption,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.probe import ProbeContext, ProbeOption
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe
from scanner.protocols import iscsi

SESSION_END_ERRORS = (iscsi.ISCSIProtocolError, OSError, TimeoutError)
"""What a logout may fail with: recorded as not confirmed, the probe goes on."""


@dataclass
class TargetLogin:
    """The normal-session login to one target and what followed it."""

    target: iscsi.SendTarget
    outcome: iscsi.LoginOutcome
    luns: list[iscsi.LunInfo] | None = None
    """LUN metadata (None: not examined, or the SCSI commands failed)."""
    logout: bool | None = None
    """The target confirmed the logout (None: no session to log out of)."""


@dataclass
class IscsiFacts(Facts):
    initiator: str = iscsi.DEFAULT_INITIATOR
    describe_luns: bool = True
    discovery: iscsi.LoginOutcome | None = None
    """The discovery-session login with AuthMethod=None (None: no answer yet)."""
    targets: list[iscsi.SendTarget] = field(default_factory=list)
    discovery_logout: bool | None = None
    logins: list[TargetLogin] = field(default_factory=list)


class ISCSIProbe(GatherJudgeProbe[IscsiFacts]):
    name = "iscsi"
    default_ports = (3260,)
    description = "iSCSI: discovery (SendTargets) and a per-target login with AuthMethod=None"
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("initiator", "str", iscsi.DEFAULT_INITIATOR, "initiator IQN we log in as"),
        ProbeOption("luns", "bool", True, "describe LUNs (REPORT LUNS, INQUIRY, READ CAPACITY)"),
    )
    facts_type = IscsiFacts
    protocol_errors = (iscsi.ISCSIProtocolError, asyncio.IncompleteReadError)
    timeout_detail = "no iSCSI answer in time"

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> IscsiFacts:
        return IscsiFacts(service, initiator=str(self.option(ctx, "initiator")),
                          describe_luns=bool(self.option(ctx, "luns")))

    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: IscsiFacts, deadline: Deadline
    ) -> None:
        host, port = service.host, service.port
        async with ctx.dialer.tcp(host, port) as conn:
            disc = iscsi.Session(conn, initiator=facts.initiator)
            facts.discovery = await disc.login(None)
            if not facts.discovery.ok:
                return
            facts.targets = await disc.send_targets()
            with contextlib.suppress(*SESSION_END_ERRORS):
                facts.discovery_logout = await disc.logout()
        for t in facts.targets[: ctx.bounds.resources]:
            async with ctx.dialer.tcp(host, port) as conn:
                s = iscsi.Session(conn, initiator=facts.initiator)
                login = TargetLogin(t, await s.login(t.name))
                facts.logins.append(login)
                if not login.outcome.ok:
                    continue
                if facts.describe_luns:
                    with contextlib.suppress(iscsi.ISCSIProtocolError, TimeoutError):
                        login.luns = await s.describe_luns()
                login.logout = False
                with contextlib.suppress(*SESSION_END_ERRORS):
                    login.logout = await s.logout()

    def judge(self, facts: IscsiFacts, cut: Cut | None) -> ProbeResult:
        outcome = facts.discovery
        if outcome is None:  # cut before the discovery login was answered
            return cut.result() if cut else ProbeResult(status=Status.ERROR, detail="no answer")
        info: dict[str, Any] = {"discovery": outcome.detail}
        if facts.discovery_logout is not None:
            info["discovery_logout"] = facts.discovery_logout
        cleartext = self.cleartext(
            facts, "iSCSI portal speaks plaintext (block data and login unencrypted)",
            authentication=Authentication.NONE if outcome.ok else Authentication.REQUIRED,
            evidence={"discovery": "open" if outcome.ok else outcome.detail,
                      "targets": [t.name for t in facts.targets[:16]]},
            remediation="Carry iSCSI only over an isolated storage network or IPsec; "
            "require mutual CHAP on every target.",
        )  # fmt: skip
        if not outcome.ok:
            status = Status.AUTH_REQUIRED if outcome.auth_required else Status.REFUSED
            return ProbeResult(status=status, protocol="iscsi", findings=[cleartext],
                               detail=f"discovery login: {outcome.detail}", info=info)
        findings = [cleartext]
        results: dict[str, str] = {}
        logouts: dict[str, bool] = {}
        for login in facts.logins:
            name, o = login.target.name, login.outcome
            if not o.ok:
                results[name] = "auth-required" if o.auth_required else o.detail
                continue
            results[name] = "open"
            if login.logout is not None:
                logouts[name] = login.logout
            disks = [x for x in login.luns or [] if x.device_type == 0]
            writable = any(x.write_protected is False for x in disks)
            findings.append(self.unauthenticated(
                facts, name, f"iSCSI target {name} accepts a login without authentication",
                encryption=Encryption.NONE,
                access=Access.WRITE if writable else Access.READ,
                evidence={"auth_method": "None", "addresses": login.target.addresses[:4],
                          "access": "block-level SCSI after login (no block read or "
                          "written; write protection from MODE SENSE)",
                          "luns": _lun_evidence(login.luns),
                          "negotiated": dict(list(o.target_keys.items())[:8])},
                remediation="Require CHAP (better mutual CHAP) and restrict the target's "
                "initiator ACL to the hosts that use it.",
            ))  # fmt: skip
        info["targets"] = results
        info["logouts"] = logouts
        n_open = sum(1 for v in results.values() if v == "open")
        status = Status.SUCCESS
        if facts.targets and not n_open and all(v == "auth-required" for v in results.values()):
            status = Status.AUTH_REQUIRED
        detail = f"{len(facts.targets)} target(s), {n_open} open without CHAP"
        if cut is not None:
            status, detail = cut.status, cut.detail
        return ProbeResult(status=status, protocol="iscsi", findings=findings, info=info,
                           detail=detail)


def _lun_evidence(luns: list[iscsi.LunInfo] | None) -> list[dict[str, Any]] | str:
    if luns is None:
        return "not examined"
    out: list[dict[str, Any]] = []
    for x in luns[:8]:
        dtype = x.device_type
        item: dict[str, Any] = {
            "lun": x.lun,
            "type": _DEVICE_TYPES.get(dtype, dtype) if dtype is not None else None,
            "product": f"{x.vendor} {x.product}".strip(),
        }
        if x.size_bytes is not None:
            item["size_bytes"] = x.size_bytes
        if x.write_protected is not None:
            item["write_protected"] = x.write_protected
        out.append(item)
    return out


_DEVICE_TYPES = {0: "disk", 1: "tape", 5: "cd/dvd", 12: "controller", 13: "enclosure"}

PROBE = ISCSIProbe()
