"""rsync daemon protocol parsing on bytes (captured from rsync 3.5 / protocol 32)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.protocols import rsync as proto

# `#list` answer captured from `rsync --daemon` 3.5.0 (motd file + 2 listed modules, 1 unlisted)
CAPTURED = (
    b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"
    b"Welcome to NAS\n\n"
    b"recordings     \tcall recordings\n"
    b"private        \t\n"
    b"@RSYNCD: EXIT\n"
)


def test_modern_greeting_with_digest_list() -> None:
    g = proto.parse_greeting(b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n")
    assert (g.major, g.minor, g.version) == (32, 0, "32.0")
    assert g.digests == ("sha512", "sha256", "sha1", "md5", "md4")


@pytest.mark.parametrize(
    ("line", "version"), [(b"@RSYNCD: 31.0\n", "31.0"), (b"@RSYNCD: 29\n", "29.0"),
                          (b"@RSYNCD: 30.0\r\n", "30.0")],
)  # fmt: skip
def test_older_greetings(line: bytes, version: str) -> None:
    assert proto.parse_greeting(line).version == version


@pytest.mark.parametrize("line", [b"SSH-2.0-OpenSSH\r\n", b"@RSYNCD:32\n", b"", b"HTTP/1.1 400"])
def test_non_greetings_rejected(line: bytes) -> None:
    with pytest.raises(proto.RsyncProtocolError):
        proto.parse_greeting(line)


def test_matches_greeting() -> None:
    assert proto.matches_greeting(CAPTURED)
    assert not proto.matches_greeting(b"220 FTP ready\r\n")


def test_module_list_from_capture() -> None:
    lines = CAPTURED.splitlines(keepends=True)[1:]
    modules, motd = proto.parse_module_list(lines)
    assert [(m.name, m.comment) for m in modules] == [
        ("recordings", "call recordings"), ("private", "")
    ]  # fmt: skip
    assert motd == ["Welcome to NAS"]


def test_module_list_error_raises() -> None:
    with pytest.raises(proto.RsyncProtocolError):
        proto.parse_module_list([b"@ERROR: access denied to #list from 127.0.0.1\n"])


@pytest.mark.parametrize(
    ("line", "access"),
    [(b"@RSYNCD: OK\n", proto.ModuleAccess.OPEN),
     (b"@RSYNCD: AUTHREQD 3q2+7wAAAAAAAAAA\n", proto.ModuleAccess.AUTH_REQUIRED),
     (b"@ERROR: Unknown module 'nope'\n", proto.ModuleAccess.UNKNOWN_MODULE),
     (b"@ERROR: access denied to hidden from localhost (127.0.0.1)\n", proto.ModuleAccess.REFUSED),
     (b"@RSYNCD: EXIT\n", proto.ModuleAccess.REFUSED),
     (b"@ERROR: max connections (1) reached -- try again later\n", proto.ModuleAccess.BUSY)],
)  # fmt: skip
def test_module_replies(line: bytes, access: proto.ModuleAccess) -> None:
    reply = proto.parse_module_reply(line)
    assert reply is not None and reply.access == access


def test_motd_line_is_not_a_reply() -> None:
    assert proto.parse_module_reply(b"Welcome to NAS\n") is None


def test_list_only_lines() -> None:
    d = proto.parse_list_only("drwxr-xr-x          4,096 2026/11/23 12:52:38 2019/03")
    assert d == proto.ListLine("2019/03", 4096, "2026-11-23T12:52:38", True)
    f = proto.parse_list_only(
        "-rw-r--r--          1,234 2019/03/14 10:15:00 2019/03/19790312-2391_0701234567.wav"
    )
    assert f is not None and (f.size, f.is_dir) == (1234, False)
    assert proto.parse_list_only("rsync: connection refused") is None


@given(
    st.integers(20, 99),
    st.integers(0, 9),
    st.lists(st.sampled_from(["sha512", "sha256", "sha1", "md5", "md4", "xxh128"]), max_size=6),
)
def test_greeting_roundtrip(major: int, minor: int, digests: list[str]) -> None:  # fmt: skip
    line = f"@RSYNCD: {major}.{minor}{''.join(' ' + d for d in digests)}\n".encode()
    g = proto.parse_greeting(line)
    assert (g.major, g.minor, list(g.digests)) == (major, minor, digests)


@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    """Only RsyncProtocolError ever escapes; a parsed greeting always starts with @RSYNCD:."""
    with contextlib.suppress(proto.RsyncProtocolError):
        proto.parse_greeting(data)
        assert data.startswith(b"@RSYNCD: ")
    reply = proto.parse_module_reply(data)
    assert reply is None or data.startswith((b"@RSYNCD: ", b"@ERROR"))
    with contextlib.suppress(proto.RsyncProtocolError):
        modules, _ = proto.parse_module_list(data.splitlines(keepends=True))
        assert all(m.name and "\t" not in m.name for m in modules)
