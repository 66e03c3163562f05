"""scanner.protocols.ftp on bytes: replies, FEAT, PASV/EPSV, MLSD facts, LIST styles; hypothesis."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.protocols import ftp

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# -- replies --------------------------------------------------------------------------------------
def test_single_and_multi_line_replies() -> None:
    data = (
        b"220 NAS FTP service ready.\r\n"
        b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n"
        b"211 End\r\n"
        b"230-Welcome\r\n"
        b"230-second line repeats the code with a dash\r\n"
        b"   an indented line\r\n"
        b"123 a line starting with another code is text\r\n"
        b"230 Login successful.\r\n"
    )
    replies = ftp.parse_replies(data)
    assert [r.code for r in replies] == [220, 211, 230]
    assert replies[0].message == "NAS FTP service ready."
    assert len(replies[1].lines) == 9
    assert replies[2].lines[-1] == "230 Login successful." and len(replies[2].lines) == 5
    assert replies[2].kind == 2


def test_feat_parsing_auth_tls_and_mlst() -> None:
    proftpd = ftp.parse_replies(
        b"211-Features:\r\n AUTH TLS\r\n MLST modify*;perm*;size*;type*;unique*;\r\n"
        b" PBSZ\r\n PROT\r\n UTF8\r\n211 End\r\n"
    )[0]
    feats = ftp.parse_feat(proftpd)
    assert ftp.auth_tls_offered(feats)
    assert ftp.feat_has(feats, "MLST") and ftp.feat_has(feats, "UTF8")
    assert not ftp.feat_has(feats, "MLS")
    vsftpd = ftp.parse_replies(b"211-Features:\r\n EPSV\r\n PBSZ\r\n PROT\r\n211 End\r\n")[0]
    assert not ftp.auth_tls_offered(ftp.parse_feat(vsftpd))
    refused = ftp.parse_replies(b"500 Unknown command.\r\n")[0]
    assert ftp.parse_feat(refused) == set()


def test_reply_parser_rejects_garbage_and_is_bounded() -> None:
    with pytest.raises(ftp.FtpProtocolError):
        ftp.ReplyParser().feed(b"SSH-2.0-OpenSSH_9.2\r\n")
    with pytest.raises(ftp.FtpProtocolError):
        ftp.ReplyParser().feed(b"999 no such code class\r\n")
    p = ftp.ReplyParser(max_lines=10)
    assert p.feed(b"220-start\r\n") is None
    with pytest.raises(ftp.FtpProtocolError):
        for _ in range(20):
            p.feed(b"220-more\r\n")
    p = ftp.ReplyParser(max_bytes=1000)
    p.feed(b"220-start\r\n")
    with pytest.raises(ftp.FtpProtocolError):
        p.feed(b"x" * 2000 + b"\r\n")


def test_pasv_uses_only_the_port_and_epsv() -> None:
    r = ftp.parse_replies(b"227 Entering Passive Mode (10,0,0,5,117,48).\r\n")[0]
    assert ftp.parse_pasv(r) == 117 * 256 + 48
    r = ftp.parse_replies(b"227 =127,0,10,11,117,49\r\n")[0]  # no parentheses (some servers)
    assert ftp.parse_pasv(r) == 117 * 256 + 49
    r = ftp.parse_replies(b"229 Entering Extended Passive Mode (|||30006|)\r\n")[0]
    assert ftp.parse_epsv(r) == 30006
    for bad in (b"227 Entering Passive Mode (1,2,3,4,999,1)\r\n", b"227 nothing\r\n"):
        with pytest.raises(ftp.FtpProtocolError):
            ftp.parse_pasv(ftp.parse_replies(bad)[0])
    with pytest.raises(ftp.FtpProtocolError):
        ftp.parse_epsv(ftp.parse_replies(b"229 (|||0|)\r\n")[0])
    with pytest.raises(ftp.FtpProtocolError):
        ftp.parse_epsv(ftp.parse_replies(b"500 EPSV not understood\r\n")[0])


# -- LIST styles ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "name", "is_dir", "size", "mtime"),
    [
        # vsftpd (numeric owner/group with hide_ids, year for old files)
        ("drwxr-xr-x    2 0        0            4096 Mar 14  2019 2019", "2019", True, None,
         "2019-03-14T00:00:00+00:00"),
        ("-rw-r--r--    1 ftp      ftp         48044 Mar 14  2019 "
         "19790312-2391_0701234567_20190314T101500.wav",
         "19790312-2391_0701234567_20190314T101500.wav", False, 48044,
         "2019-03-14T00:00:00+00:00"),
        # ProFTPD (recent file: time instead of year)
        ("-rw-r--r--   1 ftp      ftp          1234 Nov 20 10:15 readme.txt", "readme.txt",
         False, 1234, "2026-11-20T10:15:00+00:00"),
        # pure-ftpd (wide columns)
        ("-rw-r--r--    1 1000       1000             5678 Jan  2  2020 db_backup_2019.sql.gz",
         "db_backup_2019.sql.gz", False, 5678, "2020-01-02T00:00:00+00:00"),
        # a name with spaces, no group column (some embedded NAS servers)
        ("-rw-r--r--   1 root        12 Feb 29  2020 call recording 1.mp3", "call recording 1.mp3",
         False, 12, "2020-02-29T00:00:00+00:00"),
        # symlink
        ("lrwxrwxrwx    1 0        0               7 Mar 14  2019 latest -> 2019/03", "latest",
         False, 7, "2019-03-14T00:00:00+00:00"),
        # IIS / DOS style
        ("03-14-19  10:15AM       <DIR>          2019", "2019", True, None,
         "2019-03-14T10:15:00+00:00"),
        ("03-14-2019  01:05PM                12345 call 1.wav", "call 1.wav", False, 12345,
         "2019-03-14T13:05:00+00:00"),
        ("12-01-98  12:00AM                    1 old.txt", "old.txt", False, 1,
         "1998-12-01T00:00:00+00:00"),
    ],
)  # fmt: skip
def test_list_line_styles(line: str, name: str, is_dir: bool, size: int | None, mtime: str) -> None:
    e = ftp.parse_list_line(line, now=NOW)
    assert e is not None
    assert (e.name, e.is_dir, e.size, e.mtime) == (name, is_dir, size, mtime)


def test_list_recent_date_in_the_future_is_last_year() -> None:
    e = ftp.parse_list_line("-rw-r--r--   1 ftp ftp 1 Dec 24 10:00 x.wav", now=NOW)
    assert e is not None and e.mtime == "2025-12-24T10:00:00+00:00"


def test_list_ignores_total_dots_and_noise() -> None:
    for line in ("total 24", "", "drwxr-xr-x 2 0 0 4096 Mar 14 2019 .",
                 "drwxr-xr-x 2 0 0 4096 Mar 14 2019 ..", "<html>Index of /</html>",
                 "226 Transfer complete"):  # fmt: skip
        assert ftp.parse_list_line(line, now=NOW) is None


def test_list_mode_kept_for_hints() -> None:
    e = ftp.parse_list_line("drwxrwxrwx    2 0 0 4096 Mar 14  2019 incoming", now=NOW)
    assert e is not None and e.mode == "drwxrwxrwx" and e.mode[8] == "w"


# -- MLSD ------------------------------------------------------------------------------------------
def test_mlsd_facts() -> None:
    e = ftp.parse_mlsd_line(
        "type=file;size=48044;modify=20190314101500;UNIX.mode=0644;UNIX.owner=ftp; a b.wav"
    )
    assert e is not None
    assert (e.name, e.is_dir, e.size, e.mtime) == (
        "a b.wav", False, 48044, "2019-03-14T10:15:00+00:00",
    )  # fmt: skip
    d = ftp.parse_mlsd_line("type=dir;sizd=4096;modify=20190314101500.123;perm=flcdmpe; 2019")
    assert d is not None and d.is_dir and d.size is None and d.mode == "flcdmpe"
    assert d.mtime == "2019-03-14T10:15:00+00:00"
    assert ftp.parse_mlsd_line("type=cdir;modify=20190314101500; .") is None
    assert ftp.parse_mlsd_line("Type=pdir;perm=el; ..") is None
    assert ftp.parse_mlsd_line("garbage") is None
    link = ftp.parse_mlsd_line("type=OS.unix=slink:/x;size=3; latest")
    assert link is not None and link.is_link and not link.is_dir


# -- properties ------------------------------------------------------------------------------------
names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40
).filter(lambda s: s.strip() == s and s not in (".", "..") and " -> " not in s)


@settings(max_examples=200, deadline=None)
@given(names, st.integers(0, 10**12), st.booleans(), st.integers(1990, 2025))
def test_unix_list_roundtrip(name: str, size: int, is_dir: bool, year: int) -> None:
    mode = ("d" if is_dir else "-") + "rwxr-xr-x"
    line = f"{mode}    1 ftp      ftp {size:>12} Mar 14  {year} {name}"
    e = ftp.parse_list_line(line, now=NOW)
    assert e is not None
    assert e.name == name and e.is_dir == is_dir
    assert e.size == (None if is_dir else size)


@settings(max_examples=200, deadline=None)
@given(names, st.integers(0, 10**12), st.booleans())
def test_mlsd_roundtrip(name: str, size: int, is_dir: bool) -> None:
    line = f"type={'dir' if is_dir else 'file'};size={size};modify=20200101000000; {name}"
    e = ftp.parse_mlsd_line(line)
    assert e is not None and e.name == name and e.is_dir == is_dir
    assert e.size == (None if is_dir else size)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=30))
def test_reply_parser_only_raises_its_error(lines: list[bytes]) -> None:
    parser = ftp.ReplyParser(max_lines=20, max_bytes=2000)
    with contextlib.suppress(ftp.FtpProtocolError):
        for raw in lines:
            r = parser.feed(raw + b"\r\n")
            if r is not None:
                assert 100 <= r.code <= 599 and r.lines


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_listing_parsers_never_raise(line: str) -> None:
    ftp.parse_list_line(line, now=NOW)
    ftp.parse_mlsd_line(line)


# -- the probe's greeting detection (used by the engine on unclaimed ports) ---------------------
@pytest.mark.parametrize(
    ("greeting", "is_ftp"),
    [
        (b"220 NAS FTP service ready.\r\n", True),
        (b"220-Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n220-You are user 1\r\n", True),
        (b"220 ProFTPD Server (Debian) [::ffff:127.0.10.11]\r\n", True),
        (b"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n", False),
        (b"220 mx.example.com SMTP ready\r\n", False),
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", False),
        (b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n", False),
        (b"2200 not a reply code\r\n", False),
        (b"", False),
    ],
)
def test_matches_greeting(greeting: bytes, is_ftp: bool) -> None:
    from probes.ftp import PROBE

    assert PROBE.matches_greeting(greeting) is is_ftp
