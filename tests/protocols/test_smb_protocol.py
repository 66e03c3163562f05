"""scanner.protocols.smb messages, SMB1 and NTLM on constructed bytes, captured Samba bytes, and
hypothesis."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from repo_paths import CAPTURES

from scanner.protocols.smb import messages, ntlm, smb1
from scanner.protocols.smb.constants import (
    CIPHER_NAMES,
    WRITE_BITS,
    AccessMask,
    Capabilities,
    Command,
    CreateOptions,
    NegotiateContext,
    NtStatus,
    SecurityMode,
    ShareFlags,
    ShareType,
    status_name,
)
from scanner.protocols.smb.errors import SmbProtocolError, SmbStatusError
from scanner.protocols.smb.header import frame, parse_frame_header, parse_header

CAPTURES = CAPTURES / "smb"


# -- helpers that build server answers by the spec (independent of the parser) -------------------
def header(
    command: int, status: int = 0, *, flags: int = 1, tree_id: int = 0, sid: int = 0
) -> bytes:
    return struct.pack(
        "<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 1, status, command, 1, flags, 0, 7, 0, tree_id, sid,
        b"\x00" * 16,
    )  # fmt: skip


def negotiate_response(
    dialect: int,
    *,
    security_mode: int = 1,
    caps: int = 0,
    cipher: int | None = None,
    blob: bytes = b"",
) -> bytes:
    fixed = 64
    blob_off = 64 + fixed
    contexts = b""
    ctx_count = 0
    ctx_off = 0
    if cipher is not None:
        start = blob_off + len(blob)
        pad = (-start) % 8
        ctx_off = start + pad
        preauth = struct.pack("<HHH", 1, 32, 1) + b"s" * 32
        item1 = struct.pack("<HHI", 1, len(preauth), 0) + preauth
        item1 += b"\x00" * ((-len(item1)) % 8)
        enc = struct.pack("<HH", 1, cipher)
        item2 = struct.pack("<HHI", 2, len(enc), 0) + enc
        contexts = b"\x00" * pad + item1 + item2
        ctx_count = 2
    body = struct.pack(
        "<HHHH16sIIIIQQHHI", 65, security_mode, dialect, ctx_count, b"G" * 16, caps, 1 << 20,
        1 << 20, 1 << 20, 0, 0, blob_off if blob else 0, len(blob), ctx_off,
    )  # fmt: skip
    return header(Command.NEGOTIATE) + body + blob + contexts


def dir_info(name: str, *, size: int = 0, is_dir: bool = False, next_offset: int = 0) -> bytes:
    raw = name.encode("utf-16-le")
    attrs = 0x10 if is_dir else 0x80
    fixed = struct.pack(
        "<IIQQQQQQII", next_offset, 0, 0, 0, 132000000000000000, 0, size, 0, attrs, len(raw)
    )
    return fixed + raw


def chain(items: list[tuple[str, int, bool]]) -> bytes:
    out = b""
    for i, (name, size, is_dir) in enumerate(items):
        entry = dir_info(name, size=size, is_dir=is_dir)
        pad = (-len(entry)) % 8
        last = i == len(items) - 1
        entry = dir_info(
            name, size=size, is_dir=is_dir, next_offset=0 if last else len(entry) + pad
        )
        out += entry + (b"" if last else b"\x00" * pad)
    return out


# -- NEGOTIATE ------------------------------------------------------------------------------------
def test_negotiate_request_offers_dialects_and_aligned_contexts() -> None:
    req = messages.build_negotiate(salt=b"\x01" * 32, client_guid=b"C" * 16)
    assert req[:4] == b"\xfeSMB"
    size, count, sec, _r, caps, guid, ctx_off, ctx_count, _r2 = struct.unpack_from(
        "<HHHHI16sIHH", req, 64
    )
    assert (size, count, ctx_count) == (36, 5, 3)
    assert sec & SecurityMode.SIGNING_ENABLED and caps & Capabilities.ENCRYPTION
    assert guid == b"C" * 16
    dialects = struct.unpack_from("<5H", req, 64 + 36)
    assert dialects == (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)
    assert ctx_off % 8 == 0
    ctype, dlen = struct.unpack_from("<HH", req, ctx_off)
    assert ctype == NegotiateContext.PREAUTH_INTEGRITY
    assert req[ctx_off + 8 + 6 : ctx_off + 8 + 6 + 32] == b"\x01" * 32
    # the second context starts 8-aligned right after the first
    second = ctx_off + 8 + dlen + ((-(8 + dlen)) % 8)
    assert struct.unpack_from("<H", req, second)[0] == NegotiateContext.ENCRYPTION


def test_negotiate_request_without_311_has_no_contexts() -> None:
    req = messages.build_negotiate((0x0202,))
    assert len(req) == 64 + 36 + 2
    assert struct.unpack_from("<H", req, 64 + 2)[0] == 1


def test_smb30_encryption_capability_bit_is_capability_not_requirement() -> None:
    info = messages.parse_negotiate_response(
        negotiate_response(0x0300, caps=Capabilities.ENCRYPTION)
    )
    assert info.dialect_name == "3.0"
    assert info.encryption_capable
    assert not info.signing_required
    no = messages.parse_negotiate_response(negotiate_response(0x0300, caps=Capabilities.LARGE_MTU))
    assert not no.encryption_capable


def test_smb311_cipher_context_decides_capability() -> None:
    yes = messages.parse_negotiate_response(negotiate_response(0x0311, cipher=0x0002))
    assert yes.cipher == 2 and yes.encryption_capable
    assert NegotiateContext.ENCRYPTION in yes.context_types
    none = messages.parse_negotiate_response(negotiate_response(0x0311, cipher=0))
    assert none.cipher == 0 and not none.encryption_capable
    # on 3.1.1 the ENCRYPTION capability bit alone does not count
    bit_only = messages.parse_negotiate_response(
        negotiate_response(0x0311, caps=Capabilities.ENCRYPTION, cipher=0)
    )
    assert not bit_only.encryption_capable


def test_smb21_never_encrypts_and_signing_required_bit() -> None:
    info = messages.parse_negotiate_response(
        negotiate_response(0x0210, security_mode=3, caps=Capabilities.ENCRYPTION)
    )
    assert info.signing_required and info.signing_enabled
    assert not info.encryption_capable


def test_negotiate_security_blob_and_error_status() -> None:
    info = messages.parse_negotiate_response(negotiate_response(0x0202, blob=b"\x60\x03abc"))
    assert info.security_blob == b"\x60\x03abc"
    with pytest.raises(SmbStatusError):
        denied = header(Command.NEGOTIATE, 0xC0000022) + b"\x09\x00" + b"\0" * 7
        messages.parse_negotiate_response(denied)
    with pytest.raises(SmbProtocolError):
        messages.parse_negotiate_response(negotiate_response(0x02FF))


def test_negotiate_response_with_context_outside_message_is_rejected() -> None:
    msg = bytearray(negotiate_response(0x0311, cipher=2))
    struct.pack_into("<I", msg, 64 + 60, len(msg) + 100)  # NegotiateContextOffset
    with pytest.raises(SmbProtocolError):
        messages.parse_negotiate_response(bytes(msg))


def test_transform_header_and_wrong_magic() -> None:
    with pytest.raises(SmbProtocolError, match="encrypted"):
        parse_header(b"\xfdSMB" + b"\x00" * 60)
    with pytest.raises(SmbProtocolError):
        parse_header(b"HTTP/1.1 400 Bad Request\r\n" + b"\x00" * 60)


def test_frame_header_is_bounded() -> None:
    assert parse_frame_header(b"\x00\x00\x01\x00") == 256
    with pytest.raises(SmbProtocolError):
        parse_frame_header(b"\x00\xff\xff\xff", limit=1 << 20)
    with pytest.raises(SmbProtocolError):
        parse_frame_header(b"\x85\x00\x00\x00")  # NetBIOS keepalive/other type
    assert frame(b"abc") == b"\x00\x00\x00\x03abc"


# -- SMB1 ------------------------------------------------------------------------------------------
def smb1_negotiate_response(index: int, secmode: int) -> bytes:
    hdr = b"\xffSMB" + bytes([0x72]) + b"\x00" * 4 + b"\x88" + b"\x01\xc8" + b"\x00" * 20
    words = struct.pack("<HBHHIIIIQhB", index, secmode, 50, 1, 16644, 65536, 0, 0x8000E3FD, 0, 0, 0)
    return hdr + bytes([17]) + words + struct.pack("<H", 0)


def test_smb1_negotiate_request_offers_only_nt_lm() -> None:
    req = smb1.build_smb1_negotiate()
    assert req[:5] == b"\xffSMB\x72"
    assert req.endswith(b"\x02NT LM 0.12\x00")
    assert req[32] == 0  # word count


def test_smb1_negotiate_signing_required_and_refused() -> None:
    info = smb1.parse_smb1_negotiate_response(smb1_negotiate_response(0, 0x0F))
    assert info.accepted and info.signing_required and info.signing_enabled
    off = smb1.parse_smb1_negotiate_response(smb1_negotiate_response(0, 0x03))
    assert off.accepted and not off.signing_required and not off.signing_enabled
    refused = smb1.parse_smb1_negotiate_response(
        b"\xffSMB\x72" + b"\x00" * 27 + b"\x01\xff\xff\x00\x00"
    )
    assert not refused.accepted


# -- SESSION_SETUP / TREE_CONNECT / CREATE --------------------------------------------------
def session_setup_response(flags: int, status: int = 0, blob: bytes = b"") -> bytes:
    body = struct.pack("<HHHH", 9, flags, 72 if blob else 0, len(blob))
    return header(Command.SESSION_SETUP, status, sid=0x1234) + body + blob


@pytest.mark.parametrize(
    ("flags", "guest", "null", "encrypt"),
    [(0, False, False, False), (1, True, False, False), (2, False, True, False),
     (4, False, False, True), (5, True, False, True)],
)  # fmt: skip
def test_session_flags(flags: int, guest: bool, null: bool, encrypt: bool) -> None:
    r = messages.parse_session_setup_response(session_setup_response(flags))
    assert (r.is_guest, r.is_null, r.encrypt_data) == (guest, null, encrypt)
    assert r.session_id == 0x1234


def test_session_setup_failure_has_no_flags() -> None:
    msg = header(Command.SESSION_SETUP, NtStatus.LOGON_FAILURE) + b"\x09\x00\x00\x00" + b"\0" * 5
    r = messages.parse_session_setup_response(msg)
    assert r.status == NtStatus.LOGON_FAILURE and r.session_flags == 0
    assert status_name(r.status) == "STATUS_LOGON_FAILURE"


def test_tree_connect_share_flags_encrypt_data() -> None:
    body = struct.pack("<HBBIII", 16, 1, 0, ShareFlags.ENCRYPT_DATA | 0x30, 0, 0x001F01FF)
    r = messages.parse_tree_connect_response(header(Command.TREE_CONNECT, tree_id=9) + body)
    assert r.encrypt_data and r.share_type == ShareType.DISK and r.tree_id == 9
    body = struct.pack("<HBBIII", 16, 2, 0, 0x30, 0, 0x1F00A9)
    r = messages.parse_tree_connect_response(header(Command.TREE_CONNECT, tree_id=1) + body)
    assert not r.encrypt_data and r.share_type == ShareType.PIPE


def create_response(maximal: int | None, status: int = 0) -> bytes:
    ctx = b""
    if maximal is not None:
        data = struct.pack("<II", 0, maximal)
        ctx = struct.pack("<IHHHHI", 0, 16, 4, 0, 24, len(data)) + b"MxAc" + b"\0" * 4 + data
    off = 64 + 88 if ctx else 0
    body = struct.pack(
        "<HBBIQQQQQQII16sII", 89, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x10, 0, b"F" * 16, off, len(ctx)
    )
    return header(Command.CREATE, status) + body + ctx


def test_create_maximal_access_context() -> None:
    r = messages.parse_create_response(create_response(0x001200A9))
    assert r.maximal_access == 0x001200A9 and r.file_id == b"F" * 16
    assert not r.maximal_access & WRITE_BITS
    w = messages.parse_create_response(create_response(0x001F01FF))
    assert w.maximal_access is not None and w.maximal_access & WRITE_BITS
    none = messages.parse_create_response(create_response(None))
    assert none.maximal_access is None
    denied = messages.parse_create_response(create_response(None, NtStatus.ACCESS_DENIED))
    assert denied.status == NtStatus.ACCESS_DENIED and denied.file_id == b""


def test_create_request_opens_never_creates_and_asks_mxac() -> None:
    req = messages.build_create(3, 5, 7, "2019/03")
    (size, _sf, _op, _imp, _f, _r, access, _attr, share, disp, opts, noff, nlen, coff, clen) = (
        struct.unpack_from("<HBBIQQIIIIIHHII", req, 64)
    )
    assert size == 57 and disp == 1  # FILE_OPEN
    assert share == 7 and opts == CreateOptions.FILE_DIRECTORY_FILE
    assert not access & WRITE_BITS
    assert req[noff : noff + nlen].decode("utf-16-le") == "2019\\03"
    assert coff % 8 == 0 and req[coff + 16 : coff + 20] == b"MxAc" and clen == 24
    root = messages.build_create(3, 5, 7, "")
    assert struct.unpack_from("<H", root, 64 + 46)[0] == 0  # empty name
    f = messages.build_create(
        1, 1, 1, "a.wav", desired_access=AccessMask.FILE_READ_DATA,
        create_options=CreateOptions.FILE_NON_DIRECTORY_FILE, maximal_access=False,
    )  # fmt: skip
    assert struct.unpack_from("<I", f, 64 + 24)[0] == AccessMask.FILE_READ_DATA


# -- QUERY_DIRECTORY ------------------------------------------------------------------------------
def test_directory_information_chain() -> None:
    buf = chain([(".", 0, True), ("..", 0, True), ("2019", 0, True), ("rec ö.wav", 1234, False)])
    entries = messages.parse_directory_information(buf)
    assert [(e.name, e.is_dir, e.size) for e in entries] == [
        ("2019", True, 0),
        ("rec ö.wav", False, 1234),
    ]
    assert entries[1].mtime is not None and entries[1].mtime.year == 2019


def test_directory_information_bad_offsets() -> None:
    one = dir_info("x", next_offset=4)
    with pytest.raises(SmbProtocolError):
        messages.parse_directory_information(one + b"\0" * 80)
    with pytest.raises(SmbProtocolError):
        messages.parse_directory_information(dir_info("abc")[:-2])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=30).filter(lambda s: s not in (".", "..")),
            st.integers(0, 2**63 - 1),
            st.booleans(),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_directory_information_roundtrip(items: list[tuple[str, int, bool]]) -> None:
    items = [(n.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace"), s, d)
             for n, s, d in items]  # fmt: skip
    entries = messages.parse_directory_information(chain(items))
    assert [(e.name, e.size, e.is_dir) for e in entries] == items


PARSERS = [
    messages.parse_negotiate_response,
    messages.parse_session_setup_response,
    messages.parse_tree_connect_response,
    messages.parse_create_response,
    messages.parse_query_directory_response,
    smb1.parse_smb1_negotiate_response,
    messages.parse_directory_information,
]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(PARSERS))
def test_parsers_fail_only_with_their_own_errors(data: bytes, parser: object) -> None:
    with contextlib.suppress(SmbProtocolError, SmbStatusError):
        parser(data)  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.sampled_from(PARSERS[:5]))
def test_parsers_on_mutated_valid_header(tail: bytes, parser: object) -> None:
    for command in (0, 1, 3, 5, 14):
        with contextlib.suppress(SmbProtocolError, SmbStatusError):
            parser(header(command) + tail)  # type: ignore[operator]


# -- NTLMSSP / SPNEGO -----------------------------------------------------------------------------
def challenge_blob(target_info: bytes = b"\x02\x00\x04\x00L\x00A\x00\x00\x00\x00\x00") -> bytes:
    name = "LAB".encode("utf-16-le")
    fixed = 56
    msg = b"NTLMSSP\x00" + struct.pack("<I", 2)
    msg += struct.pack("<HHI", len(name), len(name), fixed)
    msg += struct.pack("<I", 0xE2898215) + b"\x11" * 8 + b"\x00" * 8
    msg += struct.pack("<HHI", len(target_info), len(target_info), fixed + len(name))
    msg += b"\x00" * 8  # version
    return b"\xa1\x81\x00junk" + msg + name + target_info


def test_ntlm_challenge_parse() -> None:
    c = ntlm.parse_ntlm_challenge(challenge_blob())
    assert c.challenge == b"\x11" * 8 and c.target_name == "LAB"
    assert c.target_info.startswith(b"\x02\x00")
    with pytest.raises(SmbProtocolError):
        ntlm.parse_ntlm_challenge(b"no ntlm here")


def test_ntlm_anonymous_authenticate() -> None:
    c = ntlm.parse_ntlm_challenge(challenge_blob())
    msg = ntlm.build_ntlm_authenticate(c, user="")
    assert msg.startswith(b"NTLMSSP\x00\x03\x00\x00\x00")
    lm_len, _, lm_off = struct.unpack_from("<HHI", msg, 12)
    nt_len = struct.unpack_from("<H", msg, 20)[0]
    user_len = struct.unpack_from("<H", msg, 36)[0]
    flags = struct.unpack_from("<I", msg, 60)[0]
    assert nt_len == 0 and user_len == 0 and lm_len == 1 and msg[lm_off] == 0
    assert flags & ntlm.NtlmFlags.NEGOTIATE_ANONYMOUS


def test_ntlm_guest_response_is_valid_ntlmv2_for_the_empty_password() -> None:
    from spnego._ntlm_raw import crypto  # independent reference implementation

    assert crypto.ntowfv1("") == ntlm.NT_HASH_EMPTY_PASSWORD
    c = ntlm.parse_ntlm_challenge(challenge_blob())
    msg = ntlm.build_ntlm_authenticate(c, user="guest", client_challenge=b"\x22" * 8, timestamp=1)
    nt_len, _, nt_off = struct.unpack_from("<HHI", msg, 20)
    nt = msg[nt_off : nt_off + nt_len]
    key = crypto.ntowfv2("guest", crypto.ntowfv1(""), "")
    assert hmac.new(key, c.challenge + nt[16:], hashlib.md5).digest() == nt[:16]
    assert c.target_info in nt
    u_len, _, u_off = struct.unpack_from("<HHI", msg, 36)
    assert msg[u_off : u_off + u_len].decode("utf-16-le") == "guest"


def test_spnego_tokens_are_der() -> None:
    init = ntlm.spnego_init(ntlm.build_ntlm_negotiate())
    assert init[0] == 0x60 and init[1] == len(init) - 2
    assert ntlm.OID_SPNEGO in init and ntlm.OID_NTLMSSP in init
    big = ntlm.spnego_response(b"x" * 300)
    assert big[0] == 0xA1 and big[1] == 0x82 and int.from_bytes(big[2:4], "big") == len(big) - 4


# -- captured from the lab's Samba 4.17 ---------------------------------------------------------
def cap(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


def test_captured_guest_server_negotiate() -> None:
    info = messages.parse_negotiate_response(cap("negotiate_guest_server.bin"))
    assert info.dialect_name == "3.1.1" and not info.signing_required
    assert info.encryption_capable and info.cipher in CIPHER_NAMES
    assert info.security_blob.startswith(b"\x60")


def test_captured_secure_server_negotiate_requires_signing() -> None:
    info = messages.parse_negotiate_response(cap("negotiate_secure_server.bin"))
    assert info.signing_required and info.encryption_capable


def test_captured_sessions_and_tree() -> None:
    guest = messages.parse_session_setup_response(cap("session_setup_guest.bin"))
    assert guest.status == 0 and guest.is_guest and not guest.encrypt_data
    denied = messages.parse_session_setup_response(cap("session_setup_anonymous_denied.bin"))
    assert denied.status == NtStatus.ACCESS_DENIED
    tree = messages.parse_tree_connect_response(cap("tree_connect_recordings.bin"))
    assert tree.status == 0 and tree.share_type == ShareType.DISK and not tree.encrypt_data
    staff = messages.parse_tree_connect_response(cap("tree_connect_staff_denied.bin"))
    assert staff.status == NtStatus.ACCESS_DENIED


def test_captured_create_and_listing() -> None:
    cr = messages.parse_create_response(cap("create_root_mxac.bin"))
    assert cr.status == 0 and cr.maximal_access is not None
    assert not cr.maximal_access & WRITE_BITS  # read only = yes
    assert cr.maximal_access & AccessMask.FILE_LIST_DIRECTORY
    status, entries = messages.parse_query_directory_response(cap("query_directory_root.bin"))
    names = {e.name for e in entries}
    assert status == 0 and "2019" in names and "readme.txt" in names
    assert all(e.is_dir for e in entries if e.name == "2019")


def test_captured_smb1() -> None:
    nt1 = smb1.parse_smb1_negotiate_response(cap("smb1_negotiate_nt1_server.bin"))
    assert nt1.accepted and not nt1.signing_required
    refused = smb1.parse_smb1_negotiate_response(cap("smb1_negotiate_refused.bin"))
    assert not refused.accepted


def test_md4_vectors_and_nt_hash() -> None:
    """RFC 1320 test suite, and the NT hash against pyspnego's implementation."""
    from spnego._ntlm_raw import crypto

    vectors = {
        b"": "31d6cfe0d16ae931b73c59d7e0c089c0",
        b"a": "bde52cb31de33e46245e05fbdbd6fb24",
        b"abc": "a448017aaf21d8525fc10ae87aa6729d",
        b"message digest": "d9130a8164549fe818874806e1c7014b",
        b"abcdefghijklmnopqrstuvwxyz": "d79e1c308aa5bbcdeea8ed63df412da9",
        b"1234567890" * 8: "e33b4ddc9c38f2199c3e7b164fcc0536",
    }
    for data, digest in vectors.items():
        assert ntlm.md4(data).hex() == digest
    for pw in ("", "Secret123!", "ünïcødé", "x" * 200):
        assert ntlm.nt_hash(pw) == crypto.ntowfv1(pw)
    assert ntlm.nt_hash("") == ntlm.NT_HASH_EMPTY_PASSWORD


def test_ntlm_user_response_uses_the_password_hash() -> None:
    from spnego._ntlm_raw import crypto

    c = ntlm.parse_ntlm_challenge(challenge_blob())
    msg = ntlm.build_ntlm_authenticate(
        c, user="alice", domain="LAB", password_hash=ntlm.nt_hash("Secret123!"), timestamp=5
    )
    nt_len, _, nt_off = struct.unpack_from("<HHI", msg, 20)
    nt = msg[nt_off : nt_off + nt_len]
    key = crypto.ntowfv2("alice", crypto.ntowfv1("Secret123!"), "LAB")
    assert hmac.new(key, c.challenge + nt[16:], hashlib.md5).digest() == nt[:16]
