"""One snapshot of the whole triage evidence and summary, worked out by hand from a small listing
and the packaged rules (scanner/rules/default.toml), and the one-line summaries of each kind of
service.

The listing, share ``/samtal`` (the resource rule ``samtal`` -> recording):

=============================  =========  ============================================  ======
path                           size       categories (rule weights)                     depth
=============================  =========  ============================================  ======
2024/, 2024/jan/               (dirs)
2024/jan/811218-9876.wav       1,000,000  recording 60, personal-id 70 (811218-987: 6)  1
2024/550505-5557.wav           2,500,000  recording 60, personal-id 70 (550505-555: 7)  0
2024/intro.mp3                 unknown    recording 60                                  0
backup/db.sql                  500        database 45, backup 20 (backup/ folder)       0
readme.txt                     100        none                                          0
neg.bin                        -5         none (counted as 0 bytes)                     0
=============================  =========  ============================================  ======

Total 3,500,600 bytes = 3.5 MB. The crawler's depth weights [1, 30] estimate recording at
30 + 1 + 1 = 32 and personal-id at 30 + 1 = 31 files, database and backup 1 each.
"""

from __future__ import annotations

from typing import Any

import pytest

from scanner.classify import load_rules
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
from scanner.triage import (
    analyse_listing,
    estimate_text,
    human_count,
    human_size,
    summarise_service,
    triage_finding,
)

HOST = "127.0.10.21"

ESTIMATE = {
    "files": 2_700_000,
    "bytes": 123_456_789,
    "directories_listed": 40,
    "directories_seen": 1200,
    "depth_weights": [1.0, 30.0],
}


def _listing(**kw: Any) -> Listing:
    return Listing(
        entries=[
            Entry(path="2024", is_dir=True),
            Entry(path="2024/jan", is_dir=True),
            Entry(path="2024/jan/811218-9876.wav", size=1_000_000),
            Entry(path="2024/550505-5557.wav", size=2_500_000),
            Entry(path="2024/intro.mp3"),
            Entry(path="backup/db.sql", size=500),
            Entry(path="readme.txt", size=100),
            Entry(path="neg.bin", size=-5),
        ],
        **kw,
    )


def _finding(listing: Listing | None, **kw: Any) -> Finding:
    base: dict[str, Any] = {
        "host": HOST,
        "port": 443,
        "protocol": "http",
        "kind": Kind.UNAUTHENTICATED_ACCESS,
        "authentication": Authentication.NONE,
        "encryption": Encryption.NONE,
        "resource": "/samtal",
        "access": Access.READ,
        "title": "Open directory listing at /samtal",
        "listing": listing,
    }
    base.update(kw)
    return Finding(**base)


EXPECTED_EVIDENCE: dict[str, Any] = {
    "sniffed": {"2024/intro.mp3": "mp3", "readme.txt": "text"},
    "entries_seen": 8,
    "files": 6,
    "directories": 2,
    "files_text": "at least 6 files",
    "total_size": 3_500_600,
    "total_size_text": "at least 3.5 MB",
    "truncated": True,
    "categories": {"backup": 1, "database": 1, "personal-id": 2, "recording": 3},
    "category_sizes": {
        "backup": 500,
        "database": 500,
        "personal-id": 3_500_000,
        "recording": 3_500_000,
    },
    "files_seen": 6,
    "samples": [
        "2024/jan/811218-XXXX.wav",
        "2024/550505-XXXX.wav",
        "backup/db.sql",
        "2024/intro.mp3",
        "readme.txt",
    ],
    "headline": {
        "count": 3,
        "text": "audio recordings named with personal identity numbers",
        "category": "recording",
        "at_least": True,
        "also": {"database dump": 1, "backup": 1},
    },
    "files_estimated": 2_700_000,
    "bytes_estimated": 123_456_789,
    "estimate_basis": {"directories_listed": 40, "directories_seen": 1200},
    "categories_estimated": {"backup": 1, "database": 1, "personal-id": 31, "recording": 32},
    "estimate_text": "about 2,700,000 files (estimated from 40 of 1,200 directories seen)",
    "listing_partial": "stopped by the request bound",
    "entries_skipped": 2,
    "loops_not_followed": 1,
    "sizes_unknown": 1,
    "resource_categories": ["recording"],
    "confirmed_by_content": {"recording": 1},
    "critical_content": ["personal-id", "recording"],
}


def test_whole_evidence_snapshot() -> None:
    listing = _listing(
        truncated=True,
        partial="stopped by the request bound",
        skipped=2,
        loops=1,
        estimate=ESTIMATE,
    )
    finding = _finding(listing, evidence={"sniffed": EXPECTED_EVIDENCE["sniffed"]})
    out = triage_finding(finding)
    assert out.severity == Severity.CRITICAL
    assert out.evidence == EXPECTED_EVIDENCE
    assert summarise_service([out]) == (
        f"{HOST}:443 http: at least 3 audio recordings named with personal identity numbers"
        " (+ 1 database dump, 1 backup), at least 3.5 MB; about 2,700,000 files (estimated"
        " from 40 of 1,200 directories seen), readable by anyone in /samtal"
    )


def test_evidence_of_a_whole_listing_has_no_optional_keys() -> None:
    out = triage_finding(_finding(_listing(), resource="/"))
    optional = {
        "files_estimated", "bytes_estimated", "estimate_basis", "categories_estimated",
        "estimate_text", "listing_partial", "entries_skipped", "loops_not_followed",
        "resource_categories", "confirmed_by_content",
    }  # fmt: skip
    assert not optional & set(out.evidence)
    assert out.evidence["files_text"] == "6 files"
    assert out.evidence["total_size_text"] == "3.5 MB"
    assert out.evidence["headline"]["at_least"] is False
    assert out.evidence["sizes_unknown"] == 1
    assert summarise_service([out]) == (
        f"{HOST}:443 http: 3 audio recordings named with personal identity numbers"
        " (+ 1 database dump, 1 backup), 3.5 MB, readable by anyone"
    )


def test_nothing_listed_but_a_telling_name() -> None:
    out = triage_finding(_finding(None, resource="/samtal"))
    # a telling name is kept, but with no file seen it is not critical content
    assert out.evidence == {"resource_categories": ["recording"]}
    assert out.severity == Severity.HIGH
    assert summarise_service([out]) == f"{HOST}:443 http: Open directory listing at /samtal"


def test_counts_without_weights_and_with_sizes_of_every_kind() -> None:
    s = analyse_listing(
        Listing(entries=[Entry(path="a.wav", size=0), Entry(path="b.wav", size=7)]),
        "/",
        load_rules(),
    )
    assert (s.files, s.total_size, s.sizes_unknown) == (2, 7, 0)
    assert s.categories_estimated == {}
    assert dict(s.category_sizes) == {"recording": 7}
    assert s.evidence(load_rules())["headline"]["text"] == "audio recordings"
    one = analyse_listing(Listing(entries=[Entry(path="a.wav", size=1)]), None, load_rules())
    assert one.evidence(load_rules())["headline"] == {
        "count": 1, "text": "audio recording", "category": "recording", "at_least": False,
        "also": {},
    }  # fmt: skip
    plain = analyse_listing(Listing(entries=[Entry(path="x.txt", size=1)]), None, load_rules())
    assert plain.evidence(load_rules())["headline"]["text"] == "file"


def _service(*findings: Finding) -> str | None:
    return summarise_service([triage_finding(f) for f in findings])


def _transport(kind: Kind, encryption: Encryption, title: str) -> Finding:
    return Finding(
        host=HOST, port=21, protocol="ftp", kind=kind, encryption=encryption, title=title,
        authentication=Authentication.REQUIRED,
    )  # fmt: skip


def test_a_server_that_merely_allows_plaintext() -> None:
    f = _transport(Kind.CLEARTEXT_TRANSPORT, Encryption.OPTIONAL, "FTP allows logins without TLS")
    assert triage_finding(f).severity == Severity.LOW
    line = _service(f)
    assert line == f"{HOST}:21 ftp (encryption optional): FTP allows logins without TLS"
    assert "logins and data travel unencrypted" not in (line or "")
    g = _transport(Kind.ENCRYPTION_OPTIONAL, Encryption.OPTIONAL, "SMB encryption optional")
    assert _service(g) == f"{HOST}:21 ftp (encryption optional): SMB encryption optional"


def test_a_server_without_any_tls() -> None:
    f = _transport(Kind.CLEARTEXT_TRANSPORT, Encryption.NONE, "FTP without TLS")
    assert triage_finding(f).severity == Severity.MEDIUM
    assert _service(f) == f"{HOST}:21 ftp (no TLS): logins and data travel unencrypted"
    legacy = _transport(Kind.LEGACY_PROTOCOL, Encryption.UNKNOWN, "SMB1 enabled")
    assert _service(f, legacy) == (
        f"{HOST}:21 ftp (no TLS, legacy protocol): logins and data travel unencrypted"
    )
    assert _service(legacy) == f"{HOST}:21 ftp (legacy protocol): SMB1 enabled"


def test_info_only_and_empty() -> None:
    f = _transport(Kind.SIGNING_NOT_REQUIRED, Encryption.UNKNOWN, "signing not required")
    assert triage_finding(f).severity == Severity.INFO
    assert _service(f) is None
    assert summarise_service([]) is None


@pytest.mark.parametrize(
    ("auth", "access", "tail"),
    [
        (Authentication.GUEST, Access.LIST, "listable by anyone (guest login)"),
        (Authentication.ANONYMOUS, Access.WRITE, "writable by anyone (anonymous login)"),
        (Authentication.NONE, None, "open by anyone"),
    ],
)
def test_who_and_how(auth: Authentication, access: Access | None, tail: str) -> None:
    f = _finding(Listing(entries=[Entry(path="x.txt", size=0)]), authentication=auth,
                 access=access, resource="share")  # fmt: skip
    assert _service(f) == f"{HOST}:443 http: 1 file, {tail} in share"


def test_data_behind_authentication_is_medium_and_not_open() -> None:
    f = _finding(_listing(), authentication=Authentication.REQUIRED)
    out = triage_finding(f)
    assert out.severity == Severity.MEDIUM
    assert summarise_service([out]) == f"{HOST}:443 http: Open directory listing at /samtal"


def test_several_open_resources_are_counted() -> None:
    small = _finding(Listing(entries=[Entry(path="x.txt", size=1)]), resource="/a")
    big = _finding(_listing(), resource="/samtal")
    plain = _finding(None, resource="/")
    line = _service(small, big, plain) or ""
    assert line.startswith(f"{HOST}:443 http: 3 audio recordings")
    assert line.endswith("readable by anyone in /samtal (+2 more open resources)")
    two = _service(small, plain) or ""
    assert two.endswith("readable by anyone in /a (+1 more open resource)")


def test_human_numbers() -> None:
    rows = [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (999_949, "999.9 kB"),
            (999_950, "1.0 MB"), (3_500_600, "3.5 MB"), (10**12, "1.0 TB"),
            (10**15, "1.0 PB"), (5 * 10**18, "5000.0 PB")]  # fmt: skip
    assert [human_size(n) for n, _ in rows] == [text for _, text in rows]
    assert human_count(1234567) == "1,234,567"
    assert estimate_text(5, {}) == "about 5 files (estimated from 0 of 0 directories seen)"


def test_every_kind_and_access_has_its_word() -> None:
    from scanner.triage import _ACCESS_WORD, _BASE_SEVERITY

    assert set(_BASE_SEVERITY) | {Kind.UNAUTHENTICATED_ACCESS} == set(Kind)
    assert set(_ACCESS_WORD) == set(Access)


def _open(count: Any, title: str, resource: str = "/r") -> Finding:
    """An already triaged open finding as loaded back from JSON: evidence only."""
    headline = count if not isinstance(count, int) else {"count": count, "text": "files"}
    return Finding(
        host=HOST, port=445, protocol="smb", kind=Kind.UNAUTHENTICATED_ACCESS,
        authentication=Authentication.GUEST, access=Access.READ, severity=Severity.HIGH,
        title=title, resource=resource, evidence={"headline": headline},
    )  # fmt: skip


def test_the_largest_open_resource_speaks_for_the_service() -> None:
    head = f"{HOST}:445 smb: "
    tail = ", readable by anyone (guest login) in /r (+1 more open resource)"
    for pair in ([_open(1, "a"), _open(5, "b")], [_open(5, "b"), _open(1, "a")]):
        assert summarise_service(pair) == f"{head}5 files{tail}"
    # a headline without a count, or none at all, ranks as 0: the first of equals speaks
    no_count = _open({"text": "files"}, "no count")
    not_dict = _open("junk", "not a dict")
    text_count = _open({"count": "7"}, "text count")
    for other in (no_count, not_dict, text_count):
        assert summarise_service([_open(0, "zero"), other]) == f"{head}0 files{tail}"
        first = summarise_service([other, _open(0, "zero")])
        assert first == f"{head}{other.title} (+1 more open resource)"
    # from JSON: a headline without its text says files
    bare = _open({"count": 2}, "bare")
    assert summarise_service([bare]) == f"{head}2 files, readable by anyone (guest login) in /r"


def test_one_byte_is_a_size() -> None:
    f = _finding(Listing(entries=[Entry(path="x.txt", size=1)]), resource="/")
    assert _service(f) == f"{HOST}:443 http: 1 file, 1 B, readable by anyone"


def test_counts_pairs_weights_and_confirmations() -> None:
    rules = load_rules()
    listing = Listing(
        entries=[
            Entry(path="811218-9876.wav", size=None),
            Entry(path="a/b/550505-5557.wav", size=None),
            Entry(path="a/b/c/d.wav", size=3),
        ],
        estimate={"files": 9, "depth_weights": [5.0, 2.0]},
    )
    s = analyse_listing(listing, None, rules, {"x": "wav", "y": "mp3", "z": "text", "w": 7})
    assert s.sizes_unknown == 2
    assert dict(s.pairs) == {("personal-id", "recording"): 2}
    assert dict(s.confirmed) == {"recording": 2}
    # depth = slashes - 1 (at least 0): weights 5, 2 and, past them, 0: recording 5 + 2 + 0
    assert s.categories_estimated == {"personal-id": 7, "recording": 7}
    odd = Listing(entries=listing.entries, estimate={"files": 9, "depth_weights": "52"})
    assert analyse_listing(odd, None, rules).categories_estimated == {}


def test_which_findings_are_analysed() -> None:
    listing = Listing(entries=[Entry(path="a.wav", size=4)])
    clear = _transport(Kind.CLEARTEXT_TRANSPORT, Encryption.NONE, "FTP without TLS")
    with_listing = triage_finding(clear.model_copy(update={"listing": listing}))
    assert with_listing.evidence["categories"] == {"recording": 1}
    assert with_listing.severity == Severity.MEDIUM  # content does not raise a transport finding
    named = triage_finding(clear.model_copy(update={"resource": "/samtal"}))
    assert named.evidence == {}  # no listing, not an access finding: nothing to analyse
    odd = triage_finding(_finding(listing, evidence={"sniffed": ["wav"]}))
    assert "confirmed_by_content" not in odd.evidence


def test_estimate_without_totals() -> None:
    s = analyse_listing(Listing(entries=[], estimate={"bytes": 5}), None, load_rules())
    ev = s.evidence(load_rules())
    assert (ev["files_estimated"], ev["bytes_estimated"]) == (0, 5)
    assert ev["estimate_text"] == "about 0 files (estimated from 0 of 0 directories seen)"
    s = analyse_listing(Listing(entries=[], estimate={"files": 3}), None, load_rules())
    assert s.evidence(load_rules())["bytes_estimated"] == 0


def test_resource_names_in_the_line() -> None:
    for resource, suffix in [("/XX/", " in /XX/"), ("X", " in X"), ("/", ""), ("//", "")]:
        f = _finding(Listing(entries=[Entry(path="x.txt", size=0)]), resource=resource)
        assert _service(f) == f"{HOST}:443 http: 1 file, readable by anyone{suffix}"


def _headline(paths: list[str]) -> dict[str, Any]:
    listing = Listing(entries=[Entry(path=p, size=1) for p in paths])
    rules = load_rules()
    return analyse_listing(listing, None, rules).evidence(rules)["headline"]


def test_headline_rows() -> None:
    # priority, not the alphabet: credentials (70) before database (65)
    h = _headline(["a.kdbx", "b.sql", "c.sql"])
    assert (h["category"], h["count"], h["text"]) == ("credentials", 1, "credential or key file")
    assert h["also"] == {"database dumps": 2}
    # the best three others by priority: credentials 70, database 65, backup 60 (not disk-image 55)
    h = _headline(["r.wav", "k.pem", "d.sql", "b.bak", "v.vmdk"])
    assert h["also"] == {"credential or key file": 1, "database dump": 1}
    # a qualifier covering at least half of the primary's files
    h = _headline(["811218-9876.wav", "550505-5557.wav", "c.wav", "d.wav"])
    assert h["text"] == "audio recordings named with personal identity numbers"
    h = _headline(["811218-9876.wav", "c.wav", "d.wav"])
    assert h["text"] == "audio recordings"
    # qualifiers alone: personal-id (80) before phone (40)
    h = _headline(["811218-9876.txt", "550505-5557.txt", "070-1234567.txt"])
    assert (h["category"], h["count"]) == ("personal-id", 2)
    assert h["text"] == "files named with personal identity numbers"
    h = _headline(["811218-9876.txt"])
    assert h["text"] == "file named with a personal identity number"
    assert _headline(["a.txt", "b.txt"])["text"] == "files"


def test_zero_counts_and_unknown_categories_are_not_present() -> None:
    from collections import Counter

    from scanner.triage import ContentSummary

    rules = load_rules()
    s = ContentSummary(
        files=2,
        categories=Counter({"recording": 0, "unknown-category": 3}),
        confirmed=Counter({"medical": 0}),
    )
    assert s.critical_categories(rules) == []
    assert s.headline(rules) == {
        "count": 2, "text": "files", "category": None, "at_least": False, "also": {},
    }  # fmt: skip
