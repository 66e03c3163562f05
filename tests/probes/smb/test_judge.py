"""The SMB probe's judge: facts built here, no server."""

from __future__ import annotations

from typing import Any

from probes.smb import PROBE, ShareResult, SmbFacts
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Entry,
    Kind,
    Listing,
    ServiceInfo,
    Status,
)
from scanner.probe_skeleton import Cut, Samples
from scanner.protocols.smb.constants import AccessMask

SERVICE = ServiceInfo(host="127.0.10.1", port=445, hostname="nas.lab")
LISTING = Listing(
    entries=[Entry(path="/2019", is_dir=True), Entry(path="/2019/call.wav", size=41902)]
)


def share(name: str = "recordings", **kw: Any) -> ShareResult:
    defaults: dict[str, Any] = {
        "readable": True,
        "authentication": Authentication.GUEST,
        "access": Access.READ,
        "listing": LISTING,
        "maximal_access": int(AccessMask.FILE_READ_DATA | AccessMask.FILE_READ_ATTRIBUTES),
        "share_flags": 0,
    }
    return ShareResult(name=name, **{**defaults, **kw})


def guest_server(**kw: Any) -> SmbFacts:
    """An SMB 3.1.1 server that can encrypt but lets a guest in unencrypted, signing optional."""
    facts: dict[str, Any] = {
        "service": SERVICE,
        "smb2": True,
        "dialects": ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"],
        "max_dialect": "3.1.1",
        "signing_required": False,
        "signing_enabled": True,
        "encryption_capable": True,
        "cipher": "AES-128-GCM",
        "null_session": "refused (STATUS_ACCESS_DENIED)",
        "guest_session": "accepted",
        "session_encrypt_data": False,
        "enumeration": "NetShareEnumAll (guest)",
        "results": [share()],
    }
    return SmbFacts(**{**facts, **kw})


def kinds(facts: SmbFacts, cut: Cut | None = None) -> list[Kind]:
    return [f.kind for f in PROBE.judge(facts, cut).findings]


def test_guest_share_cleartext_and_optional_signing() -> None:
    result = PROBE.judge(guest_server(), None)
    assert result.status is Status.SUCCESS and result.protocol == "smb" and result.tls is False
    assert result.detail is None
    by_kind = {f.kind: f for f in result.findings}
    assert list(by_kind) == [
        Kind.SIGNING_NOT_REQUIRED,
        Kind.CLEARTEXT_TRANSPORT,
        Kind.UNAUTHENTICATED_ACCESS,
    ]
    for f in result.findings:
        assert (f.host, f.hostname, f.port, f.probe, f.protocol) == (
            "127.0.10.1",
            "nas.lab",
            445,
            "smb",
            "smb",
        )
    assert by_kind[Kind.SIGNING_NOT_REQUIRED].evidence == {
        "dialect": "3.1.1",
        "signing": "enabled, not required",
    }
    clear = by_kind[Kind.CLEARTEXT_TRANSPORT]
    assert clear.encryption is Encryption.OPTIONAL
    assert clear.title == "SMB traffic is not required to be encrypted"
    assert clear.evidence["shares_without_encryption"] == ["recordings"]
    assert clear.evidence["cipher"] == "AES-128-GCM"
    open_share = by_kind[Kind.UNAUTHENTICATED_ACCESS]
    assert open_share.resource == "recordings" and open_share.access is Access.READ
    assert open_share.authentication is Authentication.GUEST
    assert open_share.encryption is Encryption.OPTIONAL
    assert open_share.listing == LISTING
    assert open_share.evidence == {
        "share": "recordings",
        "session": "guest",
        "maximal_access": "0x00000081",
    }
    assert result.info is not None
    assert result.info["shares"] == {"recordings": "readable"}
    assert result.info["share_encrypt_data"] == {"recordings": False}


def test_share_that_demands_encryption_is_still_listed_but_says_so() -> None:
    sealed = share("sealed", encrypt_data=True, authentication=Authentication.ANONYMOUS)
    facts = guest_server(results=[sealed])
    f = next(x for x in PROBE.judge(facts, None).findings if x.resource == "sealed")
    assert f.encryption is Encryption.REQUIRED and f.evidence["session"] == "null session"


def test_unreadable_shares_give_no_finding_but_are_reported_in_info() -> None:
    denied = ShareResult(name="staff", detail="tree connect: STATUS_ACCESS_DENIED")
    result = PROBE.judge(guest_server(results=[denied]), None)
    assert Kind.UNAUTHENTICATED_ACCESS not in [f.kind for f in result.findings]
    assert result.info is not None
    assert result.info["shares"] == {"staff": "tree connect: STATUS_ACCESS_DENIED"}


def test_secure_server_refusing_sessions_is_auth_required_without_cleartext() -> None:
    facts = guest_server(
        signing_required=True,
        null_session="refused (STATUS_ACCESS_DENIED)",
        guest_session="refused (STATUS_LOGON_FAILURE)",
        session_encrypt_data=True,
        results=[],
    )
    result = PROBE.judge(facts, None)
    assert result.status is Status.AUTH_REQUIRED
    assert result.detail == "null and guest sessions refused"
    assert result.findings == []


def test_smb1_only_server_is_legacy_and_cannot_encrypt() -> None:
    facts = SmbFacts(
        service=SERVICE,
        smb1=True,
        dialects=["NT LM 0.12 (SMB1)"],
        signing_required=False,
        guest_session="accepted",
        results=[share(access=Access.LIST, maximal_access=None)],
    )
    result = PROBE.judge(facts, None)
    by_kind = {f.kind: f for f in result.findings}
    legacy = by_kind[Kind.LEGACY_PROTOCOL]
    assert legacy.evidence == {"dialects": ["NT LM 0.12 (SMB1)"], "smb1_only": True}
    assert legacy.encryption is Encryption.NONE
    assert by_kind[Kind.SIGNING_NOT_REQUIRED].evidence == {
        "dialect": "NT LM 0.12",
        "signing": "disabled",
    }
    clear = by_kind[Kind.CLEARTEXT_TRANSPORT]
    assert clear.encryption is Encryption.NONE and clear.title == "SMB traffic cannot be encrypted"
    assert "maximal_access" not in by_kind[Kind.UNAUTHENTICATED_ACCESS].evidence


def test_encryption_is_never_required_from_capability_alone() -> None:
    unknown = guest_server(session_encrypt_data=None, results=[])
    assert PROBE._encryption(unknown) is Encryption.UNKNOWN
    assert Kind.CLEARTEXT_TRANSPORT not in kinds(unknown)
    assert PROBE._encryption(guest_server(session_encrypt_data=None, smb1=True)) is (
        Encryption.OPTIONAL
    )
    assert PROBE._encryption(guest_server(encryption_capable=False)) is Encryption.NONE
    assert PROBE._encryption(guest_server(session_encrypt_data=True)) is Encryption.REQUIRED


def test_no_smb_answer() -> None:
    silent = PROBE.judge(SmbFacts(service=SERVICE, smb2_error="timeout"), None)
    assert (silent.status, silent.detail) == (Status.TIMEOUT, "no SMB NEGOTIATE answer")
    http = SmbFacts(
        service=SERVICE,
        smb2_error="SmbProtocolError: not an SMB2 message (magic b'HTTP')",
        smb1_error="IncompleteReadError: 0 bytes read",
    )
    broken = PROBE.judge(http, None)
    assert broken.status is Status.PROTOCOL_ERROR and broken.detail is not None
    assert broken.detail.startswith("not SMB (SMB2: SmbProtocolError")
    closed = SmbFacts(service=SERVICE, smb2_error="ConnectionResetError: x", smb1_error="y")
    other = PROBE.judge(closed, None)
    assert other.status is Status.NOT_APPLICABLE and other.protocol is None
    assert other.detail == "no SMB answer (SMB2: ConnectionResetError: x; SMB1: y)"
    assert other.findings == []


def test_deadline_cut_keeps_only_what_was_proven() -> None:
    cut = Cut(Status.TIMEOUT, "SMB probe ran out of time", "TimeoutError")
    facts = guest_server(smb1=True)
    result = PROBE.judge(facts, cut)
    assert result.status is Status.TIMEOUT and result.detail == "SMB probe ran out of time"
    assert result.protocol == "smb" and result.info is not None
    assert sorted(f.kind.value for f in result.findings) == sorted(
        k.value
        for k in (Kind.LEGACY_PROTOCOL, Kind.SIGNING_NOT_REQUIRED, Kind.UNAUTHENTICATED_ACCESS)
    )
    before_negotiate = PROBE.judge(SmbFacts(service=SERVICE), cut)
    assert before_negotiate.status is Status.TIMEOUT and before_negotiate.protocol is None
    assert before_negotiate.findings == []


def test_other_cuts_are_the_bare_status() -> None:
    refused = Cut(Status.REFUSED, "connection refused", "ConnectionRefusedError")
    result = PROBE.judge(guest_server(), refused)
    assert result.status is Status.REFUSED and result.findings == [] and not result.info


def test_sample_bytes_evidence_per_share() -> None:
    sampling = Samples(size=16, files=3, note="at most 65536 bytes are read per file")
    sampled = Samples(
        size=16, files=3, note=sampling.note,
        data={"/2019/call.wav": b"RIFF\x24\x00\x00\x00WAVEfmt "},
        errors={"/2019/b.wav": "STATUS_ACCESS_DENIED"},
    )  # fmt: skip
    facts = guest_server(sampling=sampling, results=[share(samples=sampled)])
    f = next(x for x in PROBE.judge(facts, None).findings if x.resource == "recordings")
    ev = f.evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == 16
    assert ev["sampled_files"] == 1 and "/2019/call.wav" in str(ev["sniffed"])
    assert ev["sample_errors"] == {"/2019/b.wav": "STATUS_ACCESS_DENIED"}
    assert ev["sample_note"] == "at most 65536 bytes are read per file"
    # without --sample-bytes the evidence says nothing about samples
    plain = next(x for x in PROBE.judge(guest_server(), None).findings if x.resource)
    assert "intrusive" not in plain.evidence
