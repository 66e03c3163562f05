"""NTLMSSP (MS-NLMP) wrapped in SPNEGO (RFC 4178), for the logins this scanner makes.

Anonymous (null) and guest (empty password) logins, and a user's login when the operator gave
credentials (only to read the server's SESSION_SETUP answer). No session key is exchanged, so
nothing is signed or encrypted: exactly what an unauthenticated attacker gets.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from scanner.protocols.smb.errors import SmbProtocolError
from scanner.protocols.smb.structure import U16, U32, Bytes8, Structure

NTLMSSP_SIG = b"NTLMSSP\x00"


class NtlmMessageType(IntEnum):
    NEGOTIATE = 1
    CHALLENGE = 2
    AUTHENTICATE = 3


class NtlmFlags(IntFlag):
    NEGOTIATE_UNICODE = 0x00000001
    REQUEST_TARGET = 0x00000004
    NEGOTIATE_NTLM = 0x00000200
    NEGOTIATE_ANONYMOUS = 0x00000800
    NEGOTIATE_ALWAYS_SIGN = 0x00008000
    NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
    NEGOTIATE_TARGET_INFO = 0x00800000
    NEGOTIATE_VERSION = 0x02000000
    NEGOTIATE_128 = 0x20000000
    NEGOTIATE_56 = 0x80000000


CLIENT_FLAGS = (
    NtlmFlags.NEGOTIATE_UNICODE
    | NtlmFlags.REQUEST_TARGET
    | NtlmFlags.NEGOTIATE_NTLM
    | NtlmFlags.NEGOTIATE_ALWAYS_SIGN
    | NtlmFlags.NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NtlmFlags.NEGOTIATE_TARGET_INFO
    | NtlmFlags.NEGOTIATE_128
    | NtlmFlags.NEGOTIATE_56
)
"""What our NEGOTIATE offers; AUTHENTICATE keeps those the server's CHALLENGE agreed to."""
NT_HASH_EMPTY_PASSWORD = bytes.fromhex("31d6cfe0d16ae931b73c59d7e0c089c0")
"""MD4 of the empty UTF-16 password: a constant, so no MD4 implementation is needed for it."""
OID_NTLMSSP = b"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"  # 1.3.6.1.4.1.311.2.2.10
OID_SPNEGO = b"\x2b\x06\x01\x05\x05\x02"  # 1.3.6.1.5.5.2


@dataclass(frozen=True)
class SecurityBuffer(Structure):
    """Length, allocated length and offset of a payload field (MS-NLMP 2.2.1)."""

    length: U16
    max_length: U16
    offset: U32


@dataclass(frozen=True)
class NtlmNegotiateMessage(Structure):
    signature: Bytes8
    message_type: U32
    flags: U32
    domain: Bytes8
    """Empty DomainNameFields (length, allocated length, offset)."""
    workstation: Bytes8
    """Empty WorkstationFields."""


@dataclass(frozen=True)
class NtlmChallengeFixed(Structure):
    """The fixed 48 bytes of a CHALLENGE (the 8-byte Version that may follow is not read)."""

    signature: Bytes8
    message_type: U32
    target_name_length: U16
    target_name_max_length: U16
    target_name_offset: U32
    flags: U32
    server_challenge: Bytes8
    reserved: Bytes8
    target_info_length: U16
    target_info_max_length: U16
    target_info_offset: U32


@dataclass(frozen=True)
class NtlmAuthenticateHead(Structure):
    signature: Bytes8
    message_type: U32


def build_ntlm_negotiate() -> bytes:
    return NtlmNegotiateMessage(
        NTLMSSP_SIG, NtlmMessageType.NEGOTIATE, CLIENT_FLAGS, b"\x00" * 8, b"\x00" * 8
    ).pack()


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
    if len(msg) < NtlmChallengeFixed.size():
        raise SmbProtocolError("short NTLMSSP CHALLENGE")
    c = NtlmChallengeFixed.unpack_from(msg)
    if c.message_type != NtlmMessageType.CHALLENGE:
        raise SmbProtocolError(f"NTLMSSP message type {c.message_type}, expected CHALLENGE (2)")
    tn_off, tn_len = c.target_name_offset, c.target_name_length
    ti_off, ti_len = c.target_info_offset, c.target_info_length
    for off, ln in ((tn_off, tn_len), (ti_off, ti_len)):
        if ln and off + ln > len(msg):
            raise SmbProtocolError("NTLMSSP CHALLENGE field outside the message")
    target_info = msg[ti_off : ti_off + ti_len] if ti_len else b""
    target_name = msg[tn_off : tn_off + tn_len].decode("utf-16-le", "replace") if tn_len else ""
    return NtlmChallenge(c.flags, c.server_challenge, target_info, target_name)


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
    flags = CLIENT_FLAGS & (challenge.flags | NtlmFlags.NEGOTIATE_UNICODE)
    if not user:
        flags |= NtlmFlags.NEGOTIATE_ANONYMOUS
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
    payloads = [
        lm,
        nt,
        domain.encode("utf-16-le"),
        user.encode("utf-16-le"),
        workstation.encode("utf-16-le"),
        b"",  # no EncryptedRandomSessionKey
    ]
    offset = 64  # 12 of signature and type, six 8-byte security buffers, 4 of flags
    header = NtlmAuthenticateHead(NTLMSSP_SIG, NtlmMessageType.AUTHENTICATE).pack()
    payload = b""
    for p in payloads:
        header += SecurityBuffer(len(p), len(p), offset + len(payload)).pack()
        payload += p
    header += struct.pack("<I", flags)
    return header + payload


# -- SPNEGO (DER) -------------------------------------------------------------------------------
def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def spnego_init(mech_token: bytes) -> bytes:
    """GSS-API InitialContextToken: SPNEGO NegTokenInit offering NTLMSSP only."""
    mech_types = _der(0xA0, _der(0x30, _der(0x06, OID_NTLMSSP)))
    token = _der(0xA2, _der(0x04, mech_token))
    neg_token_init = _der(0xA0, _der(0x30, mech_types + token))
    return _der(0x60, _der(0x06, OID_SPNEGO) + neg_token_init)


def spnego_response(mech_token: bytes) -> bytes:
    """SPNEGO NegTokenResp carrying ``mech_token``."""
    return _der(0xA1, _der(0x30, _der(0xA2, _der(0x04, mech_token))))
