"""Classification rules: the default families (with near misses), the rule file format and its
validation, phone numbers, and content sniffing from first bytes."""

from __future__ import annotations

import gzip
import io
import sqlite3
import struct
import tempfile
import wave
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.classify import RuleError, default_rules, load_rules, parse_rules
from scanner.classify.magic import SNIFF_CATEGORY, choose_samples, sniff, sniff_evidence
from scanner.classify.rules import parse_size, split_name
from scanner.models import Entry
from scanner.personal import phone

RULES = default_rules()


def cats(path: str, size: int | None = 1234) -> set[str]:
    return set(RULES.classify_entry(Entry(path=path, size=size)))


# --- the default rule families ------------------------------------------------------------------


def test_lab_recording_names_classify_fully() -> None:
    name = "2019/03/19790312-2393_0701234567_20190314T101500.wav"
    assert cats(name) == {"recording", "personal-id", "phone"}
    assert cats(name.replace(".wav", ".mp3")) == {"recording", "personal-id", "phone"}


def test_every_generated_lab_recording_classifies() -> None:
    from scanner.lab.content import files

    tree = files()
    recordings = [f.path for f in tree if f.path.endswith((".wav", ".mp3"))]
    assert len(recordings) > 10
    for p in recordings:
        assert cats(p) == {"recording", "personal-id", "phone"}, p
    dull = [f.path for f in tree if f.path in ("readme.txt", "logo.png")]
    assert dull and all(cats(p) == set() for p in dull)


@pytest.mark.parametrize(
    "ext", ["wav", "mp3", "gsm", "ogg", "opus", "m4a", "amr", "wma", "WAV", "Mp3", "flac"]
)
def test_audio_extensions(ext: str) -> None:
    assert "recording" in cats(f"calls/x.{ext}")


@pytest.mark.parametrize(
    "path", ["wav.txt", "notes_mp3.doc", "gsm-manual.pdf", "oggy.png", "x.wave", "x.mp4", "wav"]
)
def test_audio_near_misses(path: str) -> None:
    assert "recording" not in cats(path)


@pytest.mark.parametrize(
    "path",
    [
        "x/19811218-9876.pdf",
        "811218-9876_intyg.docx",
        "19811218-9876/scan.jpg",  # in a folder name
        "701063-2391.txt",  # coordination number
    ],
)
def test_personal_identity_numbers_in_paths(path: str) -> None:
    assert "personal-id" in cats(path)


@pytest.mark.parametrize(
    "path", ["811218-9875.pdf", "20190314T101500.txt", "invoice_198112189876000.pdf", "1234567890"]
)
def test_personal_identity_near_misses(path: str) -> None:
    assert "personal-id" not in cats(path)


@pytest.mark.parametrize(
    "path",
    [
        "070-1234567.wav",
        "samtal_0701234567.txt",
        "+46701234567.amr",
        "0046701234567_in.wav",
        "kund 070 123 45 67.pdf",
        "växel 08-123 456 78.txt",
    ],
)
def test_phone_numbers_in_names(path: str) -> None:
    assert "phone" in cats(path)


@pytest.mark.parametrize(
    "path",
    [
        "0701234.txt",  # too short
        "07012345678.txt",  # too long
        "1234567890.txt",
        "0612345678.txt",  # not a mobile prefix, no area-code dash
        "IMG_20190314_101500.jpg",
        "2019-03-14.log",
        "19790312-2393.pdf",  # an identity number, not a phone number
        "+4670123456789.txt",
    ],
)
def test_phone_near_misses(path: str) -> None:
    assert "phone" not in cats(path)


def test_phone_find_returns_as_written() -> None:
    assert phone.find("a 070-123 45 67 b +46 70 123 45 67") == ["070-123 45 67", "+46 70 123 45 67"]
    assert phone.find("no digits") == []


@pytest.mark.parametrize(
    "path",
    [
        "Patientjournaler/2019/a.pdf",
        "journal_anna.docx",
        "remiss-ortoped.pdf",
        "recept_2020.pdf",
        "epikris.doc",
        "provsvar/x.txt",
        "Vårdcentralen/lista.xlsx",
        "rontgen/bild.dcm",
        "ct/slice001.dcm",
    ],
)
def test_medical(path: str) -> None:
    assert "medical" in cats(path)


@pytest.mark.parametrize(
    "path",
    ["impatient.txt", "reception.pdf", "diagnostics.log", "journald.conf", "prescriptive.txt"],
)
def test_medical_near_misses(path: str) -> None:
    assert "medical" not in cats(path)


@pytest.mark.parametrize(
    ("path", "category"),
    [
        ("backups/db_backup_2019.sql.gz", "database"),
        ("backups/db_backup_2019.sql.gz", "backup"),
        ("dump.sql", "database"),
        ("prod.dump", "database"),
        ("app.sqlite", "database"),
        ("master.mdf", "database"),
        ("server.bak", "backup"),
        ("backups/config_backup_2020.tar.gz", "backup"),
        ("nightly-snapshot.7z", "backup"),
        ("win.vbk", "backup"),
        ("vm/disk-flat.vmdk", "disk-image"),
        ("hyperv/dc01.vhdx", "disk-image"),
        ("old.vhd", "disk-image"),
        ("kvm/web.qcow2", "disk-image"),
    ],
)
def test_databases_backups_disk_images(path: str, category: str) -> None:
    assert category in cats(path)


@pytest.mark.parametrize(
    "path", ["sql-tutorial.pdf", "backup-policy.docx", "dumpling.jpg", "photos.zip", "a.vmdk.txt"]
)
def test_database_backup_near_misses(path: str) -> None:
    assert not cats(path) & {"database", "backup", "disk-image"}


def test_size_condition_on_raw_images() -> None:
    assert "disk-image" in cats("nas.img", size=2 * 10**9)
    assert "disk-image" not in cats("nas.img", size=10**6)
    assert "disk-image" not in cats("nas.img", size=None)  # unknown size: no claim


@pytest.mark.parametrize(
    "path",
    [
        "Passwords.kdbx",
        "home/bob/.ssh/id_rsa",
        "server.pem",
        "vpn/client.ovpn",
        "www/.htpasswd",
        "passwords.xlsx",
        "lösenord.txt",
        "cert.pfx",
        "etc/shadow",
        "aws/credentials",
    ],
)
def test_credentials(path: str) -> None:
    assert "credentials" in cats(path)


@pytest.mark.parametrize(
    "path", ["id_rsa.pub", "passwordless-login.md", "keys.png", "shadowing.txt", "bypass.txt"]
)
def test_credentials_near_misses(path: str) -> None:
    assert "credentials" not in cats(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("startup-config", {"device-config"}),
        ("backup/nas.cfg", {"device-config", "backup"}),
        ("cfg/core-switch-01.cfg", {"device-config"}),
        ("backups/whatever.txt", {"backup"}),
        ("pxelinux.0", set()),
        ("etc/nginx.conf", set()),
        ("mybackups/x.txt", set()),
        ("switchboard.txt", set()),
    ],
)
def test_device_configs_and_backup_folders(path: str, expected: set[str]) -> None:
    assert cats(path) == expected


def test_directories_are_not_classified() -> None:
    assert RULES.classify_entry(Entry(path="patient/19811218-9876", is_dir=True)) == {}


@pytest.mark.parametrize(
    ("resource", "category"),
    [
        ("recordings", "recording"),
        ("call-recordings", "recording"),
        ("Inspelningar", "recording"),
        ("/export/samtal", "recording"),
        ("patientdata", "medical"),
        ("backup", "backup"),
    ],
)
def test_resource_names(resource: str, category: str) -> None:
    assert category in RULES.classify_resource(resource)


@pytest.mark.parametrize("resource", ["website-assets", "public", "/", "", None, "staff"])
def test_dull_resource_names(resource: str | None) -> None:
    assert RULES.classify_resource(resource) == {}


def test_split_name() -> None:
    assert split_name("a/b.sql.gz") == ("b.sql.gz", ("gz", "sql.gz"))
    assert split_name("x.wav") == ("x.wav", ("wav",))
    assert split_name("id_rsa") == ("id_rsa", ())
    assert split_name(".htpasswd") == (".htpasswd", ("htpasswd",))
    assert split_name("dir/") == ("dir", ())
    assert split_name("trailing.") == ("trailing.", ())


# --- the rule file format and validation ---------------------------------------------------------


def test_default_rules_cover_the_required_families() -> None:
    keys = set(RULES.categories)
    assert {"recording", "personal-id", "phone", "medical", "database", "credentials"} <= keys
    assert {c for c, cat in RULES.categories.items() if cat.critical} == {
        "recording",
        "personal-id",
        "medical",
    }
    names = [r.name for r in RULES.rules]
    assert len(names) == len(set(names))


def _write(tmp: Path, text: str, name: str = "mine.toml") -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


def test_user_rules_add_override_and_disable(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        """
[categories.cad]
label = "CAD drawings"
priority = 30

[[rule]]
name = "cad-ext"
category = "cad"
where = "extension"
how = "exact"
patterns = [".dwg"]

[[rule]]
name = "audio-extension"          # replaces the default: only wav now
category = "recording"
where = "extension"
how = "exact"
patterns = ["wav"]
weight = 60

[[rule]]
name = "phone-number"
category = "phone"
where = "path"
how = "detector"
detector = "phone"
enabled = false

[[rule]]
name = "huge"
category = "cad"
where = "size"
min = "10 GB"
""",
    )
    rs = load_rules([p])
    assert set(rs.classify_entry(Entry(path="plan.DWG", size=1))) == {"cad"}
    assert "recording" not in rs.classify_entry(Entry(path="x.mp3", size=1))
    assert "recording" in rs.classify_entry(Entry(path="x.wav", size=1))
    assert "phone" not in rs.classify_entry(Entry(path="0701234567.txt", size=1))
    assert "cad" in rs.classify_entry(Entry(path="blob", size=11 * 10**9))
    assert rs.sources == ("scanner/rules/default.toml", str(p))
    # The defaults themselves are untouched.
    assert "recording" in RULES.classify_entry(Entry(path="x.mp3", size=1))


def test_regex_rule_case_sensitivity(tmp_path: Path) -> None:
    text = """
[categories.x]
label = "x files"
[[rule]]
name = "r"
category = "x"
where = "name"
how = "regex"
patterns = ['^SECRET']
case_sensitive = %s
"""
    strict = load_rules([_write(tmp_path, text % "true", "a.toml")], defaults=False)
    loose = load_rules([_write(tmp_path, text % "false", "b.toml")], defaults=False)
    assert strict.classify_entry(Entry(path="SECRET.txt")) == {"x": 10}
    assert strict.classify_entry(Entry(path="secret.txt")) == {}
    assert loose.classify_entry(Entry(path="secret.txt")) == {"x": 10}


_BASE = """
[categories.x]
label = "x files"

[[rule]]
name = "broken-one"
category = "x"
"""


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            'where = "name"\nhow = "regex"\npatterns = ["(unclosed"]',
            "not a valid regular expression",
        ),
        ('where = "filename"\nhow = "exact"\npatterns = ["a"]', "'where' must be one of"),
        ('where = "name"\nhow = "fuzzy"\npatterns = ["a"]', "'how' must be one of"),
        ('where = "name"\nhow = "exact"\npatterns = []', "non-empty list"),
        ('where = "name"\nhow = "exact"\npatterns = ["a"]\nweight = 101', "'weight' must be"),
        ('where = "name"\nhow = "exact"\npatterns = ["a"]\ncolour = "red"', "unknown key"),
        ('where = "name"\nhow = "detector"\ndetector = "iban"', "'detector' must be one of"),
        ('where = "size"\nmin = "lots"', "must be a size"),
        ('where = "size"', "needs 'min' and/or 'max'"),
        ('where = "size"\nmin = 10\nmax = 5', "minimum size is larger"),
        ('where = "name"\nhow = "range"\nmin = 1', "goes with how = 'range'"),
        ('where = "resource"\nhow = "exact"\npatterns = ["a"]\nmin_size = 5', "does not apply"),
        ('where = "name"\nhow = "exact"\npatterns = ["a"]\nmin = 5', "'min' is for size rules"),
    ],
)
def test_broken_rule_names_file_rule_and_problem(tmp_path: Path, body: str, problem: str) -> None:
    p = _write(tmp_path, _BASE + body + "\n")
    with pytest.raises(RuleError) as info:
        load_rules([p])
    msg = str(info.value)
    assert str(p) in msg
    assert "'broken-one'" in msg
    assert problem in msg
    assert isinstance(info.value, ValueError)
    assert info.value.rule == "broken-one"


def test_unknown_category_is_reported(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        '[[rule]]\nname = "orphan"\ncategory = "nope"\nwhere = "name"\nhow = "exact"\n'
        'patterns = ["a"]\n',
    )
    with pytest.raises(RuleError, match=r"mine\.toml: rule 'orphan': unknown category 'nope'"):
        load_rules([p])
    # ... but a category from the defaults is fine.
    p2 = _write(
        tmp_path,
        '[[rule]]\nname = "mine"\ncategory = "recording"\nwhere = "extension"\nhow = "exact"\n'
        'patterns = ["vox2"]\n',
        "ok.toml",
    )
    assert "recording" in load_rules([p2]).classify_entry(Entry(path="a.vox2"))


def test_file_level_problems(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"bad\.toml: not valid TOML"):
        load_rules([_write(tmp_path, "[[rule]\nname=", "bad.toml")])
    with pytest.raises(RuleError, match=r"missing\.toml: cannot read the rule file"):
        load_rules([tmp_path / "missing.toml"])
    with pytest.raises(RuleError, match=r"unknown top-level key"):
        load_rules([_write(tmp_path, "rules = 1\n", "top.toml")])
    with pytest.raises(RuleError, match=r"version"):
        load_rules([_write(tmp_path, "version = 2\n[categories.a]\nlabel='a'\n", "v.toml")])
    with pytest.raises(RuleError, match=r"no categories and no rules"):
        load_rules([_write(tmp_path, "version = 1\n", "empty.toml")])
    with pytest.raises(RuleError, match=r"rule '#1': 'name'"):
        load_rules([_write(tmp_path, '[[rule]]\ncategory = "recording"\n', "noname.toml")])
    dup = '[[rule]]\nname="d"\ncategory="recording"\nwhere="name"\nhow="exact"\npatterns=["a"]\n'
    with pytest.raises(RuleError, match=r"rule 'd': the rule name is used twice"):
        load_rules([_write(tmp_path, dup + dup, "dup.toml")])
    with pytest.raises(RuleError, match=r"category c: 'label'"):
        load_rules([_write(tmp_path, "[categories.c]\npriority = 1\n", "cat.toml")])


def test_parse_size_units() -> None:
    assert parse_size(5, "f", "r", "min") == 5
    assert parse_size("100 MB", "f", "r", "min") == 100 * 10**6
    assert parse_size("1.5GiB", "f", "r", "min") == int(1.5 * 2**30)
    for bad in ("-1", "5 parsecs", True, -3, 1.5):
        with pytest.raises(RuleError):
            parse_size(bad, "f", "r", "min")


def test_regex_patterns_with_inline_flags_still_work() -> None:
    rs = parse_rules(
        '[categories.a]\nlabel="a"\n[[rule]]\nname="r"\ncategory="a"\nwhere="name"\n'
        'how="regex"\ncase_sensitive=true\npatterns=["(?i)^abc", "x$"]\n',
        "<inline>",
    )
    assert rs.classify_entry(Entry(path="d/ABCd")) == {"a": 10}
    assert rs.classify_entry(Entry(path="qx")) == {"a": 10}
    assert rs.classify_entry(Entry(path="qX")) == {}


def test_parse_rules_direct_text() -> None:
    rs = parse_rules(
        '[categories.a]\nlabel="a"\n[[rule]]\nname="n"\ncategory="a"\nwhere="path"\n'
        'how="contains"\npatterns=["Secret"]\n',
        "<inline>",
    )
    assert rs.classify_entry(Entry(path="top/secretive/x")) == {"a": 10}
    assert rs.classify_entry(Entry(path="top/x")) == {}


# --- sniffing first bytes -------------------------------------------------------------------------


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 10)
    return buf.getvalue()


def _sqlite() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.db"
        con = sqlite3.connect(p)
        con.execute("create table t (a)")
        con.commit()
        con.close()
        return p.read_bytes()[:256]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "hello")
    return buf.getvalue()


def _tar() -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo("a.txt")
        info.size = 0
        t.addfile(info, io.BytesIO(b""))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (_wav(), "wav"),
        (b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10), "mp3"),
        (b"\xff\xfb\x90\x64" + bytes(100), "mp3"),  # MPEG-1 Layer III frame
        (b"\xff\xf3\x48\xc4" + bytes(20), "mp3"),  # MPEG-2 Layer III
        (b"\xff\xf1\x50\x80" + bytes(20), "aac"),  # ADTS
        (b"OggS\x00\x02" + bytes(22) + b"\x13OpusHead", "opus"),
        (b"OggS\x00\x02" + bytes(22) + b"\x01vorbis", "ogg"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"#!AMR\n" + bytes(8), "amr"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "m4a"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x00\x00", "mp4"),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(8), "wma"),
        (b"FORM\x00\x00\x00\x10AIFFCOMM", "aiff"),
        (_sqlite(), "sqlite"),
        (_zip(), "zip"),
        (gzip.compress(b"-- dump\n", mtime=0), "gzip"),
        (_tar(), "tar"),
        (b"%PDF-1.7\n%\xe2\xe3", "pdf"),
        (b"KDMV\x01\x00\x00\x00", "vmdk"),
        (b"QFI\xfb\x00\x00\x00\x03", "qcow2"),
        (b"conectix\x00\x00\x00\x02", "vhd"),
        (b"vhdxfile" + bytes(8), "vhdx"),
        (bytes.fromhex("03d9a29a67fb4bb5") + bytes(4), "kdbx"),
        (b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn", "private-key"),
        (b"-----BEGIN RSA PRIVATE KEY-----\n", "private-key"),
        (b"-----BEGIN CERTIFICATE-----\nMII", "certificate"),
        (b"PGDMP\x01\x0e", "pgdump"),
        (b"-- MySQL dump 10.13  Distrib 8.0", "sql"),
        (bytes(128) + b"DICM\x02\x00", "dicom"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "avi"),
    ],
)
def test_sniff_constructed_bytes(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


def test_sniff_lab_content_types() -> None:
    from scanner.lab.content import files

    by_ext: dict[str, bytes] = {}
    for f in files():
        by_ext.setdefault(f.path.rsplit(".", 1)[-1], f.data[:64])
    assert sniff(by_ext["wav"]) == "wav"
    assert sniff(by_ext["mp3"]) == "mp3"
    assert sniff(by_ext["png"]) == "png"
    assert sniff(by_ext["gz"]) == "gzip"
    assert sniff(by_ext["txt"]) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world",
        b"RIFF",  # too short to say
        b"\xff\xff\xff\xff",  # bad MPEG header (reserved bitrate)
        b"\xff\xfb\xf0\x00",  # bitrate index 1111
        b"\xff\xfb\x9c\x00",  # sample-rate index 11
        b"\xff\xeb\x90\x00",  # MPEG version 'reserved'
        b"\xff\xe1\x00\x00",  # layer 00 without ADTS sync
        b"PK",
        b"-- just a comment",
    ],
)
def test_sniff_near_misses(data: bytes) -> None:
    assert sniff(data) is None


@given(st.binary(max_size=300))
def test_sniff_never_raises(data: bytes) -> None:
    result = sniff(data)
    assert result is None or isinstance(result, str)


def test_sniff_categories_exist_in_default_rules() -> None:
    assert set(SNIFF_CATEGORY.values()) <= set(RULES.categories)
    assert SNIFF_CATEGORY["wav"] == "recording" and SNIFF_CATEGORY["sqlite"] == "database"


def test_choose_samples_prefers_interesting_files() -> None:
    entries = [
        Entry(path="readme.txt", size=10),
        Entry(path="dir", is_dir=True),
        Entry(path="empty.wav", size=0),
        Entry(path="a/19811218-9876_0701234567.wav", size=100),
        Entry(path="a/121212-1212.wav", size=100),
        Entry(path="b/dump.sql", size=100),
        Entry(path="logo.png", size=10),
    ]
    picked = [e.path for e in choose_samples(entries, count=3)]
    assert picked == ["a/19811218-9876_0701234567.wav", "b/dump.sql", "readme.txt"]
    assert choose_samples([], 3) == []


def test_mpeg_header_struct() -> None:
    # Build MPEG-1 Layer III headers for every valid bitrate/sample-rate index: all sniff as mp3.
    for bitrate in range(1, 15):
        for rate in range(3):
            b2 = (bitrate << 4) | (rate << 2)
            assert sniff(struct.pack("BBBB", 0xFF, 0xFB, b2, 0x64)) == "mp3"


def test_cli_broken_rules_exit_2_with_one_clear_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    p = _write(tmp_path, _BASE + 'where = "name"\nhow = "regex"\npatterns = ["(oops"]\n')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scanner.cli",
            "scan",
            "127.0.0.1",
            "-p",
            "1",
            "--rules",
            str(p),
            "-q",
            "--probes",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()
    assert len(err) == 1
    assert str(p) in err[0] and "'broken-one'" in err[0]
    assert "not a valid regular expression" in err[0]


def test_sniff_evidence_feeds_triage() -> None:
    from scanner.models import Authentication, Finding, Kind, Listing
    from scanner.triage import triage_finding

    samples = {f"x/{i}.dat": _wav() for i in range(12)}
    samples["a/19811218-9876.bin"] = b"hello"
    ev = sniff_evidence(samples, limit=3)
    assert ev == {"x/0.dat": "wav", "x/1.dat": "wav", "x/2.dat": "wav"}
    listing = Listing(entries=[Entry(path=p, size=10) for p in samples])
    f = Finding(
        host="127.0.0.1",
        port=80,
        protocol="http",
        kind=Kind.UNAUTHENTICATED_ACCESS,
        authentication=Authentication.NONE,
        title="t",
        listing=listing,
        evidence={"sniffed": sniff_evidence(samples, limit=20)},
    )
    t = triage_finding(f)
    assert t.evidence["confirmed_by_content"] == {"recording": 12}
    assert t.evidence["sniffed"]["a/19811218-XXXX.bin"] is None
