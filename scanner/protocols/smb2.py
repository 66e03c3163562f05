"""SMB wire plumbing of our own: the parts the libraries hide.

What is here, and why it is ours:

- SMB2/3 NEGOTIATE (request builder, response parser): dialect, signing enabled/required,
  encryption capability (the ENCRYPTION capability bit for 3.0/3.0.2, the ENCRYPTION negotiate
  context for 3.1.1). "The server can encrypt" is *capability*; whether it *requires* encryption
  only shows after SESSION_SETUP (session flag ENCRYPT_DATA) and TREE_CONNECT (share flag
  ENCRYPT_DATA), which this module parses too.
- SMB1 NEGOTIATE (only the ``NT LM 0.12`` dialect): is SMB1 still enabled, does it require signing.
- A small asyncio SMB2 client for *unauthenticated* sessions only (NTLMSSP anonymous or guest,
  wrapped in SPNEGO): SESSION_SETUP, TREE_CONNECT, CREATE with the ``MxAc`` (maximal access)
  context, QUERY_DIRECTORY, CLOSE; and, only for ``--sample-bytes`` (intrusive), one READ of a
  file's first bytes. Null and guest sessions have no session key, so nothing is
  signed or encrypted, which is exactly what an unauthenticated attacker gets.

Everything is bounded: a message larger than ``MAX_MESSAGE`` is a protocol error, every read has a
timeout (the dialer's ``Connection``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

MAX_MESSAGE = 1 << 20
"""Largest SMB message we accept (1 MiB); the server may not make us buffer more."""

# -- constants ----------------------------------------------------------------------------------
SMB2_MAGIC = b"\xfeSMB"
SMB1_MAGIC = b"\xffSMB"
SMB2_TRANSFORM_MAGIC = b"\xfdSMB"

NEGOTIATE = 0x0000
SESSION_SETUP = 0x0001
LOGOFF = 0x0002
TREE_CONNECT = 0x0003
TREE_DISCONNECT = 0x0004
CREATE = 0x0005
CLOSE = 0x0006
READ = 0x0008
QUERY_DIRECTORY = 0x000E

DIALECT_NAMES: dict[int, str] = {
    0x0202: "2.0.2",
    0x0210: "2.1",
    0x0300: "3.0",
    0x0302: "3.0.2",
    0x0311: "3.1.1",
}
ALL_DIALECTS: tuple[int, ...] = (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)

SIGNING_ENABLED = 0x0001
SIGNING_REQUIRED = 0x0002

CAP_DFS = 0x01
CAP_LEASING = 0x02
CAP_LARGE_MTU = 0x04
CAP_MULTI_CHANNEL = 0x08
CAP_PERSISTENT_HANDLES = 0x10
CAP_DIRECTORY_LEASING = 0x20
CAP_ENCRYPTION = 0x40

CTX_PREAUTH_INTEGRITY = 0x0001
CTX_ENCRYPTION = 0x0002
CTX_SIGNING = 0x0008

CIPHER_NAMES: dict[int, str] = {
    0x0001: "AES-128-CCM",
    0x0002: "AES-128-GCM",
    0x0003: "AES-256-CCM",
    0x0004: "AES-256-GCM",
}

SESSION_FLAG_IS_GUEST = 0x0001
SESSION_FLAG_IS_NULL = 0x0002
SESSION_FLAG_ENCRYPT_DATA = 0x0004

SHARE_TYPE_DISK = 0x01
SHARE_TYPE_PIPE = 0x02
SHARE_TYPE_PRINT = 0x03
SHAREFLAG_ENCRYPT_DATA = 0x00008000

STATUS_SUCCESS = 0x00000000
STATUS_PENDING = 0x00000103
STATUS_NO_MORE_FILES = 0x80000006
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_LOGON_FAILURE = 0xC000006D
STATUS_BAD_NETWORK_NAME = 0xC00000CC
STATUS_NOT_SUPPORTED = 0xC00000BB
STATUS_END_OF_FILE = 0xC0000011

STATUS_NAMES: dict[int, str] = {
    STATUS_SUCCESS: "STATUS_SUCCESS",
    STATUS_PENDING: "STATUS_PENDING",
    STATUS_NO_MORE_FILES: "STATUS_NO_MORE_FILES",
    STATUS_MORE_PROCESSING_REQUIRED: "STATUS_MORE_PROCESSING_REQUIRED",
    STATUS_ACCESS_DENIED: "STATUS_ACCESS_DENIED",
    STATUS_LOGON_FAILURE: "STATUS_LOGON_FAILURE",
    STATUS_BAD_NETWORK_NAME: "STATUS_BAD_NETWORK_NAME",
    STATUS_NOT_SUPPORTED: "STATUS_NOT_SUPPORTED",
    STATUS_END_OF_FILE: "STATUS_END_OF_FILE",
    0xC0000043: "STATUS_SHARING_VIOLATION",
    0xC0000033: "STATUS_OBJECT_NAME_INVALID",
    0xC0000034: "STATUS_OBJECT_NAME_NOT_FOUND",
    0xC000015B: "STATUS_LOGON_TYPE_NOT_GRANTED",
    0xC0000072: "STATUS_ACCOUNT_DISABLED",
    0xC0000203: "STATUS_USER_SESSION_DELETED",
    0xC000000D: "STATUS_INVALID_PARAMETER",
    0xC0000010: "STATUS_INVALID_DEVICE_REQUEST",
    0xC0000103: "STATUS_NOT_A_DIRECTORY",
}

# Access mask bits (directory meaning where it differs).
FILE_LIST_DIRECTORY = 0x00000001
FILE_ADD_FILE = 0x00000002
FILE_ADD_SUBDIRECTORY = 0x00000004
FILE_WRITE_EA = 0x00000010
FILE_DELETE_CHILD = 0x00000040
FILE_READ_ATTRIBUTES = 0x00000080
FILE_WRITE_ATTRIBUTES = 0x00000100
DELETE = 0x00010000
WRITE_DAC = 0x00040000
WRITE_OWNER = 0x00080000
SYNCHRONIZE = 0x00100000
GENERIC_ALL = 0x10000000
GENERIC_WRITE = 0x40000000
WRITE_BITS = (
    FILE_ADD_FILE
    | FILE_ADD_SUBDIRECTORY
    | FILE_DELETE_CHILD
    | DELETE
    | WRITE_DAC
    | WRITE_OWNER
    | GENERIC_ALL
    | GENERIC_WRITE
)
"""Any of these in the maximal access of a share's root means an anonymous user may change it."""

FILE_ATTRIBUTE_DIRECTORY = 0x10
FILE_ATTRIBUTE_REPARSE_POINT = 0x400
FILE_DIRECTORY_INFORMATION = 0x01


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, f"0x{status:08X}")


class SmbProtocolError(Exception):
    """The peer sent something that is not the SMB we asked for."""


class SmbStatusError(Exception):
    """The server answered with an NT status error."""

    def __init__(self, command: str, status: int) -> None:
        super().__init__(f"{command}: {status_name(status)}")
        self.command = command
        self.status = status


# -- framing ------------------------------------------------------------------------------------
def frame(message: bytes) -> bytes:
    """Direct-TCP (port 445) framing: a zero byte and a 24-bit big-endian length."""
    if len(message) > 0xFFFFFF:
        raise ValueError("message too large for direct TCP framing")
    return b"\x00" + len(message).to_bytes(3, "big") + message


def parse_frame_header(header: bytes, limit: int = MAX_MESSAGE) -> int:
    """Length of the message that follows a 4-byte direct-TCP header; bounded by ``limit``."""
    if len(header) != 4:
        raise SmbProtocolError("short frame header")
    if header[0] != 0:
        raise SmbProtocolError(f"not a direct-TCP session message (type 0x{header[0]:02x})")
    length = int.from_bytes(header[1:4], "big")
    if length > limit:
        raise SmbProtocolError(f"message of {length} bytes exceeds the {limit}-byte bound")
    return length


# -- SMB2 header ----------------------------------------------------------------------------------
_HDR = struct.Struct("<4sHHIHHIIQIIQ16s")
FLAG_RESPONSE = 0x00000001
FLAG_ASYNC = 0x00000002


@dataclass(frozen=True)
class Smb2Header:
    command: int
    status: int
    flags: int
    message_id: int
    tree_id: int
    session_id: int
    credits: int

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_RESPONSE)


def build_header(
    command: int,
    message_id: int,
    *,
    session_id: int = 0,
    tree_id: int = 0,
    credit_charge: int = 0,
    credit_request: int = 31,
) -> bytes:
    return _HDR.pack(
        SMB2_MAGIC,
        64,
        credit_charge,
        0,
        command,
        credit_request,
        0,
        0,
        message_id,
        0xFEFF,
        tree_id,
        session_id,
        b"\x00" * 16,
    )


def parse_header(message: bytes) -> Smb2Header:
    if len(message) < 64:
        raise SmbProtocolError("SMB2 message shorter than its header")
    magic = message[:4]
    if magic == SMB2_TRANSFORM_MAGIC:
        raise SmbProtocolError("encrypted SMB3 message (transform header) on an unkeyed session")
    if magic != SMB2_MAGIC:
        raise SmbProtocolError(f"not an SMB2 message (magic {magic!r})")
    (_, size, _charge, status, command, credits, flags, _next, mid, _pid, tid, sid, _sig) = (
        _HDR.unpack_from(message)
    )
    if size != 64:
        raise SmbProtocolError(f"bad SMB2 header size {size}")
    if flags & FLAG_ASYNC:
        # async header: the 8 bytes of pid+tid are an AsyncId; tree id is not present
        tid = 0
    return Smb2Header(command, status, flags, mid, tid, sid, credits)


def _body(message: bytes, minimum: int) -> bytes:
    body = message[64:]
    if len(body) < minimum:
        raise SmbProtocolError(f"SMB2 body of {len(body)} bytes, expected at least {minimum}")
    return body


def _buffer(message: bytes, offset: int, length: int) -> bytes:
    """A variable part addressed from the start of the SMB2 header, bounds-checked."""
    if length == 0:
        return b""
    if offset < 64 or offset + length > len(message):
        raise SmbProtocolError("buffer offset/length outside the message")
    return message[offset : offset + length]


# -- NEGOTIATE ----------------------------------------------------------------------------------
def build_negotiate(
    dialects: tuple[int, ...] = ALL_DIALECTS,
    *,
    client_guid: bytes | None = None,
    salt: bytes | None = None,
    signing_required: bool = False,
) -> bytes:
    """An SMB2 NEGOTIATE request (header included) offering ``dialects``.

    With 3.1.1 offered, preauth-integrity (SHA-512), encryption (all four ciphers) and signing
    contexts are attached so the server tells us its cipher choice.
    """
    guid = client_guid if client_guid is not None else os.urandom(16)
    caps = CAP_DFS | CAP_LEASING | CAP_LARGE_MTU | CAP_ENCRYPTION
    sec = SIGNING_ENABLED | (SIGNING_REQUIRED if signing_required else 0)
    fixed_len = 36
    dialect_bytes = b"".join(struct.pack("<H", d) for d in dialects)
    contexts = b""
    ctx_offset = 0
    ctx_count = 0
    if 0x0311 in dialects:
        salt_bytes = salt if salt is not None else os.urandom(32)
        ctxs = [
            (CTX_PREAUTH_INTEGRITY, struct.pack("<HHH", 1, len(salt_bytes), 0x0001) + salt_bytes),
            (CTX_ENCRYPTION, struct.pack("<5H", 4, 0x0002, 0x0001, 0x0004, 0x0003)),
            (CTX_SIGNING, struct.pack("<4H", 3, 0x0002, 0x0001, 0x0000)),
        ]
        start = 64 + fixed_len + len(dialect_bytes)
        pad = (-start) % 8
        ctx_offset = start + pad
        parts = []
        for i, (ctype, data) in enumerate(ctxs):
            item = struct.pack("<HHI", ctype, len(data), 0) + data
            if i != len(ctxs) - 1:
                item += b"\x00" * ((-len(item)) % 8)
            parts.append(item)
        contexts = b"\x00" * pad + b"".join(parts)
        ctx_count = len(ctxs)
        tail = struct.pack("<IHH", ctx_offset, ctx_count, 0)
    else:
        tail = b"\x00" * 8  # ClientStartTime
    body = (
        struct.pack("<HHHHI16s", fixed_len, len(dialects), sec, 0, caps, guid)
        + tail
        + dialect_bytes
        + contexts
    )
    return build_header(NEGOTIATE, 0, credit_request=1) + body


@dataclass
class NegotiateInfo:
    """What an SMB2 NEGOTIATE response tells about the server."""

    dialect: int
    security_mode: int
    capabilities: int
    server_guid: bytes
    max_transact: int
    max_read: int
    cipher: int | None = None
    """3.1.1: the cipher the server picked from ours (0 = none in common); None if no context."""
    signing_algorithm: int | None = None
    security_blob: bytes = b""
    context_types: list[int] = field(default_factory=list)

    @property
    def dialect_name(self) -> str:
        return DIALECT_NAMES.get(self.dialect, f"0x{self.dialect:04x}")

    @property
    def signing_required(self) -> bool:
        return bool(self.security_mode & SIGNING_REQUIRED)

    @property
    def signing_enabled(self) -> bool:
        return bool(self.security_mode & (SIGNING_ENABLED | SIGNING_REQUIRED))

    @property
    def encryption_capable(self) -> bool:
        """Can the server encrypt on this dialect? Capability, not requirement."""
        if self.dialect >= 0x0311:
            return bool(self.cipher)
        if self.dialect >= 0x0300:
            return bool(self.capabilities & CAP_ENCRYPTION)
        return False


_NEG_RESP = struct.Struct("<HHHH16sIIIIQQHHI")


def parse_negotiate_response(message: bytes) -> NegotiateInfo:
    """Parse a full SMB2 NEGOTIATE response (header included)."""
    hdr = parse_header(message)
    if hdr.command != NEGOTIATE or not hdr.is_response:
        raise SmbProtocolError("not a NEGOTIATE response")
    if hdr.status != STATUS_SUCCESS:
        raise SmbStatusError("NEGOTIATE", hdr.status)
    body = _body(message, _NEG_RESP.size)
    (
        size,
        sec,
        dialect,
        ctx_count,
        guid,
        caps,
        max_tr,
        max_rd,
        _max_wr,
        _t,
        _st,
        blob_off,
        blob_len,
        ctx_off,
    ) = _NEG_RESP.unpack_from(body)
    if size != 65:
        raise SmbProtocolError(f"bad NEGOTIATE response size {size}")
    if dialect == 0x02FF:
        raise SmbProtocolError("server answered the wildcard dialect 2.???")
    info = NegotiateInfo(
        dialect=dialect,
        security_mode=sec,
        capabilities=caps,
        server_guid=guid,
        max_transact=max_tr,
        max_read=max_rd,
        security_blob=_buffer(message, blob_off, blob_len),
    )
    if dialect >= 0x0311 and ctx_count:
        if ctx_count > 32:
            raise SmbProtocolError("too many negotiate contexts")
        pos = ctx_off
        for _ in range(ctx_count):
            pos += (-pos) % 8
            if pos + 8 > len(message):
                raise SmbProtocolError("negotiate context outside the message")
            ctype, dlen, _r = struct.unpack_from("<HHI", message, pos)
            data = _buffer(message, pos + 8, dlen) if dlen else b""
            info.context_types.append(ctype)
            if ctype == CTX_ENCRYPTION and len(data) >= 2:
                count = struct.unpack_from("<H", data)[0]
                info.cipher = 0
                if count >= 1 and len(data) >= 4:
                    info.cipher = struct.unpack_from("<H", data, 2)[0]
            elif ctype == CTX_SIGNING and len(data) >= 4:
                info.signing_algorithm = struct.unpack_from("<H", data, 2)[0]
            pos += 8 + dlen
    return info


# -- SMB1 NEGOTIATE -----------------------------------------------------------------------------
SMB1_NEGOTIATE = 0x72
SMB1_SECMODE_USER = 0x01
SMB1_SECMODE_ENCRYPT_PASSWORDS = 0x02
SMB1_SECMODE_SIGNATURES_ENABLED = 0x04
SMB1_SECMODE_SIGNATURES_REQUIRED = 0x08


def build_smb1_negotiate(dialects: tuple[bytes, ...] = (b"NT LM 0.12",)) -> bytes:
    """An SMB1 NEGOTIATE request offering only the given (SMB1) dialect strings."""
    header = struct.pack(
        "<4sBIBHH8sHHHHH",
        SMB1_MAGIC,
        SMB1_NEGOTIATE,
        0,
        0x18,  # case-insensitive, canonicalised paths
        0xC843,  # unicode, NT status, extended security, long names, EAs, signatures allowed
        0,
        b"\x00" * 8,
        0,
        0xFFFF,
        0xFEFF,
        0,
        0,
    )
    data = b"".join(b"\x02" + d + b"\x00" for d in dialects)
    return header + b"\x00" + struct.pack("<H", len(data)) + data


@dataclass(frozen=True)
class Smb1NegotiateInfo:
    dialect_index: int
    security_mode: int
    capabilities: int

    @property
    def accepted(self) -> bool:
        return self.dialect_index != 0xFFFF

    @property
    def signing_required(self) -> bool:
        return bool(self.security_mode & SMB1_SECMODE_SIGNATURES_REQUIRED)

    @property
    def signing_enabled(self) -> bool:
        return bool(
            self.security_mode
            & (SMB1_SECMODE_SIGNATURES_ENABLED | SMB1_SECMODE_SIGNATURES_REQUIRED)
        )


def parse_smb1_negotiate_response(message: bytes) -> Smb1NegotiateInfo:
    """Parse an SMB1 NEGOTIATE response (after the 4-byte frame header)."""
    if len(message) < 35:
        raise SmbProtocolError("SMB1 message shorter than its header")
    if message[:4] != SMB1_MAGIC:
        raise SmbProtocolError(f"not an SMB1 message (magic {message[:4]!r})")
    if message[4] != SMB1_NEGOTIATE:
        raise SmbProtocolError("not an SMB1 NEGOTIATE response")
    status = struct.unpack_from("<I", message, 5)[0]
    if status != 0:
        raise SmbStatusError("SMB1 NEGOTIATE", status)
    word_count = message[32]
    if word_count == 1:  # "no dialect acceptable" answer: only DialectIndex (0xFFFF)
        if len(message) < 35:
            raise SmbProtocolError("short SMB1 NEGOTIATE response")
        return Smb1NegotiateInfo(struct.unpack_from("<H", message, 33)[0], 0, 0)
    if word_count != 17 or len(message) < 33 + 34:
        raise SmbProtocolError(f"unexpected SMB1 NEGOTIATE word count {word_count}")
    index = struct.unpack_from("<H", message, 33)[0]
    sec = message[35]
    caps = struct.unpack_from("<I", message, 33 + 2 + 1 + 2 + 2 + 4 + 4 + 4)[0]
    return Smb1NegotiateInfo(index, sec, caps)


# -- NTLMSSP + SPNEGO (unauthenticated logins only) ----------------------------------------------
NTLMSSP_SIG = b"NTLMSSP\x00"
NTLM_NEGOTIATE_UNICODE = 0x00000001
NTLM_REQUEST_TARGET = 0x00000004
NTLM_NEGOTIATE_NTLM = 0x00000200
NTLM_NEGOTIATE_ANONYMOUS = 0x00000800
NTLM_NEGOTIATE_ALWAYS_SIGN = 0x00008000
NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NTLM_NEGOTIATE_TARGET_INFO = 0x00800000
NTLM_NEGOTIATE_VERSION = 0x02000000
NTLM_NEGOTIATE_128 = 0x20000000
NTLM_NEGOTIATE_56 = 0x80000000
_NTLM_FLAGS = (
    NTLM_NEGOTIATE_UNICODE
    | NTLM_REQUEST_TARGET
    | NTLM_NEGOTIATE_NTLM
    | NTLM_NEGOTIATE_ALWAYS_SIGN
    | NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NTLM_NEGOTIATE_TARGET_INFO
    | NTLM_NEGOTIATE_128
    | NTLM_NEGOTIATE_56
)
NT_HASH_EMPTY_PASSWORD = bytes.fromhex("31d6cfe0d16ae931b73c59d7e0c089c0")
"""MD4 of the empty UTF-16 password: a constant, so no MD4 implementation is needed."""
OID_NTLMSSP = b"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"  # 1.3.6.1.4.1.311.2.2.10
OID_SPNEGO = b"\x2b\x06\x01\x05\x05\x02"  # 1.3.6.1.5.5.2


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def build_ntlm_negotiate() -> bytes:
    return NTLMSSP_SIG + struct.pack("<II", 1, _NTLM_FLAGS) + b"\x00" * 16


@dataclass(frozen=True)
class NtlmChallenge:
    flags: int
    challenge: bytes
    target_info: bytes
    target_name: str


def parse_ntlm_challenge(blob: bytes) -> NtlmChallenge:
    """Find and parse the NTLMSSP CHALLENGE message inside a (SPNEGO-wrapped) security blob."""
    pos = blob.find(NTLMSSP_SIG)
    if pos < 0:
        raise SmbProtocolError("no NTLMSSP message in the security blob")
    msg = blob[pos:]
    if len(msg) < 48:
        raise SmbProtocolError("short NTLMSSP CHALLENGE")
    mtype = struct.unpack_from("<I", msg, 8)[0]
    if mtype != 2:
        raise SmbProtocolError(f"NTLMSSP message type {mtype}, expected CHALLENGE (2)")
    tn_len, _tn_max, tn_off = struct.unpack_from("<HHI", msg, 12)
    flags = struct.unpack_from("<I", msg, 20)[0]
    challenge = msg[24:32]
    ti_len, _ti_max, ti_off = struct.unpack_from("<HHI", msg, 40)
    for off, ln in ((tn_off, tn_len), (ti_off, ti_len)):
        if ln and off + ln > len(msg):
            raise SmbProtocolError("NTLMSSP CHALLENGE field outside the message")
    target_info = msg[ti_off : ti_off + ti_len] if ti_len else b""
    target_name = msg[tn_off : tn_off + tn_len].decode("utf-16-le", "replace") if tn_len else ""
    return NtlmChallenge(flags, challenge, target_info, target_name)


def _filetime_now() -> int:
    return int((time.time() + 11644473600) * 10_000_000)


def md4(data: bytes) -> bytes:
    """MD4 (RFC 1320): OpenSSL 3 has it only in the legacy provider, so it is here (NT hash)."""

    def rol(x: int, n: int) -> int:
        x &= 0xFFFFFFFF
        return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF

    msg = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", len(data) * 8)
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off : off + 64])
        a, b, c, d = h
        for i in range(16):
            k, sh = i, (3, 7, 11, 19)[i % 4]
            a, b, c, d = d, rol(a + ((b & c) | (~b & d)) + x[k], sh), b, c
        for i in range(16):
            k, sh = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
            a, b, c, d = d, rol(a + ((b & c) | (b & d) | (c & d)) + x[k] + 0x5A827999, sh), b, c
        for i in range(16):
            k = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[i]
            sh = (3, 9, 11, 15)[i % 4]
            a, b, c, d = d, rol(a + (b ^ c ^ d) + x[k] + 0x6ED9EBA1, sh), b, c
        h = [(v + n) & 0xFFFFFFFF for v, n in zip(h, (a, b, c, d), strict=True)]
    return struct.pack("<4I", *h)


def nt_hash(password: str) -> bytes:
    return md4(password.encode("utf-16-le"))


def build_ntlm_authenticate(
    challenge: NtlmChallenge,
    *,
    user: str = "",
    domain: str = "",
    workstation: str = "NASSCAN",
    client_challenge: bytes | None = None,
    timestamp: int | None = None,
    password_hash: bytes = NT_HASH_EMPTY_PASSWORD,
) -> bytes:
    """AUTHENTICATE for an anonymous login (``user=''``), a guest login with an empty password,
    or (with ``password_hash``) a user's login when the operator gave credentials.

    The guest answer is a correct NTLMv2 response for the empty password (servers that check it,
    like Windows with the Guest account enabled, accept it; Samba's ``map to guest = Bad User``
    maps an unknown name to guest anyway). No session key is exchanged: only the server's
    SESSION_SETUP answer (status and session flags) is used.
    """
    flags = _NTLM_FLAGS & (challenge.flags | NTLM_NEGOTIATE_UNICODE)
    if not user:
        flags |= NTLM_NEGOTIATE_ANONYMOUS
        lm = b"\x00"
        nt = b""
    else:
        cc = client_challenge if client_challenge is not None else os.urandom(8)
        ts = timestamp if timestamp is not None else _filetime_now()
        ntowf = hmac.new(
            password_hash, (user.upper() + domain).encode("utf-16-le"), hashlib.md5
        ).digest()
        temp = b"\x01\x01" + b"\x00" * 6 + struct.pack("<Q", ts) + cc + b"\x00" * 4
        temp += challenge.target_info + b"\x00" * 4
        proof = hmac.new(ntowf, challenge.challenge + temp, hashlib.md5).digest()
        nt = proof + temp
        lm = b"\x00" * 24
    fields = [
        lm,
        nt,
        domain.encode("utf-16-le"),
        user.encode("utf-16-le"),
        workstation.encode("utf-16-le"),
        b"",  # no EncryptedRandomSessionKey
    ]
    offset = 64
    header = NTLMSSP_SIG + struct.pack("<I", 3)
    payload = b""
    for f in fields:
        header += struct.pack("<HHI", len(f), len(f), offset + len(payload))
        payload += f
    header += struct.pack("<I", flags)
    return header + payload


def spnego_init(mech_token: bytes) -> bytes:
    """GSS-API InitialContextToken: SPNEGO NegTokenInit offering NTLMSSP only."""
    mech_types = _der(0xA0, _der(0x30, _der(0x06, OID_NTLMSSP)))
    token = _der(0xA2, _der(0x04, mech_token))
    neg_token_init = _der(0xA0, _der(0x30, mech_types + token))
    return _der(0x60, _der(0x06, OID_SPNEGO) + neg_token_init)


def spnego_response(mech_token: bytes) -> bytes:
    """SPNEGO NegTokenResp carrying ``mech_token``."""
    return _der(0xA1, _der(0x30, _der(0xA2, _der(0x04, mech_token))))


# -- SESSION_SETUP / TREE_CONNECT / CREATE / QUERY_DIRECTORY / CLOSE ----------------------------
def build_session_setup(message_id: int, session_id: int, token: bytes, **kw: int) -> bytes:
    body = struct.pack("<HBBIIHHQ", 25, 0, SIGNING_ENABLED, CAP_DFS, 0, 64 + 24, len(token), 0)
    return build_header(SESSION_SETUP, message_id, session_id=session_id, **kw) + body + token


@dataclass(frozen=True)
class SessionSetupResponse:
    status: int
    session_id: int
    session_flags: int
    security_blob: bytes

    @property
    def is_guest(self) -> bool:
        return bool(self.session_flags & SESSION_FLAG_IS_GUEST)

    @property
    def is_null(self) -> bool:
        return bool(self.session_flags & SESSION_FLAG_IS_NULL)

    @property
    def encrypt_data(self) -> bool:
        """The server demands this session be encrypted (global or per-session requirement)."""
        return bool(self.session_flags & SESSION_FLAG_ENCRYPT_DATA)


def parse_session_setup_response(message: bytes) -> SessionSetupResponse:
    hdr = parse_header(message)
    if hdr.command != SESSION_SETUP or not hdr.is_response:
        raise SmbProtocolError("not a SESSION_SETUP response")
    if hdr.status not in (STATUS_SUCCESS, STATUS_MORE_PROCESSING_REQUIRED):
        return SessionSetupResponse(hdr.status, hdr.session_id, 0, b"")
    body = _body(message, 8)
    size, flags, off, length = struct.unpack_from("<HHHH", body)
    if size != 9:
        raise SmbProtocolError(f"bad SESSION_SETUP response size {size}")
    return SessionSetupResponse(hdr.status, hdr.session_id, flags, _buffer(message, off, length))


def build_tree_connect(message_id: int, session_id: int, unc: str, **kw: int) -> bytes:
    path = unc.encode("utf-16-le")
    body = struct.pack("<HHHH", 9, 0, 64 + 8, len(path))
    return build_header(TREE_CONNECT, message_id, session_id=session_id, **kw) + body + path


@dataclass(frozen=True)
class TreeConnectResponse:
    status: int
    tree_id: int
    share_type: int
    share_flags: int
    capabilities: int
    maximal_access: int

    @property
    def encrypt_data(self) -> bool:
        """The share demands encryption (SMB2_SHAREFLAG_ENCRYPT_DATA)."""
        return bool(self.share_flags & SHAREFLAG_ENCRYPT_DATA)


def parse_tree_connect_response(message: bytes) -> TreeConnectResponse:
    hdr = parse_header(message)
    if hdr.command != TREE_CONNECT or not hdr.is_response:
        raise SmbProtocolError("not a TREE_CONNECT response")
    if hdr.status != STATUS_SUCCESS:
        return TreeConnectResponse(hdr.status, 0, 0, 0, 0, 0)
    body = _body(message, 16)
    size, stype, _r, flags, caps, access = struct.unpack_from("<HBBIII", body)
    if size != 16:
        raise SmbProtocolError(f"bad TREE_CONNECT response size {size}")
    return TreeConnectResponse(hdr.status, hdr.tree_id, stype, flags, caps, access)


FILE_READ_DATA = 0x00000001
FILE_READ_EA = 0x00000008
FILE_DIRECTORY_FILE = 0x00000001
FILE_NON_DIRECTORY_FILE = 0x00000040
FILE_SHARE_READ = 0x00000001
FILE_SHARE_ALL = 0x00000007
MAX_READ_LENGTH = 64 * 1024
"""The most one ``read_head`` asks for (one credit; every server's MaxReadSize allows it)."""


def build_create(
    message_id: int,
    session_id: int,
    tree_id: int,
    path: str,
    *,
    desired_access: int = FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
    create_options: int = FILE_DIRECTORY_FILE,
    maximal_access: bool = True,
    share_access: int = FILE_SHARE_ALL,
    credit_charge: int = 0,
    credit_request: int = 31,
) -> bytes:
    """CREATE with disposition FILE_OPEN (never creates), optionally asking for ``MxAc``.

    The defaults open a directory for listing. ``Smb2Session.file_access`` opens a file for its
    attributes only (its ``MxAc`` tells whether it could be read); only ``read_head``
    (``--sample-bytes``) opens one with FILE_READ_DATA, and with share access read.
    """
    name = path.replace("/", "\\").strip("\\").encode("utf-16-le")
    name_off = 64 + 56
    contexts = b""
    ctx_off = 0
    if maximal_access:
        # one context, no data (no timestamp): Next, NameOffset, NameLength, Reserved,
        # DataOffset, DataLength, "MxAc", 4 bytes padding
        contexts = struct.pack("<IHHHHI", 0, 16, 4, 0, 0, 0) + b"MxAc" + b"\x00" * 4
        ctx_off = name_off + len(name) + ((-(name_off + len(name))) % 8)
    body = struct.pack(
        "<HBBIQQIIIIIHHII",
        57,
        0,
        0,  # no oplock
        2,  # impersonation
        0,
        0,
        desired_access,
        0,
        share_access,  # default read|write|delete: we never block anyone
        1,  # FILE_OPEN: never create
        create_options,
        name_off,
        len(name),
        ctx_off,
        len(contexts),
    )
    buf = name
    if contexts:
        buf += b"\x00" * (ctx_off - name_off - len(name)) + contexts
    if not buf:
        buf = b"\x00"
    hdr = build_header(
        CREATE,
        message_id,
        session_id=session_id,
        tree_id=tree_id,
        credit_charge=credit_charge,
        credit_request=credit_request,
    )
    return hdr + body + buf


@dataclass(frozen=True)
class CreateResponse:
    status: int
    file_id: bytes
    file_attributes: int
    maximal_access: int | None
    """From the MxAc response context (None if the server sent none or refused it)."""


def parse_create_response(message: bytes) -> CreateResponse:
    hdr = parse_header(message)
    if hdr.command != CREATE or not hdr.is_response:
        raise SmbProtocolError("not a CREATE response")
    if hdr.status != STATUS_SUCCESS:
        return CreateResponse(hdr.status, b"", 0, None)
    body = _body(message, 88)
    fields = struct.unpack_from("<HBBIQQQQQQII16sII", body)
    size, attrs, file_id = fields[0], fields[10], fields[12]
    ctx_off, ctx_len = fields[13], fields[14]
    if size != 89:
        raise SmbProtocolError(f"bad CREATE response size {size}")
    maximal: int | None = None
    ctxs = _buffer(message, ctx_off, ctx_len)
    pos = 0
    for _ in range(16):
        if pos + 16 > len(ctxs):
            break
        nxt, n_off, n_len, _r, d_off, d_len = struct.unpack_from("<IHHHHI", ctxs, pos)
        name = ctxs[pos + n_off : pos + n_off + n_len]
        data = ctxs[pos + d_off : pos + d_off + d_len]
        if name == b"MxAc" and len(data) >= 8:
            qstatus, access = struct.unpack_from("<II", data)
            if qstatus == STATUS_SUCCESS:
                maximal = access
        if nxt == 0:
            break
        pos += nxt
    return CreateResponse(hdr.status, file_id, attrs, maximal)


def build_query_directory(
    message_id: int,
    session_id: int,
    tree_id: int,
    file_id: bytes,
    *,
    restart: bool,
    output_length: int = 65536,
    pattern: str = "*",
    **kw: int,
) -> bytes:
    name = pattern.encode("utf-16-le")
    body = struct.pack(
        "<HBBI16sHHI",
        33,
        FILE_DIRECTORY_INFORMATION,
        0x01 if restart else 0,
        0,
        file_id,
        64 + 32,
        len(name),
        output_length,
    )
    return (
        build_header(QUERY_DIRECTORY, message_id, session_id=session_id, tree_id=tree_id, **kw)
        + body
        + name
    )


@dataclass(frozen=True)
class DirEntry:
    name: str
    size: int
    mtime: datetime | None
    is_dir: bool
    attributes: int


_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)


def filetime_to_datetime(ft: int) -> datetime | None:
    if ft <= 0:
        return None
    try:
        return _EPOCH_1601 + timedelta(microseconds=ft // 10)
    except OverflowError:
        return None


def parse_directory_information(buf: bytes, limit: int = 100_000) -> list[DirEntry]:
    """Parse a FileDirectoryInformation chain; '.' and '..' are dropped."""
    entries: list[DirEntry] = []
    pos = 0
    for _ in range(limit):
        if pos + 64 > len(buf):
            raise SmbProtocolError("directory entry outside the buffer")
        nxt, _idx, _c, _a, write, _ch, eof, _alloc, attrs, nlen = struct.unpack_from(
            "<IIQQQQQQII", buf, pos
        )
        if pos + 64 + nlen > len(buf):
            raise SmbProtocolError("directory entry name outside the buffer")
        try:  # unpaired surrogates stay lone surrogates: the crawler skips and counts them
            name = buf[pos + 64 : pos + 64 + nlen].decode("utf-16-le", "surrogatepass")
        except UnicodeDecodeError:  # an odd byte count: no name at all
            name = ""
        if name not in (".", ".."):
            entries.append(
                DirEntry(
                    name=name,
                    size=eof,
                    mtime=filetime_to_datetime(write),
                    is_dir=bool(attrs & FILE_ATTRIBUTE_DIRECTORY),
                    attributes=attrs,
                )
            )
        if nxt == 0:
            break
        if nxt < 64:
            raise SmbProtocolError("directory entry offset goes backwards")
        pos += nxt
    return entries


def parse_query_directory_response(message: bytes) -> tuple[int, list[DirEntry]]:
    hdr = parse_header(message)
    if hdr.command != QUERY_DIRECTORY or not hdr.is_response:
        raise SmbProtocolError("not a QUERY_DIRECTORY response")
    if hdr.status != STATUS_SUCCESS:
        return hdr.status, []
    body = _body(message, 8)
    size, off, length = struct.unpack_from("<HHI", body)
    if size != 9:
        raise SmbProtocolError(f"bad QUERY_DIRECTORY response size {size}")
    return hdr.status, parse_directory_information(_buffer(message, off, length))


def build_close(message_id: int, session_id: int, tree_id: int, file_id: bytes, **kw: int) -> bytes:
    body = struct.pack("<HHI16s", 24, 0, 0, file_id)
    return build_header(CLOSE, message_id, session_id=session_id, tree_id=tree_id, **kw) + body


def build_read(
    message_id: int,
    session_id: int,
    tree_id: int,
    file_id: bytes,
    length: int,
    offset: int = 0,
    **kw: int,
) -> bytes:
    """READ of ``length`` bytes at ``offset`` (MS-SMB2 2.2.19), no channel info."""
    if not 0 < length <= 0xFFFFFFFF or offset < 0 or len(file_id) != 16:
        raise ValueError("bad READ length, offset or file id")
    body = struct.pack(
        "<HBBIQ16sIIIHHB",
        49,  # StructureSize (49 with the one-byte buffer)
        0x50,  # Padding: data wanted right after the 16-byte response body
        0,  # Flags
        length,
        offset,
        file_id,
        0,  # MinimumCount
        0,  # Channel: none
        0,  # RemainingBytes
        0,  # ReadChannelInfoOffset
        0,  # ReadChannelInfoLength
        0,  # Buffer (one byte, as the structure size demands)
    )
    return build_header(READ, message_id, session_id=session_id, tree_id=tree_id, **kw) + body


@dataclass(frozen=True)
class ReadResponse:
    status: int
    data: bytes
    remaining: int = 0
    overlong: bool = False
    """The server sent more bytes than were asked for (they were cut off)."""


def parse_read_response(message: bytes, wanted: int) -> ReadResponse:
    """A READ response; never more than ``wanted`` bytes of data are kept.

    STATUS_END_OF_FILE (an empty file, or reading at its end) is no data, not an error.
    """
    hdr = parse_header(message)
    if hdr.command != READ or not hdr.is_response:
        raise SmbProtocolError("not a READ response")
    if hdr.status == STATUS_END_OF_FILE:
        return ReadResponse(STATUS_SUCCESS, b"")
    if hdr.status != STATUS_SUCCESS:
        return ReadResponse(hdr.status, b"")
    body = _body(message, 16)
    size, off, _r, length, remaining, _r2 = struct.unpack_from("<HBBIII", body)
    if size != 17:
        raise SmbProtocolError(f"bad READ response size {size}")
    data = _buffer(message, off, length)
    return ReadResponse(hdr.status, data[:wanted], remaining, overlong=len(data) > wanted)


# -- the async client -----------------------------------------------------------------------------
class Stream(Protocol):
    """What the client needs of a connection (the dialer's ``Connection`` has it)."""

    async def send(self, data: bytes) -> None: ...

    async def recv_exactly(self, n: int, timeout: float | None = None) -> bytes: ...


async def read_message(conn: Stream, limit: int = MAX_MESSAGE) -> bytes:
    length = parse_frame_header(await conn.recv_exactly(4), limit)
    return await conn.recv_exactly(length)


async def negotiate(conn: Stream, dialects: tuple[int, ...] = ALL_DIALECTS) -> NegotiateInfo:
    await conn.send(frame(build_negotiate(dialects)))
    return parse_negotiate_response(await read_message(conn))


async def negotiate_smb1(conn: Stream) -> Smb1NegotiateInfo:
    await conn.send(frame(build_smb1_negotiate()))
    msg = await read_message(conn)
    if msg[:4] == SMB2_MAGIC:
        # a server that only speaks SMB2 may answer an SMB1 negotiate with an SMB2 one
        return Smb1NegotiateInfo(0xFFFF, 0, 0)
    return parse_smb1_negotiate_response(msg)


class Smb2Session:
    """An unauthenticated (null or guest) SMB2 session on an already negotiated connection."""

    def __init__(self, conn: Stream, neg: NegotiateInfo) -> None:
        self.conn = conn
        self.neg = neg
        self.mid = 1
        self.session_id = 0
        self.session_flags = 0
        self.requests = 0

    def _charge(self) -> int:
        return 1 if self.neg.dialect >= 0x0210 else 0

    async def _call(self, request: bytes, command: int) -> bytes:
        self.mid += 1
        self.requests += 1
        await self.conn.send(frame(request))
        for _ in range(8):  # interim STATUS_PENDING answers, bounded
            msg = await read_message(self.conn)
            hdr = parse_header(msg)
            if hdr.command != command:
                raise SmbProtocolError(f"answer to command {hdr.command}, expected {command}")
            if hdr.status == STATUS_PENDING and hdr.flags & FLAG_ASYNC:
                continue
            return msg
        raise SmbProtocolError("too many interim responses")

    async def login(
        self, user: str = "", *, password: str | None = None, domain: str = ""
    ) -> SessionSetupResponse:
        """Anonymous (``user=''``) or guest (``user='guest'``, empty password) login.

        Returns the final response; its ``status`` says whether the login was accepted.
        """
        tok1 = spnego_init(build_ntlm_negotiate())
        msg = await self._call(
            build_session_setup(self.mid, 0, tok1, credit_charge=self._charge(), credit_request=64),
            SESSION_SETUP,
        )
        r1 = parse_session_setup_response(msg)
        if r1.status != STATUS_MORE_PROCESSING_REQUIRED:
            return r1
        self.session_id = r1.session_id
        chal = parse_ntlm_challenge(r1.security_blob)
        pw_hash = NT_HASH_EMPTY_PASSWORD if password is None else nt_hash(password)
        tok2 = spnego_response(
            build_ntlm_authenticate(chal, user=user, domain=domain, password_hash=pw_hash)
        )
        msg = await self._call(
            build_session_setup(
                self.mid, self.session_id, tok2, credit_charge=self._charge(), credit_request=64
            ),
            SESSION_SETUP,
        )
        r2 = parse_session_setup_response(msg)
        if r2.status == STATUS_SUCCESS:
            self.session_flags = r2.session_flags
        return r2

    async def tree_connect(self, host: str, share: str) -> TreeConnectResponse:
        unc = f"\\\\{host}\\{share}"
        msg = await self._call(
            build_tree_connect(
                self.mid, self.session_id, unc, credit_charge=self._charge(), credit_request=64
            ),
            TREE_CONNECT,
        )
        return parse_tree_connect_response(msg)

    async def open_directory(self, tree_id: int, path: str) -> CreateResponse:
        """Open a directory for listing, asking for the maximal access granted on it."""
        msg = await self._call(
            build_create(
                self.mid,
                self.session_id,
                tree_id,
                path,
                credit_charge=self._charge(),
                credit_request=64,
            ),
            CREATE,
        )
        return parse_create_response(msg)

    async def file_access(self, tree_id: int, path: str) -> CreateResponse:
        """Open (never create) a file for its attributes only, asking for ``MxAc``: the
        maximal access says whether it *could* be read, without opening it for reading."""
        msg = await self._call(
            build_create(
                self.mid,
                self.session_id,
                tree_id,
                path,
                desired_access=FILE_READ_ATTRIBUTES | SYNCHRONIZE,
                create_options=FILE_NON_DIRECTORY_FILE,
                maximal_access=True,
                credit_charge=self._charge(),
                credit_request=64,
            ),
            CREATE,
        )
        return parse_create_response(msg)

    async def read_head(self, tree_id: int, path: str, n: int) -> ReadResponse:
        """INTRUSIVE: the first ``min(n, MAX_READ_LENGTH)`` bytes of a file.

        CREATE (FILE_OPEN, never creates) with read-only access (FILE_READ_DATA |
        FILE_READ_ATTRIBUTES | SYNCHRONIZE, share access read), one READ at offset 0, CLOSE.
        A failed CREATE comes back as a ``ReadResponse`` with its status and no data.
        """
        length = min(n, MAX_READ_LENGTH, self.neg.max_read or MAX_READ_LENGTH)
        if length <= 0:
            raise ValueError("read_head needs n > 0")
        msg = await self._call(
            build_create(
                self.mid,
                self.session_id,
                tree_id,
                path,
                desired_access=FILE_READ_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
                create_options=FILE_NON_DIRECTORY_FILE,
                maximal_access=False,
                share_access=FILE_SHARE_READ,
                credit_charge=self._charge(),
                credit_request=64,
            ),
            CREATE,
        )
        opened = parse_create_response(msg)
        if opened.status != STATUS_SUCCESS:
            return ReadResponse(opened.status, b"")
        try:
            msg = await self._call(
                build_read(
                    self.mid,
                    self.session_id,
                    tree_id,
                    opened.file_id,
                    length,
                    credit_charge=self._charge(),
                    credit_request=64,
                ),
                READ,
            )
            result = parse_read_response(msg, length)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.close(tree_id, opened.file_id)
            raise
        await self.close(tree_id, opened.file_id)
        return result

    async def list_directory(
        self,
        tree_id: int,
        file_id: bytes,
        *,
        max_entries: int,
        max_requests: int,
        output_length: int = 65536,
    ) -> tuple[list[DirEntry], bool, int]:
        """Entries of an open directory: (entries, truncated, final status)."""
        entries: list[DirEntry] = []
        restart = True
        status = STATUS_SUCCESS
        for _ in range(max_requests):
            status, batch, _n = await self.query_directory_page(
                tree_id, file_id, restart=restart, output_length=output_length
            )
            restart = False
            if status != STATUS_SUCCESS:
                return entries, False, status if status != STATUS_NO_MORE_FILES else STATUS_SUCCESS
            for e in batch:
                if len(entries) >= max_entries:
                    return entries, True, STATUS_SUCCESS
                entries.append(e)
        return entries, True, status

    async def query_directory_page(
        self, tree_id: int, file_id: bytes, *, restart: bool, output_length: int = 65536
    ) -> tuple[int, list[DirEntry], int]:
        """One QUERY_DIRECTORY: (status, entries, bytes of the answer). The end of a
        directory is ``STATUS_NO_MORE_FILES``."""
        msg = await self._call(
            build_query_directory(
                self.mid,
                self.session_id,
                tree_id,
                file_id,
                restart=restart,
                output_length=output_length,
                credit_charge=self._charge(),
                credit_request=64,
            ),
            QUERY_DIRECTORY,
        )
        status, batch = parse_query_directory_response(msg)
        return status, batch, len(msg)

    async def close(self, tree_id: int, file_id: bytes) -> None:
        msg = await self._call(
            build_close(
                self.mid,
                self.session_id,
                tree_id,
                file_id,
                credit_charge=self._charge(),
                credit_request=64,
            ),
            CLOSE,
        )
        parse_header(msg)
