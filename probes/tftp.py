"""TFTP probe (UDP 69): TFTP has no authentication, so a server that answers is exposure.

A read request for a random name proves the server is alive (an ERROR packet is an answer);
then a short, bounded list of well-known names (network-device configs, PXE boot files, backups)
is requested, only the first block of each is read and the transfer is aborted. The names that
exist are the finding's listing.

Intrusive, only with ``--sample-bytes N`` (``ctx.sample_bytes > 0``): the first
``min(N, 512)`` bytes of that first block of each found file are kept and sniffed into
``evidence["sniffed"]`` (the transfer is still aborted after block 1: no ACK, no further
block). With ``sample_bytes == 0`` no file bytes reach the finding.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from scanner.catchall import CatchAllCheck
from scanner.classify.magic import sniff_evidence
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Entry,
    Finding,
    Kind,
    Listing,
    ProbeResult,
    ServiceInfo,
    Status,
    Transport,
)
from scanner.probe import Probe, ProbeContext, ProbeOption, result_for_exception
from scanner.protocols import tftp

WELL_KNOWN = (
    "startup-config",
    "running-config",
    "network-confg",
    "router-confg",
    "switch-confg",
    "config.txt",
    "config.cfg",
    "backup.cfg",
    "backup/nas.cfg",
    "backup/config.cfg",
    "backup/startup-config",
    "pxelinux.0",
    "pxelinux.cfg/default",
    "undionly.kpxe",
    "ipxe.efi",
    "bootx64.efi",
    "grub/grub.cfg",
    "boot.ini",
)


class TFTPProbe(Probe):
    name: ClassVar[str] = "tftp"
    default_ports: ClassVar[tuple[int, ...]] = (69,)
    transport: ClassVar[Transport] = Transport.UDP
    description: ClassVar[str] = (
        "TFTP: liveness by a random read request, then first blocks of well-known file names"
    )
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("timeout", "float", 3.0, "seconds per request", minimum=0.01),
        ProbeOption("names", "list", WELL_KNOWN, "file names tried"),
    )

    def udp_payload(self, port: int) -> bytes | None:
        """A read request for a random name: any TFTP server answers (an ERROR is an answer)."""
        return tftp.rrq(f"nasscan-{secrets.token_hex(6)}.none")

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        try:
            return await self._run(service, ctx)
        except Exception as exc:  # never raise
            return result_for_exception(
                exc, protocol_errors=(tftp.TFTPProtocolError,), timeout_detail="no TFTP answer"
            )

    async def _run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        host, port = service.host, service.port
        per_request = float(ctx.option("tftp.timeout", min(3.0, ctx.dialer.read_timeout)))
        names: list[str] = ctx.option_list("tftp.names", WELL_KNOWN) or list(WELL_KNOWN)
        names = names[: max(1, ctx.bounds.requests - 1)]

        probe_name = f"nasscan-{secrets.token_hex(6)}.none"
        alive = await tftp.read_first_block(
            ctx.dialer, host, probe_name, port=port, timeout=per_request
        )
        info: dict[str, Any] = {
            "random_name": "exists?!" if alive.exists else
            f"error {alive.error.code if alive.error else '?'}: "
            f"{alive.error.message if alive.error else ''}"[:120],
        }
        catch_all = CatchAllCheck(probe_name, alive.exists)  # "has" every name: guess nothing
        found: list[tftp.ReadResult] = []
        errors: dict[str, str] = {}
        for name in catch_all.guesses(names):
            try:
                r = await tftp.read_first_block(
                    ctx.dialer, host, name, port=port, timeout=per_request
                )
            except TimeoutError:
                errors[name] = "timeout"
                continue
            if r.exists:
                found.append(r)
            elif r.error and r.error.code != 1:
                errors[name] = r.error.message or tftp.ERROR_CODES.get(r.error.code, "?")
        if errors:
            info["errors"] = dict(list(errors.items())[:8])
        entries = [
            Entry(path=r.name, size=len(r.first_block) if r.size_known else None)
            for r in found
        ]
        evidence: dict[str, Any] = {
            "files": [
                {"name": r.name,
                 "size": len(r.first_block) if r.size_known else f">={tftp.BLOCK}"}
                for r in found
            ],
            "names_tried": len(names),
            "random_name_answer": info["random_name"],
            **catch_all.evidence(),
        }
        sample_bytes = max(0, int(ctx.sample_bytes or 0))
        if sample_bytes > 0:
            keep = min(sample_bytes, tftp.BLOCK)
            evidence["intrusive"] = ["sample-bytes"]
            evidence["sample_bytes"] = sample_bytes
            sniffed = sniff_evidence({r.name: r.first_block[:keep] for r in found})
            evidence["sampled_files"] = len(sniffed)
            if sniffed:
                evidence["sniffed"] = sniffed
            if sample_bytes > tftp.BLOCK:
                evidence["sample_note"] = (
                    f"TFTP reads only the first {tftp.BLOCK}-byte block of each file"
                )
        base: dict[str, Any] = {
            "host": host, "hostname": service.hostname, "port": port,
            "transport": Transport.UDP, "protocol": "tftp", "probe": "tftp",
        }
        findings = [
            Finding(
                **base,
                kind=Kind.UNAUTHENTICATED_ACCESS,
                authentication=Authentication.NONE,
                encryption=Encryption.NONE,
                resource="/",
                access=Access.READ if found else None,
                title=(
                    f"TFTP server serves files without authentication ({len(found)} "
                    "well-known name(s) readable)" if found
                    else "TFTP server answers without authentication"
                ),
                evidence=evidence,
                remediation="Turn TFTP off or restrict it to the boot network and the hosts "
                "that need it; TFTP has no authentication at all.",
                listing=Listing(entries=entries, truncated=True),
            ),
            Finding(
                **base,
                kind=Kind.CLEARTEXT_TRANSPORT,
                authentication=Authentication.NONE,
                encryption=Encryption.NONE,
                resource="/",
                title="TFTP transfers files in plaintext",
                evidence={"files_found": len(found)},
                remediation="Use an authenticated, encrypted transfer (SFTP/HTTPS) instead.",
            ),
        ]
        return ProbeResult(status=Status.SUCCESS, protocol="tftp", findings=findings, info=info,
                           detail=f"TFTP alive; {len(found)} of {len(names)} names exist")


PROBE = TFTPProbe()
