"""The TFTP probe's judge on facts built here (no server): alive, files found, catch-all,
``--sample-bytes`` evidence and a cut attempt."""

from __future__ import annotations

from typing import Any

from probes.tftp import PROBE, TftpFacts
from scanner.models import (
    Access,
    Encryption,
    Finding,
    Kind,
    ProbeResult,
    ServiceInfo,
    Status,
    Transport,
)
from scanner.probe_skeleton import Cut, Samples
from scanner.protocols import tftp

SERVICE = ServiceInfo(host="127.0.10.71", port=69, transport=Transport.UDP)
NOT_FOUND = tftp.ReadResult("nasscan-0123456789ab.none", False,
                            error=tftp.Error(1, "File not found"))
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 20


def facts(**kw: Any) -> TftpFacts:
    base: dict[str, Any] = {"names": ["startup-config", "pxelinux.0", "rec.bin"],
                            "random_name": NOT_FOUND.name, "alive": NOT_FOUND}
    return TftpFacts(SERVICE, **{**base, **kw})


def by_kind(result: ProbeResult) -> dict[Kind, Finding]:
    return {f.kind: f for f in result.findings}


def test_found_files_are_read_access_with_sizes() -> None:
    found = [tftp.ReadResult("startup-config", True, b"hostname r1\n"),
             tftp.ReadResult("pxelinux.0", True, b"\x00" * tftp.BLOCK)]
    r = PROBE.judge(facts(found=found, errors={"rec.bin": "Access violation"}), None)
    assert r.status is Status.SUCCESS and r.protocol == "tftp"
    assert r.detail == "TFTP alive; 2 of 3 names exist"
    assert r.info == {"random_name": "error 1: File not found",
                      "errors": {"rec.bin": "Access violation"}}
    f = by_kind(r)[Kind.UNAUTHENTICATED_ACCESS]
    assert (f.transport, f.resource, f.access, f.encryption) == (
        Transport.UDP, "/", Access.READ, Encryption.NONE)
    assert f.evidence["files"] == [{"name": "startup-config", "size": 12},
                                   {"name": "pxelinux.0", "size": ">=512"}]
    assert f.listing is not None
    assert [(e.path, e.size) for e in f.listing.entries] == [
        ("startup-config", 12), ("pxelinux.0", None)]
    assert "intrusive" not in f.evidence
    c = by_kind(r)[Kind.CLEARTEXT_TRANSPORT]
    assert c.evidence == {"files_found": 2} and c.transport is Transport.UDP


def test_alive_without_files_is_still_unauthenticated() -> None:
    r = PROBE.judge(facts(), None)
    f = by_kind(r)[Kind.UNAUTHENTICATED_ACCESS]
    assert f.access is None and f.title == "TFTP server answers without authentication"
    assert f.evidence["names_tried"] == 3 and f.listing is not None and f.listing.entries == []


def test_a_server_that_has_the_random_name_is_a_catch_all() -> None:
    anything = tftp.ReadResult(NOT_FOUND.name, True, b"x")
    r = PROBE.judge(facts(alive=anything), None)
    assert r.info["random_name"] == "exists?!"
    f = by_kind(r)[Kind.UNAUTHENTICATED_ACCESS]
    assert f.evidence["accepts_any_name"] is True


def test_sample_bytes_evidence() -> None:
    note = "TFTP reads only the first 512-byte block of each file"
    samples = Samples(size=4096, files=8, note=note, data={"rec.bin": WAV})
    r = PROBE.judge(facts(found=[tftp.ReadResult("rec.bin", True, WAV)], samples=samples), None)
    ev = by_kind(r)[Kind.UNAUTHENTICATED_ACCESS].evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == 4096
    assert ev["sampled_files"] == 1 and ev["sniffed"] == {"rec.bin": "wav"}
    assert "512-byte block" in ev["sample_note"]


def test_cut_before_any_answer_and_after_the_random_name() -> None:
    refused = Cut(Status.REFUSED, "connection refused", "ConnectionRefusedError")
    r = PROBE.judge(facts(alive=None), refused)
    assert (r.status, r.detail, r.findings) == (Status.REFUSED, "connection refused", [])
    late = Cut(Status.TIMEOUT, "no TFTP answer", "TimeoutError")
    found = [tftp.ReadResult("startup-config", True, b"hostname r1\n")]
    r = PROBE.judge(facts(found=found), late)
    assert (r.status, r.detail) == (Status.TIMEOUT, "no TFTP answer")
    assert by_kind(r)[Kind.UNAUTHENTICATED_ACCESS].access is Access.READ
