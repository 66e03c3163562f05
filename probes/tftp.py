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
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scanner.catchall import CatchAllCheck
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Entry,
    Listing,
    ProbeResult,
    ServiceInfo,
    Status,
    Transport,
)
from scanner.probe import MAX_SAMPLE_FILES, ProbeContext, ProbeOption
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe, Samples
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


@dataclass
class TftpFacts(Facts):
    names: list[str] = field(default_factory=list)
    """The well-known names to try (option ``tftp.names``, cut to the request bound)."""
    per_request: float = 3.0
    random_name: str = ""
    alive: tftp.ReadResult | None = None
    """The answer to the random name (None: no answer yet)."""
    found: list[tftp.ReadResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    """Names answered with an error other than "file not found", or timed out."""
    samples: Samples = field(default_factory=Samples)
    """``--sample-bytes``: the kept part of the found files' first block."""

    @property
    def catch_all(self) -> CatchAllCheck:
        """A server that "has" the random name has every name: guess nothing."""
        return CatchAllCheck(self.random_name, bool(self.alive and self.alive.exists))


class TFTPProbe(GatherJudgeProbe[TftpFacts]):
    name = "tftp"
    default_ports = (69,)
    transport = Transport.UDP
    description = (
        "TFTP: liveness by a random read request, then first blocks of well-known file names"
    )
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("timeout", "float", 3.0, "seconds per request", minimum=0.01),
        ProbeOption("names", "list", WELL_KNOWN, "file names tried"),
    )
    protocol_errors = (tftp.TFTPProtocolError,)
    timeout_detail = "no TFTP answer"

    def udp_payload(self, port: int) -> bytes | None:
        """A read request for a random name: any TFTP server answers (an ERROR is an answer)."""
        return tftp.rrq(f"nasscan-{secrets.token_hex(6)}.none")

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> TftpFacts:
        names = list(self.option(ctx, "names")) or list(WELL_KNOWN)
        given = max(0, int(ctx.sample_bytes or 0))
        note = (f"TFTP reads only the first {tftp.BLOCK}-byte block of each file"
                if given > tftp.BLOCK else None)
        return TftpFacts(
            service,
            names=names[: max(1, ctx.bounds.requests - 1)],
            per_request=float(
                self.option(ctx, "timeout", default=min(3.0, ctx.dialer.read_timeout))
            ),
            random_name=f"nasscan-{secrets.token_hex(6)}.none",
            # only block 1 is ever read: N bytes of it are kept (evidence shows N as asked)
            samples=Samples(size=given, files=MAX_SAMPLE_FILES if given else 0, note=note),
        )  # fmt: skip

    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: TftpFacts, deadline: Deadline
    ) -> None:
        host, port = service.host, service.port
        facts.alive = await tftp.read_first_block(
            ctx.dialer, host, facts.random_name, port=port, timeout=facts.per_request
        )
        keep = min(facts.samples.size, tftp.BLOCK)
        for name in facts.catch_all.guesses(facts.names):
            try:
                r = await tftp.read_first_block(
                    ctx.dialer, host, name, port=port, timeout=facts.per_request
                )
            except TimeoutError:
                facts.errors[name] = "timeout"
                continue
            if r.exists:
                facts.found.append(r)
                if facts.samples.on and len(facts.samples.data) < facts.samples.files:
                    facts.samples.data[r.name] = r.first_block[:keep]
            elif r.error and r.error.code != 1:
                facts.errors[name] = r.error.message or tftp.ERROR_CODES.get(r.error.code, "?")

    def judge(self, facts: TftpFacts, cut: Cut | None) -> ProbeResult:
        alive = facts.alive
        if alive is None:  # not even the random name was answered
            return cut.result() if cut else ProbeResult(status=Status.ERROR, detail="no answer")
        found = facts.found
        info: dict[str, Any] = {
            "random_name": "exists?!" if alive.exists else
            f"error {alive.error.code if alive.error else '?'}: "
            f"{alive.error.message if alive.error else ''}"[:120],
        }
        if facts.errors:
            info["errors"] = dict(list(facts.errors.items())[:8])
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
            "names_tried": len(facts.names),
            "random_name_answer": info["random_name"],
            **facts.catch_all.evidence(),
        }
        if facts.samples.size > 0:
            evidence.update(facts.samples.evidence())
        findings = [
            self.unauthenticated(
                facts, "/",
                f"TFTP server serves files without authentication ({len(found)} "
                "well-known name(s) readable)" if found
                else "TFTP server answers without authentication",
                access=Access.READ if found else None,
                encryption=Encryption.NONE,
                evidence=evidence,
                remediation="Turn TFTP off or restrict it to the boot network and the hosts "
                "that need it; TFTP has no authentication at all.",
                listing=Listing(entries=entries, truncated=True),
            ),
            self.cleartext(
                facts, "TFTP transfers files in plaintext",
                authentication=Authentication.NONE,
                resource="/",
                evidence={"files_found": len(found)},
                remediation="Use an authenticated, encrypted transfer (SFTP/HTTPS) instead.",
            ),
        ]  # fmt: skip
        detail = f"TFTP alive; {len(found)} of {len(facts.names)} names exist"
        return ProbeResult(
            status=cut.status if cut else Status.SUCCESS, protocol="tftp", findings=findings,
            info=info, detail=cut.detail if cut else detail,
        )  # fmt: skip


PROBE = TFTPProbe()
