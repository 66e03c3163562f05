"""Triage: severity from the two axes and the content, listing evidence, the service summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scanner.classify import load_rules
from scanner.lab.content import files as lab_files
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Entry,
    Finding,
    Kind,
    Listing,
    Severity,
)
from scanner.triage import human_size, summarise_service, triage_finding

HOST = "127.0.10.21"


def lab_listing(truncated: bool = False) -> Listing:
    entries = [Entry(path=f.path, size=len(f.data)) for f in lab_files()]
    dirs = sorted({e.path.rsplit("/", 1)[0] for e in entries if "/" in e.path} | {"2019", "2020"})
    return Listing(
        entries=[Entry(path=d, is_dir=True) for d in dirs] + entries, truncated=truncated
    )


def dull_listing() -> Listing:
    return Listing(
        entries=[
            Entry(path="css", is_dir=True),
            Entry(path="css/site.css", size=2_000),
            Entry(path="logo.png", size=5_000),
            Entry(path="index.html", size=1_000),
        ]
    )


def unauth(
    listing: Listing | None,
    resource: str | None = "/",
    auth: Authentication = Authentication.NONE,
    access: Access | None = Access.READ,
    port: int = 443,
    protocol: str = "http",
    **kw: Any,
) -> Finding:
    return Finding(
        host=HOST,
        port=port,
        protocol=protocol,
        kind=Kind.UNAUTHENTICATED_ACCESS,
        authentication=auth,
        resource=resource,
        access=access,
        title=f"Directory listing without authentication at {resource}",
        listing=listing,
        **kw,
    )


def other(kind: Kind, enc: Encryption = Encryption.UNKNOWN, **kw: Any) -> Finding:
    return Finding(
        host=HOST, port=443, protocol="http", kind=kind, encryption=enc, title=kind.value, **kw
    )


# --- severity -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth", [Authentication.NONE, Authentication.ANONYMOUS, Authentication.GUEST]
)
def test_unauthenticated_recordings_are_critical(auth: Authentication) -> None:
    t = triage_finding(unauth(lab_listing(), auth=auth))
    assert t.severity == Severity.CRITICAL
    assert t.evidence["critical_content"] == ["personal-id", "recording"]


def test_unauthenticated_dull_content_is_high() -> None:
    t = triage_finding(unauth(dull_listing(), resource="website-assets"))
    assert t.severity == Severity.HIGH
    assert "critical_content" not in t.evidence
    assert t.evidence["categories"] == {}


def test_unauthenticated_without_listing_is_high() -> None:
    t = triage_finding(unauth(None, resource="hidden"))
    assert t.severity == Severity.HIGH
    # Nothing was listed (e.g. a block device): no made-up '0 files'.
    assert "files" not in t.evidence and "headline" not in t.evidence
    named = triage_finding(unauth(None, resource="recordings"))
    assert named.evidence["resource_categories"] == ["recording"]
    assert named.severity == Severity.HIGH


def test_unauthenticated_credentials_or_backups_are_high_not_critical() -> None:
    listing = Listing(
        entries=[Entry(path="db.sql", size=10), Entry(path=".ssh/id_rsa", size=3)],
    )
    t = triage_finding(unauth(listing))
    assert t.severity == Severity.HIGH
    assert t.evidence["categories"] == {"credentials": 1, "database": 1}


@pytest.mark.parametrize(
    "path", ["journaler/patient_anna.pdf", "x/19811218-9876.pdf", "voice/msg.amr"]
)
def test_single_personal_data_file_is_enough_for_critical(path: str) -> None:
    listing = Listing(entries=[*dull_listing().entries, Entry(path=path, size=1)])
    assert triage_finding(unauth(listing)).severity == Severity.CRITICAL


def test_resource_name_counts_only_when_files_are_visible() -> None:
    dull_files = Listing(entries=[Entry(path="a.dat", size=1)])
    assert triage_finding(unauth(dull_files, resource="recordings")).severity == Severity.CRITICAL
    empty = Listing(entries=[])
    assert triage_finding(unauth(empty, resource="recordings")).severity == Severity.HIGH
    assert triage_finding(unauth(dull_files, resource="public")).severity == Severity.HIGH


def test_sniffed_content_confirms_a_category() -> None:
    listing = Listing(entries=[Entry(path="data/0001.dat", size=1000)])
    plain = triage_finding(unauth(listing))
    assert plain.severity == Severity.HIGH
    sniffed = triage_finding(unauth(listing, evidence={"sniffed": {"data/0001.dat": "wav"}}))
    assert sniffed.severity == Severity.CRITICAL
    assert sniffed.evidence["confirmed_by_content"] == {"recording": 1}
    db = triage_finding(unauth(listing, evidence={"sniffed": {"data/0001.dat": "sqlite"}}))
    assert db.severity == Severity.HIGH


def test_data_behind_authentication_is_medium() -> None:
    t = triage_finding(unauth(lab_listing(), auth=Authentication.REQUIRED))
    assert t.severity == Severity.MEDIUM


@pytest.mark.parametrize(
    ("kind", "enc", "expected"),
    [
        (Kind.CLEARTEXT_TRANSPORT, Encryption.NONE, Severity.MEDIUM),
        (Kind.CLEARTEXT_TRANSPORT, Encryption.UNKNOWN, Severity.MEDIUM),
        (Kind.CLEARTEXT_TRANSPORT, Encryption.OPTIONAL, Severity.LOW),
        (Kind.ENCRYPTION_OPTIONAL, Encryption.OPTIONAL, Severity.LOW),
        (Kind.LEGACY_PROTOCOL, Encryption.UNKNOWN, Severity.LOW),
        (Kind.SIGNING_NOT_REQUIRED, Encryption.UNKNOWN, Severity.INFO),
    ],
)
def test_severity_table_other_kinds(kind: Kind, enc: Encryption, expected: Severity) -> None:
    # A probe's own severity is overridden: triage decides.
    t = triage_finding(other(kind, enc, severity=Severity.CRITICAL))
    assert t.severity == expected
    assert "headline" not in t.evidence  # no listing: no content evidence


# --- evidence -----------------------------------------------------------------------------------


def test_evidence_counts_for_the_lab_tree() -> None:
    tree = lab_files()
    n_rec = sum(1 for f in tree if f.path.endswith((".wav", ".mp3")))
    t = triage_finding(unauth(lab_listing()))
    ev = t.evidence
    assert ev["files"] == len(tree)
    assert ev["directories"] == len(
        {f.path.rsplit("/", 1)[0] for f in tree if "/" in f.path} | {"2019", "2020"}
    )
    assert ev["entries_seen"] == ev["files"] + ev["directories"]
    assert ev["total_size"] == sum(len(f.data) for f in tree)
    assert ev["categories"]["recording"] == n_rec
    assert ev["categories"]["personal-id"] == n_rec
    assert ev["categories"]["phone"] == n_rec
    assert ev["categories"]["database"] == 1
    assert ev["categories"]["backup"] == 2
    assert ev["truncated"] is False
    assert ev["files_text"] == f"{len(tree)} files"
    assert ev["headline"]["count"] == n_rec
    assert ev["headline"]["text"] == "audio recordings named with personal identity numbers"
    assert ev["headline"]["also"] == {"database dump": 1, "backups": 2}
    assert 0 < len(ev["samples"]) <= 5
    assert all(s.endswith((".wav", ".mp3")) for s in ev["samples"])
    assert all("-XXXX_" in s for s in ev["samples"])


def test_truncated_listing_says_at_least() -> None:
    t = triage_finding(unauth(lab_listing(truncated=True)))
    assert t.evidence["truncated"] is True
    assert t.evidence["files_text"].startswith("at least ")
    assert t.evidence["total_size_text"].startswith("at least ")
    assert t.evidence["headline"]["at_least"] is True


def test_probe_evidence_is_kept_and_masked() -> None:
    f = unauth(
        dull_listing(),
        resource="home/19811218-9876",
        evidence={"server": "nginx", "first_page": "Index of /19811218-9876/"},
    )
    f = f.model_copy(update={"title": "Open listing at /19811218-9876/"})
    t = triage_finding(f)
    assert t.evidence["server"] == "nginx"
    assert t.evidence["first_page"] == "Index of /19811218-XXXX/"
    assert t.title == "Open listing at /19811218-XXXX/"
    assert t.resource == "home/19811218-XXXX"
    assert "9876" not in t.model_dump_json()
    # The raw listing held for later stages is masked as well.
    assert t.listing is not None


def test_listing_itself_is_masked() -> None:
    listing = Listing(entries=[Entry(path="a/19811218-9876.wav", size=1)])
    t = triage_finding(unauth(listing))
    assert t.listing is not None
    assert [e.path for e in t.listing.entries] == ["a/19811218-XXXX.wav"]
    # Classification ran on the real name before masking.
    assert t.evidence["categories"]["personal-id"] == 1


def test_triage_with_user_rules(tmp_path: Path) -> None:
    p = tmp_path / "r.toml"
    p.write_text(
        '[categories.cad]\nlabel = "CAD drawings"\ncritical = true\n'
        '[[rule]]\nname = "dwg"\ncategory = "cad"\nwhere = "extension"\nhow = "exact"\n'
        'patterns = ["dwg"]\n'
    )
    listing = Listing(entries=[Entry(path="plan.dwg", size=1)])
    assert triage_finding(unauth(listing)).severity == Severity.HIGH
    t = triage_finding(unauth(listing), load_rules([p]))
    assert t.severity == Severity.CRITICAL
    assert t.evidence["headline"]["text"] == "CAD drawings"


def test_evidence_is_bounded_for_a_large_listing() -> None:
    entries = [Entry(path=f"{i:05d}/121212-1212_{i}.wav", size=1000) for i in range(2000)]
    t = triage_finding(unauth(Listing(entries=entries, truncated=True)))
    assert len(t.evidence["samples"]) == 5
    assert len(t.model_dump_json()) < 4000
    assert t.evidence["files_text"] == "at least 2,000 files"


# --- the one-line summary -----------------------------------------------------------------------


def test_summary_line_for_the_1177_server() -> None:
    tree = lab_files()
    n_rec = sum(1 for f in tree if f.path.endswith((".wav", ".mp3")))
    size = human_size(sum(len(f.data) for f in tree))
    findings = [
        triage_finding(unauth(lab_listing())),
        triage_finding(other(Kind.CLEARTEXT_TRANSPORT, Encryption.NONE)),
    ]
    line = summarise_service(findings)
    assert line == (
        f"{HOST}:443 http (no TLS): {n_rec} audio recordings named with personal identity "
        f"numbers (+ 1 database dump, 2 backups), {size}, readable by anyone"
    )


def test_summary_thousands_and_guest_share() -> None:
    entries = [Entry(path=f"r/{i}_19811218-9876.wav", size=2_500_000) for i in range(1204)]
    f = unauth(
        Listing(entries=entries),
        resource="recordings",
        auth=Authentication.GUEST,
        port=445,
        protocol="smb",
    )
    extra = unauth(
        dull_listing(), resource="public", auth=Authentication.GUEST, port=445, protocol="smb"
    )
    legacy = Finding(
        host=HOST, port=445, protocol="smb", kind=Kind.LEGACY_PROTOCOL, title="SMB1 enabled"
    )
    line = summarise_service([triage_finding(x) for x in (extra, f, legacy)])
    assert line == (
        f"{HOST}:445 smb (legacy protocol): 1,204 audio recordings named with personal identity "
        "numbers, 3.0 GB, readable by anyone (guest login) in recordings (+1 more open resource)"
    )


def test_summary_cleartext_only_and_nothing() -> None:
    ftp = Finding(
        host="127.0.10.12",
        port=21,
        protocol="ftp",
        kind=Kind.CLEARTEXT_TRANSPORT,
        encryption=Encryption.NONE,
        title="FTP logins in cleartext",
    )
    assert summarise_service([triage_finding(ftp)]) == (
        "127.0.10.12:21 ftp (no TLS): logins and data travel unencrypted"
    )
    assert summarise_service([]) is None
    signing = other(Kind.SIGNING_NOT_REQUIRED)
    assert summarise_service([triage_finding(signing)]) is None


def test_summary_without_listing_uses_the_probe_title() -> None:
    f = Finding(
        host="127.0.10.61",
        port=3260,
        protocol="iscsi",
        kind=Kind.UNAUTHENTICATED_ACCESS,
        authentication=Authentication.NONE,
        resource="iqn.2026-01.lab.nasscan:open",
        title="iSCSI target iqn.2026-01.lab.nasscan:open accepts a login without authentication",
    )
    clear = Finding(
        host="127.0.10.61",
        port=3260,
        protocol="iscsi",
        kind=Kind.CLEARTEXT_TRANSPORT,
        encryption=Encryption.NONE,
        title="iSCSI without IPsec",
    )
    assert summarise_service([triage_finding(f), triage_finding(clear)]) == (
        "127.0.10.61:3260 iscsi (no TLS): iSCSI target iqn.2026-01.lab.nasscan:open accepts a "
        "login without authentication"
    )


def test_summary_works_on_findings_loaded_from_json() -> None:
    t = triage_finding(unauth(lab_listing()))
    back = Finding.model_validate_json(t.model_dump_json())
    assert back.listing is None
    assert summarise_service([back]) == summarise_service([t])


def test_summary_is_masked_even_for_untriaged_titles() -> None:
    f = unauth(None, resource="19811218-9876")
    line = summarise_service([f.model_copy(update={"severity": Severity.HIGH})])
    assert line is not None
    assert "19811218-XXXX" in line and "9876" not in line


def test_human_size() -> None:
    assert human_size(0) == "0 B"
    assert human_size(999) == "999 B"
    assert human_size(1000) == "1.0 kB"
    assert human_size(3_100_000_000) == "3.1 GB"
    assert human_size(999_960) == "1.0 MB"
