"""The FTP probe's judge on facts built here (no server): anonymous access, encryption none /
optional / required / implicit, a broken listing, odd greetings, cut attempts and
``--sample-bytes`` evidence."""

from __future__ import annotations

from typing import Any

from probes.ftp import PROBE, FtpFacts
from scanner.crawl import CrawlResult
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
)
from scanner.probe_skeleton import Cut, Samples
from scanner.protocols import ftp as ftpp

SERVICE = ServiceInfo(host="127.0.10.11", port=21)
HELLO = ftpp.Reply(220, ("220 (vsFTPd 3.0.3)",))
LISTING = Listing(entries=[Entry(path="/pub/a.wav", size=10)])
TIMEOUT = Cut(Status.TIMEOUT, "FTP server did not answer in time", "TimeoutError")


def anonymous(**kw: Any) -> FtpFacts:
    """An open vsftpd without TLS: anonymous login accepted and listed."""
    base: dict[str, Any] = {
        "greeting": HELLO, "banner": "(vsFTPd 3.0.3)", "anonymous": "accepted",
        "anon_user_reply": 331, "anon_pass_reply": 230, "plaintext_user_reply": 331,
        "auth_tls_accepted": False, "listing": LISTING, "listing_method": "LIST",
    }
    return FtpFacts(SERVICE, **{**base, **kw})


def by_kind(r: ProbeResult) -> dict[Kind, Finding]:
    return {f.kind: f for f in r.findings}


def test_anonymous_without_tls() -> None:
    r = PROBE.judge(anonymous(), None)
    assert (r.status, r.protocol, r.tls, r.detail) == (Status.SUCCESS, "ftp", False, None)
    found = by_kind(r)
    assert set(found) == {Kind.UNAUTHENTICATED_ACCESS, Kind.CLEARTEXT_TRANSPORT}
    anon = found[Kind.UNAUTHENTICATED_ACCESS]
    assert (anon.resource, anon.access, anon.authentication, anon.encryption) == (
        "/", Access.LIST, Authentication.ANONYMOUS, Encryption.NONE)
    assert anon.title == "FTP accepts anonymous logins and lists files"
    assert anon.evidence == {"user_reply": 331, "pass_reply": 230, "banner": "(vsFTPd 3.0.3)",
                             "method": "LIST"}
    assert anon.listing == LISTING
    clear = found[Kind.CLEARTEXT_TRANSPORT]
    assert clear.encryption is Encryption.NONE and clear.authentication is Authentication.UNKNOWN
    assert clear.title == "FTP without encryption: logins and data travel in plaintext"
    assert clear.evidence["anonymous_login"] == "accepted"
    assert r.info["anonymous"] == "accepted" and r.info["banner"] == "(vsFTPd 3.0.3)"


def test_listing_hints() -> None:
    r = PROBE.judge(anonymous(readable_hint=True, writable_hint="world-writable directory"),
                    None)
    anon = by_kind(r)[Kind.UNAUTHENTICATED_ACCESS]
    assert anon.access is Access.READ
    assert anon.evidence["writable_hint"] == "HINT (not tested): world-writable directory"
    unlisted = by_kind(PROBE.judge(anonymous(listing=None), None))[Kind.UNAUTHENTICATED_ACCESS]
    assert unlisted.access is None and unlisted.title == "FTP accepts anonymous logins"
    assert unlisted.evidence["listing"] == "login accepted, listing refused or unavailable"


def test_encryption_optional_and_required() -> None:
    optional = PROBE.judge(anonymous(anonymous="refused (530)", listing=None,
                                     auth_tls_accepted=True, tls_user_reply=331), None)
    assert optional.status is Status.AUTH_REQUIRED
    assert optional.detail == "anonymous login refused"
    (clear,) = optional.findings
    assert clear.kind is Kind.CLEARTEXT_TRANSPORT and clear.encryption is Encryption.OPTIONAL
    assert clear.title == "FTP logins can be sent in plaintext"
    required = anonymous(anonymous="refused (530)", listing=None, plaintext_user_reply=530,
                         auth_tls_accepted=True, tls_user_reply=331)
    r = PROBE.judge(required, None)
    assert r.status is Status.AUTH_REQUIRED and r.findings == []
    assert PROBE._encryption(required) is Encryption.REQUIRED


def test_anonymous_over_tls_only_is_encrypted_access() -> None:
    facts = anonymous(anonymous="accepted over TLS only", anonymous_over_tls=True,
                      plaintext_user_reply=530, auth_tls_accepted=True, tls_user_reply=331)
    found = by_kind(PROBE.judge(facts, None))
    assert set(found) == {Kind.UNAUTHENTICATED_ACCESS}
    assert found[Kind.UNAUTHENTICATED_ACCESS].encryption is Encryption.REQUIRED


def test_implicit_tls_has_no_cleartext_finding() -> None:
    r = PROBE.judge(anonymous(implicit_tls=True, plaintext_user_reply=None,
                              auth_tls_accepted=None), None)
    assert r.tls is True and set(by_kind(r)) == {Kind.UNAUTHENTICATED_ACCESS}
    assert by_kind(r)[Kind.UNAUTHENTICATED_ACCESS].encryption is Encryption.REQUIRED


def test_a_broken_listing_sets_the_status_and_keeps_the_findings() -> None:
    broken = Cut(Status.PROTOCOL_ERROR, "listing: line too long", "FtpProtocolError")
    r = PROBE.judge(anonymous(listing=None, listing_error=broken), None)
    assert (r.status, r.detail) == (Status.PROTOCOL_ERROR, "listing: line too long")
    assert set(by_kind(r)) == {Kind.UNAUTHENTICATED_ACCESS, Kind.CLEARTEXT_TRANSPORT}


def test_odd_greetings() -> None:
    busy = PROBE.judge(FtpFacts(SERVICE, greeting=ftpp.Reply(421, ("421 busy",)),
                                banner="busy"), None)
    assert (busy.status, busy.detail, busy.findings, busy.protocol) == (
        Status.REFUSED, "greeting 421", [], "ftp")
    odd = PROBE.judge(FtpFacts(SERVICE, greeting=ftpp.Reply(500, ("500 what",))), None)
    assert (odd.status, odd.protocol) == (Status.PROTOCOL_ERROR, None)


def test_cut_before_the_greeting() -> None:
    shared = FtpFacts(ServiceInfo(host="127.0.10.11", port=2121))
    r = PROBE.judge(shared, TIMEOUT)
    assert (r.status, r.detail) == (Status.NOT_APPLICABLE, "no FTP greeting (TimeoutError)")
    r = PROBE.judge(FtpFacts(SERVICE), TIMEOUT)
    assert (r.status, r.protocol, r.findings) == (Status.TIMEOUT, None, [])
    refused = Cut(Status.REFUSED, "connection refused", "ConnectionRefusedError")
    r = PROBE.judge(FtpFacts(SERVICE), refused)
    assert (r.status, r.detail, r.info) == (Status.REFUSED, "connection refused", {})


def test_cut_during_the_listing_reports_what_was_listed() -> None:
    crawl = CrawlResult(entries=[Entry(path="/pub/a.wav", size=10)], dirs_listed=1)
    facts = anonymous(listing=None, listing_method=None, crawl=crawl,
                      plaintext_user_reply=None, auth_tls_accepted=None)
    r = PROBE.judge(facts, TIMEOUT)
    assert (r.status, r.detail) == (Status.TIMEOUT, "FTP server did not answer in time")
    (anon,) = r.findings  # only what is proven: the TLS checks had not run
    assert anon.kind is Kind.UNAUTHENTICATED_ACCESS and anon.listing is not None
    assert anon.listing.truncated and anon.listing.partial == "FTP server did not answer in time"
    assert [e.path for e in anon.listing.entries] == ["/pub/a.wav"]
    assert crawl.truncated is False  # the judge did not touch the facts


def test_sample_bytes_evidence() -> None:
    samples = Samples(size=32, files=3, note=None, aborted=1,
                      data={"/pub/a.wav": b"RIFF\x24\x00\x00\x00WAVEfmt "},
                      errors={"/pub/b.bin": "RETR 550"})
    anon = by_kind(PROBE.judge(anonymous(samples=samples), None))[Kind.UNAUTHENTICATED_ACCESS]
    ev = anon.evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == 32
    assert ev["sampled_files"] == 1 and ev["sniffed"] == {"/pub/a.wav": "wav"}
    assert ev["sample_aborted"] == 1 and ev["sample_errors"] == {"/pub/b.bin": "RETR 550"}
