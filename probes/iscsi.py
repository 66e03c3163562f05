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
from typing import Any, ClassVar

from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Finding,
    Kind,
    ProbeResult,
    ServiceInfo,
    Status,
    Transport,
)
from scanner.probe import Probe, ProbeContext, ProbeOption, result_for_exception
from scanner.protocols import iscsi


class ISCSIProbe(Probe):
    name: ClassVar[str] = "iscsi"
    default_ports: ClassVar[tuple[int, ...]] = (3260,)
    transport: ClassVar[Transport] = Transport.TCP
    description: ClassVar[str] = (
        "iSCSI: discovery (SendTargets) and a per-target login with AuthMethod=None"
    )
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("initiator", "str", iscsi.DEFAULT_INITIATOR, "initiator IQN we log in as"),
        ProbeOption("luns", "bool", True, "describe LUNs (REPORT LUNS, INQUIRY, READ CAPACITY)"),
    )

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        try:
            return await self._run(service, ctx)
        except Exception as exc:  # never raise
            return result_for_exception(
                exc,
                protocol_errors=(iscsi.ISCSIProtocolError, asyncio.IncompleteReadError),
                timeout_detail="no iSCSI answer in time",
            )

    async def _run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        host, port = service.host, service.port
        initiator = str(ctx.option("iscsi.initiator", iscsi.DEFAULT_INITIATOR))
        info: dict[str, Any] = {}
        async with ctx.dialer.tcp(host, port) as conn:
            disc = iscsi.Session(conn, initiator=initiator)
            outcome = await disc.login(None)
            info["discovery"] = outcome.detail
            targets: list[iscsi.SendTarget] = []
            if outcome.ok:
                targets = await disc.send_targets()
                with contextlib.suppress(iscsi.ISCSIProtocolError, OSError, TimeoutError):
                    info["discovery_logout"] = await disc.logout()
        base: dict[str, Any] = {
            "host": host, "hostname": service.hostname, "port": port,
            "transport": Transport.TCP, "protocol": "iscsi", "probe": "iscsi",
        }
        cleartext = Finding(
            **base,
            kind=Kind.CLEARTEXT_TRANSPORT,
            authentication=Authentication.NONE if outcome.ok else Authentication.REQUIRED,
            encryption=Encryption.NONE,
            title="iSCSI portal speaks plaintext (block data and login unencrypted)",
            evidence={"discovery": "open" if outcome.ok else outcome.detail,
                      "targets": [t.name for t in targets[:16]]},
            remediation="Carry iSCSI only over an isolated storage network or IPsec; "
            "require mutual CHAP on every target.",
        )
        if not outcome.ok:
            status = Status.AUTH_REQUIRED if outcome.auth_required else Status.REFUSED
            return ProbeResult(status=status, protocol="iscsi", findings=[cleartext],
                               detail=f"discovery login: {outcome.detail}", info=info)

        findings: list[Finding] = [cleartext]
        results: dict[str, str] = {}
        describe = bool(ctx.option("iscsi.luns", True))
        logouts: dict[str, bool] = {}
        for t in targets[: ctx.bounds.resources]:
            async with ctx.dialer.tcp(host, port) as conn:
                s = iscsi.Session(conn, initiator=initiator)
                o = await s.login(t.name)
                luns: list[iscsi.LunInfo] | None = None
                if o.ok:
                    if describe:
                        with contextlib.suppress(iscsi.ISCSIProtocolError, TimeoutError):
                            luns = await s.describe_luns()
                    logouts[t.name] = False
                    with contextlib.suppress(iscsi.ISCSIProtocolError, OSError, TimeoutError):
                        logouts[t.name] = await s.logout()
            if o.ok:
                results[t.name] = "open"
                disks = [x for x in luns or [] if x.device_type == 0]
                writable = any(x.write_protected is False for x in disks)
                findings.append(Finding(
                    **base,
                    kind=Kind.UNAUTHENTICATED_ACCESS,
                    authentication=Authentication.NONE,
                    encryption=Encryption.NONE,
                    resource=t.name,
                    access=Access.WRITE if writable else Access.READ,
                    title=f"iSCSI target {t.name} accepts a login without authentication",
                    evidence={"auth_method": "None", "addresses": t.addresses[:4],
                              "access": "block-level SCSI after login (no block read or "
                              "written; write protection from MODE SENSE)",
                              "luns": _lun_evidence(luns),
                              "negotiated": dict(list(o.target_keys.items())[:8])},
                    remediation="Require CHAP (better mutual CHAP) and restrict the target's "
                    "initiator ACL to the hosts that use it.",
                ))
            else:
                results[t.name] = "auth-required" if o.auth_required else o.detail
        info["targets"] = results
        info["logouts"] = logouts
        n_open = sum(1 for v in results.values() if v == "open")
        status = Status.SUCCESS
        if targets and not n_open and all(v == "auth-required" for v in results.values()):
            status = Status.AUTH_REQUIRED
        return ProbeResult(status=status, protocol="iscsi", findings=findings, info=info,
                           detail=f"{len(targets)} target(s), {n_open} open without CHAP")


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
