"""SMB1 NEGOTIATE, only the ``NT LM 0.12`` dialect: is SMB1 still on, does it require signing.

Nothing past NEGOTIATE is spoken over SMB1 here (pysmb does that, ``pysmb_adapter``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from scanner.protocols.smb.constants import SMB1_MAGIC
from scanner.protocols.smb.errors import SmbProtocolError, SmbStatusError
from scanner.protocols.smb.structure import U8, U16, U32, U64, Bytes4, Bytes8, Structure

NT_LM_0_12 = b"NT LM 0.12"
NO_DIALECT = 0xFFFF
"""DialectIndex of the answer "none of your dialects is acceptable"."""


class Smb1Command(IntEnum):
    NEGOTIATE = 0x72


class Smb1SecurityMode(IntFlag):
    USER = 0x01
    ENCRYPT_PASSWORDS = 0x02
    SIGNATURES_ENABLED = 0x04
    SIGNATURES_REQUIRED = 0x08


@dataclass(frozen=True)
class Smb1Header(Structure):
    """MS-CIFS 2.2.3.1 (32 bytes), with the WordCount byte that follows it."""

    protocol: Bytes4
    command: U8
    status: U32
    flags: U8
    flags2: U16
    pid_high: U16
    security_features: Bytes8
    reserved: U16
    tid: U16
    pid_low: U16
    uid: U16
    mid: U16
    word_count: U8


@dataclass(frozen=True)
class Smb1NegotiateResponseWords(Structure):
    """The 17 parameter words of an NT LM 0.12 NEGOTIATE response (MS-CIFS 2.2.4.52.2)."""

    dialect_index: U16
    security_mode: U8
    max_mpx_count: U16
    max_number_vcs: U16
    max_buffer_size: U32
    max_raw_size: U32
    session_key: U32
    capabilities: U32
    system_time: U64
    server_time_zone: U16
    challenge_length: U8


def build_smb1_negotiate(dialects: tuple[bytes, ...] = (NT_LM_0_12,)) -> bytes:
    """An SMB1 NEGOTIATE request offering only the given (SMB1) dialect strings."""
    header = Smb1Header(
        protocol=SMB1_MAGIC,
        command=Smb1Command.NEGOTIATE,
        status=0,
        flags=0x18,  # case-insensitive, canonicalised paths
        flags2=0xC843,  # unicode, NT status, extended security, long names, EAs, signatures
        pid_high=0,
        security_features=b"\x00" * 8,
        reserved=0,
        tid=0xFFFF,
        pid_low=0xFEFF,
        uid=0,
        mid=0,
        word_count=0,
    )
    data = b"".join(b"\x02" + d + b"\x00" for d in dialects)
    return header.pack() + struct.pack("<H", len(data)) + data


@dataclass(frozen=True)
class Smb1NegotiateInfo:
    dialect_index: int
    security_mode: int
    capabilities: int

    @property
    def accepted(self) -> bool:
        return self.dialect_index != NO_DIALECT

    @property
    def signing_required(self) -> bool:
        return bool(self.security_mode & Smb1SecurityMode.SIGNATURES_REQUIRED)

    @property
    def signing_enabled(self) -> bool:
        mask = Smb1SecurityMode.SIGNATURES_ENABLED | Smb1SecurityMode.SIGNATURES_REQUIRED
        return bool(self.security_mode & mask)


def parse_smb1_negotiate_response(message: bytes) -> Smb1NegotiateInfo:
    """Parse an SMB1 NEGOTIATE response (after the 4-byte frame header)."""
    if len(message) < Smb1Header.size() + 2:
        raise SmbProtocolError("SMB1 message shorter than its header")
    if message[:4] != SMB1_MAGIC:
        raise SmbProtocolError(f"not an SMB1 message (magic {message[:4]!r})")
    h = Smb1Header.unpack_from(message)
    if h.command != Smb1Command.NEGOTIATE:
        raise SmbProtocolError("not an SMB1 NEGOTIATE response")
    if h.status != 0:
        raise SmbStatusError("SMB1 NEGOTIATE", h.status)
    words_at = Smb1Header.size()
    if h.word_count == 1:  # "no dialect acceptable" answer: only DialectIndex (0xFFFF)
        return Smb1NegotiateInfo(struct.unpack_from("<H", message, words_at)[0], 0, 0)
    if h.word_count != 17 or len(message) < words_at + 34:
        raise SmbProtocolError(f"unexpected SMB1 NEGOTIATE word count {h.word_count}")
    w = Smb1NegotiateResponseWords.unpack_from(message, words_at)
    return Smb1NegotiateInfo(w.dialect_index, w.security_mode, w.capabilities)
