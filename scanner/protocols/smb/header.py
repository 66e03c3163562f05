"""Direct-TCP framing and the 64-byte SMB2 header (MS-SMB2 2.1, 2.2.1)."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.protocols.smb.constants import (
    MAX_MESSAGE,
    SMB2_MAGIC,
    SMB2_TRANSFORM_MAGIC,
    HeaderFlags,
)
from scanner.protocols.smb.errors import SmbProtocolError
from scanner.protocols.smb.structure import U16, U32, U64, Bytes4, Bytes16, Structure

HEADER_SIZE = 64


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


@dataclass(frozen=True)
class Smb2HeaderLayout(Structure):
    """The sync SMB2 header as it is on the wire (an async one has AsyncId over the last
    two 32-bit fields before the session id)."""

    protocol_id: Bytes4 = SMB2_MAGIC
    structure_size: U16 = HEADER_SIZE
    credit_charge: U16 = 0
    status: U32 = 0
    command: U16 = 0
    credits: U16 = 0
    """CreditRequest in a request, CreditResponse in a response."""
    flags: U32 = 0
    next_command: U32 = 0
    message_id: U64 = 0
    process_id: U32 = 0xFEFF
    tree_id: U32 = 0
    session_id: U64 = 0
    signature: Bytes16 = b"\x00" * 16


@dataclass(frozen=True)
class Smb2Header:
    """What a parsed header tells (the tree id is 0 in an async answer)."""

    command: int
    status: int
    flags: int
    message_id: int
    tree_id: int
    session_id: int
    credits: int

    @property
    def is_response(self) -> bool:
        return bool(self.flags & HeaderFlags.RESPONSE)


def build_header(
    command: int,
    message_id: int,
    *,
    session_id: int = 0,
    tree_id: int = 0,
    credit_charge: int = 0,
    credit_request: int = 31,
) -> bytes:
    return Smb2HeaderLayout(
        credit_charge=credit_charge,
        command=command,
        credits=credit_request,
        message_id=message_id,
        tree_id=tree_id,
        session_id=session_id,
    ).pack()


def parse_header(message: bytes) -> Smb2Header:
    if len(message) < HEADER_SIZE:
        raise SmbProtocolError("SMB2 message shorter than its header")
    magic = message[:4]
    if magic == SMB2_TRANSFORM_MAGIC:
        raise SmbProtocolError("encrypted SMB3 message (transform header) on an unkeyed session")
    if magic != SMB2_MAGIC:
        raise SmbProtocolError(f"not an SMB2 message (magic {magic!r})")
    h = Smb2HeaderLayout.unpack_from(message)
    if h.structure_size != HEADER_SIZE:
        raise SmbProtocolError(f"bad SMB2 header size {h.structure_size}")
    # async header: the 8 bytes of pid+tid are an AsyncId; tree id is not present
    tid = 0 if h.flags & HeaderFlags.ASYNC else h.tree_id
    return Smb2Header(h.command, h.status, h.flags, h.message_id, tid, h.session_id, h.credits)


def body(message: bytes, minimum: int) -> bytes:
    """The part after the header, at least ``minimum`` bytes long."""
    rest = message[HEADER_SIZE:]
    if len(rest) < minimum:
        raise SmbProtocolError(f"SMB2 body of {len(rest)} bytes, expected at least {minimum}")
    return rest


def buffer(message: bytes, offset: int, length: int) -> bytes:
    """A variable part addressed from the start of the SMB2 header, bounds-checked."""
    if length == 0:
        return b""
    if offset < HEADER_SIZE or offset + length > len(message):
        raise SmbProtocolError("buffer offset/length outside the message")
    return message[offset : offset + length]
