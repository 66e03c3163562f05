"""SMB2/3 requests we build and the responses we parse (MS-SMB2 2.2.3 to 2.2.20).

NEGOTIATE (dialect, signing, encryption capability: the ENCRYPTION capability bit for
3.0/3.0.2, the ENCRYPTION negotiate context for 3.1.1), SESSION_SETUP (session flags
IS_GUEST / IS_NULL / ENCRYPT_DATA), TREE_CONNECT (share type, share flag ENCRYPT_DATA), CREATE
with the ``MxAc`` (maximal access) context, QUERY_DIRECTORY (FileDirectoryInformation), CLOSE
and READ. Each fixed part is a ``Structure``; variable parts are addressed by offset from the
header and bounds-checked. Every parser takes a whole message (header included).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from scanner.protocols.smb.constants import (
    ALL_DIALECTS,
    AccessMask,
    Capabilities,
    Cipher,
    Command,
    CreateDisposition,
    CreateOptions,
    Dialect,
    FileAttributes,
    FileInformationClass,
    HashAlgorithm,
    ImpersonationLevel,
    NegotiateContext,
    NtStatus,
    SecurityMode,
    SessionFlags,
    ShareAccess,
    ShareFlags,
    SigningAlgorithm,
    dialect_name,
)
from scanner.protocols.smb.errors import SmbProtocolError, SmbStatusError
from scanner.protocols.smb.header import HEADER_SIZE, body, buffer, build_header, parse_header
from scanner.protocols.smb.structure import U8, U16, U32, U64, Bytes16, Structure


def _expect(message: bytes, command: Command, name: str) -> tuple[int, int, int]:
    """Header of a response to ``command``: (status, tree id, session id)."""
    hdr = parse_header(message)
    if hdr.command != command or not hdr.is_response:
        raise SmbProtocolError(f"not a {name} response")
    return hdr.status, hdr.tree_id, hdr.session_id


# -- NEGOTIATE ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NegotiateRequestBody(Structure):
    structure_size: U16
    dialect_count: U16
    security_mode: U16
    reserved: U16
    capabilities: U32
    client_guid: Bytes16
    context_offset: U32
    """3.1.1; with older dialects these 8 bytes are ClientStartTime (zero)."""
    context_count: U16
    reserved2: U16


@dataclass(frozen=True)
class NegotiateContextHeader(Structure):
    context_type: U16
    data_length: U16
    reserved: U32


@dataclass(frozen=True)
class NegotiateResponseBody(Structure):
    structure_size: U16
    security_mode: U16
    dialect: U16
    context_count: U16
    server_guid: Bytes16
    capabilities: U32
    max_transact_size: U32
    max_read_size: U32
    max_write_size: U32
    system_time: U64
    server_start_time: U64
    security_buffer_offset: U16
    security_buffer_length: U16
    context_offset: U32


def _negotiate_contexts(salt: bytes) -> list[tuple[int, bytes]]:
    """Preauth integrity (SHA-512), encryption (all four ciphers), signing (three algorithms)."""
    ciphers = (Cipher.AES_128_GCM, Cipher.AES_128_CCM, Cipher.AES_256_GCM, Cipher.AES_256_CCM)
    signing = (SigningAlgorithm.AES_GMAC, SigningAlgorithm.AES_CMAC, SigningAlgorithm.HMAC_SHA256)
    return [
        (
            NegotiateContext.PREAUTH_INTEGRITY,
            struct.pack("<HHH", 1, len(salt), HashAlgorithm.SHA_512) + salt,
        ),
        (NegotiateContext.ENCRYPTION, struct.pack("<5H", len(ciphers), *ciphers)),
        (NegotiateContext.SIGNING, struct.pack("<4H", len(signing), *signing)),
    ]


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
    caps = Capabilities.DFS | Capabilities.LEASING | Capabilities.LARGE_MTU
    caps |= Capabilities.ENCRYPTION
    sec = SecurityMode.SIGNING_ENABLED
    if signing_required:
        sec |= SecurityMode.SIGNING_REQUIRED
    dialect_bytes = b"".join(struct.pack("<H", d) for d in dialects)
    contexts = b""
    ctx_offset = 0
    ctx_count = 0
    if Dialect.SMB_3_1_1 in dialects:
        ctxs = _negotiate_contexts(salt if salt is not None else os.urandom(32))
        start = HEADER_SIZE + NegotiateRequestBody.size() + len(dialect_bytes)
        pad = (-start) % 8
        ctx_offset = start + pad
        parts = []
        for i, (ctype, data) in enumerate(ctxs):
            item = NegotiateContextHeader(ctype, len(data), 0).pack() + data
            if i != len(ctxs) - 1:
                item += b"\x00" * ((-len(item)) % 8)
            parts.append(item)
        contexts = b"\x00" * pad + b"".join(parts)
        ctx_count = len(ctxs)
    fixed = NegotiateRequestBody(
        structure_size=36,
        dialect_count=len(dialects),
        security_mode=sec,
        reserved=0,
        capabilities=caps,
        client_guid=guid,
        context_offset=ctx_offset,
        context_count=ctx_count,
        reserved2=0,
    )
    return (
        build_header(Command.NEGOTIATE, 0, credit_request=1)
        + fixed.pack()
        + dialect_bytes
        + contexts
    )


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
        return dialect_name(self.dialect)

    @property
    def signing_required(self) -> bool:
        return bool(self.security_mode & SecurityMode.SIGNING_REQUIRED)

    @property
    def signing_enabled(self) -> bool:
        mask = SecurityMode.SIGNING_ENABLED | SecurityMode.SIGNING_REQUIRED
        return bool(self.security_mode & mask)

    @property
    def encryption_capable(self) -> bool:
        """Can the server encrypt on this dialect? Capability, not requirement."""
        if self.dialect >= Dialect.SMB_3_1_1:
            return bool(self.cipher)
        if self.dialect >= Dialect.SMB_3_0:
            return bool(self.capabilities & Capabilities.ENCRYPTION)
        return False


def parse_negotiate_response(message: bytes) -> NegotiateInfo:
    """Parse a full SMB2 NEGOTIATE response (header included)."""
    status, _tid, _sid = _expect(message, Command.NEGOTIATE, "NEGOTIATE")
    if status != NtStatus.SUCCESS:
        raise SmbStatusError("NEGOTIATE", status)
    r = NegotiateResponseBody.unpack_from(body(message, NegotiateResponseBody.size()))
    if r.structure_size != 65:
        raise SmbProtocolError(f"bad NEGOTIATE response size {r.structure_size}")
    if r.dialect == Dialect.WILDCARD:
        raise SmbProtocolError("server answered the wildcard dialect 2.???")
    info = NegotiateInfo(
        dialect=r.dialect,
        security_mode=r.security_mode,
        capabilities=r.capabilities,
        server_guid=r.server_guid,
        max_transact=r.max_transact_size,
        max_read=r.max_read_size,
        security_blob=buffer(message, r.security_buffer_offset, r.security_buffer_length),
    )
    if r.dialect >= Dialect.SMB_3_1_1 and r.context_count:
        _parse_negotiate_contexts(message, r.context_offset, r.context_count, info)
    return info


def _parse_negotiate_contexts(message: bytes, offset: int, count: int, info: NegotiateInfo) -> None:
    if count > 32:
        raise SmbProtocolError("too many negotiate contexts")
    pos = offset
    for _ in range(count):
        pos += (-pos) % 8
        if pos + NegotiateContextHeader.size() > len(message):
            raise SmbProtocolError("negotiate context outside the message")
        ctx = NegotiateContextHeader.unpack_from(message, pos)
        dlen = ctx.data_length
        data = buffer(message, pos + 8, dlen) if dlen else b""
        info.context_types.append(ctx.context_type)
        if ctx.context_type == NegotiateContext.ENCRYPTION and len(data) >= 2:
            ciphers = struct.unpack_from("<H", data)[0]
            info.cipher = 0
            if ciphers >= 1 and len(data) >= 4:
                info.cipher = struct.unpack_from("<H", data, 2)[0]
        elif ctx.context_type == NegotiateContext.SIGNING and len(data) >= 4:
            info.signing_algorithm = struct.unpack_from("<H", data, 2)[0]
        pos += 8 + dlen


# -- SESSION_SETUP ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionSetupRequestBody(Structure):
    structure_size: U16
    flags: U8
    security_mode: U8
    capabilities: U32
    channel: U32
    security_buffer_offset: U16
    security_buffer_length: U16
    previous_session_id: U64


@dataclass(frozen=True)
class SessionSetupResponseBody(Structure):
    structure_size: U16
    session_flags: U16
    security_buffer_offset: U16
    security_buffer_length: U16


def build_session_setup(message_id: int, session_id: int, token: bytes, **kw: int) -> bytes:
    fixed = SessionSetupRequestBody(
        structure_size=25,
        flags=0,
        security_mode=SecurityMode.SIGNING_ENABLED,
        capabilities=Capabilities.DFS,
        channel=0,
        security_buffer_offset=HEADER_SIZE + SessionSetupRequestBody.size(),
        security_buffer_length=len(token),
        previous_session_id=0,
    )
    hdr = build_header(Command.SESSION_SETUP, message_id, session_id=session_id, **kw)
    return hdr + fixed.pack() + token


@dataclass(frozen=True)
class SessionSetupResponse:
    status: int
    session_id: int
    session_flags: int
    security_blob: bytes

    @property
    def is_guest(self) -> bool:
        return bool(self.session_flags & SessionFlags.IS_GUEST)

    @property
    def is_null(self) -> bool:
        return bool(self.session_flags & SessionFlags.IS_NULL)

    @property
    def encrypt_data(self) -> bool:
        """The server demands this session be encrypted (global or per-session requirement)."""
        return bool(self.session_flags & SessionFlags.ENCRYPT_DATA)


def parse_session_setup_response(message: bytes) -> SessionSetupResponse:
    status, _tid, sid = _expect(message, Command.SESSION_SETUP, "SESSION_SETUP")
    if status not in (NtStatus.SUCCESS, NtStatus.MORE_PROCESSING_REQUIRED):
        return SessionSetupResponse(status, sid, 0, b"")
    r = SessionSetupResponseBody.unpack_from(body(message, SessionSetupResponseBody.size()))
    if r.structure_size != 9:
        raise SmbProtocolError(f"bad SESSION_SETUP response size {r.structure_size}")
    blob = buffer(message, r.security_buffer_offset, r.security_buffer_length)
    return SessionSetupResponse(status, sid, r.session_flags, blob)


# -- TREE_CONNECT -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TreeConnectRequestBody(Structure):
    structure_size: U16
    flags: U16
    path_offset: U16
    path_length: U16


@dataclass(frozen=True)
class TreeConnectResponseBody(Structure):
    structure_size: U16
    share_type: U8
    reserved: U8
    share_flags: U32
    capabilities: U32
    maximal_access: U32


def build_tree_connect(message_id: int, session_id: int, unc: str, **kw: int) -> bytes:
    path = unc.encode("utf-16-le")
    fixed = TreeConnectRequestBody(9, 0, HEADER_SIZE + TreeConnectRequestBody.size(), len(path))
    hdr = build_header(Command.TREE_CONNECT, message_id, session_id=session_id, **kw)
    return hdr + fixed.pack() + path


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
        return bool(self.share_flags & ShareFlags.ENCRYPT_DATA)


def parse_tree_connect_response(message: bytes) -> TreeConnectResponse:
    status, tid, _sid = _expect(message, Command.TREE_CONNECT, "TREE_CONNECT")
    if status != NtStatus.SUCCESS:
        return TreeConnectResponse(status, 0, 0, 0, 0, 0)
    r = TreeConnectResponseBody.unpack_from(body(message, TreeConnectResponseBody.size()))
    if r.structure_size != 16:
        raise SmbProtocolError(f"bad TREE_CONNECT response size {r.structure_size}")
    return TreeConnectResponse(
        status, tid, r.share_type, r.share_flags, r.capabilities, r.maximal_access
    )


# -- CREATE -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateRequestBody(Structure):
    structure_size: U16
    security_flags: U8
    oplock_level: U8
    impersonation_level: U32
    smb_create_flags: U64
    reserved: U64
    desired_access: U32
    file_attributes: U32
    share_access: U32
    create_disposition: U32
    create_options: U32
    name_offset: U16
    name_length: U16
    contexts_offset: U32
    contexts_length: U32


@dataclass(frozen=True)
class CreateContextHeader(Structure):
    next: U32
    name_offset: U16
    name_length: U16
    reserved: U16
    data_offset: U16
    data_length: U32


@dataclass(frozen=True)
class CreateResponseBody(Structure):
    structure_size: U16
    oplock_level: U8
    flags: U8
    create_action: U32
    creation_time: U64
    last_access_time: U64
    last_write_time: U64
    change_time: U64
    allocation_size: U64
    end_of_file: U64
    file_attributes: U32
    reserved2: U32
    file_id: Bytes16
    contexts_offset: U32
    contexts_length: U32


@dataclass(frozen=True)
class MaximalAccessResponse(Structure):
    """The data of an ``MxAc`` response context."""

    query_status: U32
    maximal_access: U32


MXAC = b"MxAc"


def build_create(
    message_id: int,
    session_id: int,
    tree_id: int,
    path: str,
    *,
    desired_access: int = AccessMask.FILE_LIST_DIRECTORY
    | AccessMask.FILE_READ_ATTRIBUTES
    | AccessMask.SYNCHRONIZE,
    create_options: int = CreateOptions.FILE_DIRECTORY_FILE,
    maximal_access: bool = True,
    share_access: int = ShareAccess.ALL,
    credit_charge: int = 0,
    credit_request: int = 31,
) -> bytes:
    """CREATE with disposition FILE_OPEN (never creates), optionally asking for ``MxAc``.

    The defaults open a directory for listing. ``Smb2Session.file_access`` opens a file for its
    attributes only (its ``MxAc`` tells whether it could be read); only ``read_head``
    (``--sample-bytes``) opens one with FILE_READ_DATA, and with share access read.
    """
    name = path.replace("/", "\\").strip("\\").encode("utf-16-le")
    name_off = HEADER_SIZE + CreateRequestBody.size()
    contexts = b""
    ctx_off = 0
    if maximal_access:
        # one context, no data (no timestamp), then 4 bytes of padding
        contexts = CreateContextHeader(0, 16, len(MXAC), 0, 0, 0).pack() + MXAC + b"\x00" * 4
        ctx_off = name_off + len(name) + ((-(name_off + len(name))) % 8)
    fixed = CreateRequestBody(
        structure_size=57,
        security_flags=0,
        oplock_level=0,  # no oplock
        impersonation_level=ImpersonationLevel.IMPERSONATION,
        smb_create_flags=0,
        reserved=0,
        desired_access=desired_access,
        file_attributes=0,
        share_access=share_access,  # default read|write|delete: we never block anyone
        create_disposition=CreateDisposition.FILE_OPEN,  # never create
        create_options=create_options,
        name_offset=name_off,
        name_length=len(name),
        contexts_offset=ctx_off,
        contexts_length=len(contexts),
    )
    buf = name
    if contexts:
        buf += b"\x00" * (ctx_off - name_off - len(name)) + contexts
    if not buf:
        buf = b"\x00"
    hdr = build_header(
        Command.CREATE,
        message_id,
        session_id=session_id,
        tree_id=tree_id,
        credit_charge=credit_charge,
        credit_request=credit_request,
    )
    return hdr + fixed.pack() + buf


@dataclass(frozen=True)
class CreateResponse:
    status: int
    file_id: bytes
    file_attributes: int
    maximal_access: int | None
    """From the MxAc response context (None if the server sent none or refused it)."""


def parse_create_response(message: bytes) -> CreateResponse:
    status, _tid, _sid = _expect(message, Command.CREATE, "CREATE")
    if status != NtStatus.SUCCESS:
        return CreateResponse(status, b"", 0, None)
    r = CreateResponseBody.unpack_from(body(message, CreateResponseBody.size()))
    if r.structure_size != 89:
        raise SmbProtocolError(f"bad CREATE response size {r.structure_size}")
    maximal = _maximal_access(buffer(message, r.contexts_offset, r.contexts_length))
    return CreateResponse(status, r.file_id, r.file_attributes, maximal)


def _maximal_access(ctxs: bytes) -> int | None:
    """The granted access of an ``MxAc`` context in a chain (at most 16 contexts looked at)."""
    maximal: int | None = None
    pos = 0
    for _ in range(16):
        if pos + CreateContextHeader.size() > len(ctxs):
            break
        c = CreateContextHeader.unpack_from(ctxs, pos)
        name = ctxs[pos + c.name_offset : pos + c.name_offset + c.name_length]
        data = ctxs[pos + c.data_offset : pos + c.data_offset + c.data_length]
        if name == MXAC and len(data) >= MaximalAccessResponse.size():
            mx = MaximalAccessResponse.unpack_from(data)
            if mx.query_status == NtStatus.SUCCESS:
                maximal = mx.maximal_access
        if c.next == 0:
            break
        pos += c.next
    return maximal


# -- QUERY_DIRECTORY ----------------------------------------------------------------------------
@dataclass(frozen=True)
class QueryDirectoryRequestBody(Structure):
    structure_size: U16
    file_information_class: U8
    flags: U8
    file_index: U32
    file_id: Bytes16
    name_offset: U16
    name_length: U16
    output_buffer_length: U32


@dataclass(frozen=True)
class QueryDirectoryResponseBody(Structure):
    structure_size: U16
    output_buffer_offset: U16
    output_buffer_length: U32


@dataclass(frozen=True)
class FileDirectoryInformation(Structure):
    """MS-FSCC 2.4.10, without the variable FileName that follows."""

    next_entry_offset: U32
    file_index: U32
    creation_time: U64
    last_access_time: U64
    last_write_time: U64
    change_time: U64
    end_of_file: U64
    allocation_size: U64
    file_attributes: U32
    file_name_length: U32


RESTART_SCANS = 0x01


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
    fixed = QueryDirectoryRequestBody(
        structure_size=33,
        file_information_class=FileInformationClass.FILE_DIRECTORY_INFORMATION,
        flags=RESTART_SCANS if restart else 0,
        file_index=0,
        file_id=file_id,
        name_offset=HEADER_SIZE + QueryDirectoryRequestBody.size(),
        name_length=len(name),
        output_buffer_length=output_length,
    )
    hdr = build_header(
        Command.QUERY_DIRECTORY, message_id, session_id=session_id, tree_id=tree_id, **kw
    )
    return hdr + fixed.pack() + name


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


_DIRECTORY = int(FileAttributes.DIRECTORY)  # a plain int: IntFlag's & is slow per entry


def parse_directory_information(buf: bytes, limit: int = 100_000) -> list[DirEntry]:
    """Parse a FileDirectoryInformation chain; '.' and '..' are dropped."""
    entries: list[DirEntry] = []
    # the hot loop of a crawl (one pass per entry): the declared layout's raw tuple, in the
    # declaration order of FileDirectoryInformation (a test holds the order)
    layout = FileDirectoryInformation.layout()
    fixed = layout.size
    pos = 0
    for _ in range(limit):
        if pos + fixed > len(buf):
            raise SmbProtocolError("directory entry outside the buffer")
        nxt, _index, _created, _accessed, written, _changed, eof, _alloc, attrs, nlen = (
            layout.unpack_from(buf, pos)
        )
        if pos + fixed + nlen > len(buf):
            raise SmbProtocolError("directory entry name outside the buffer")
        try:  # unpaired surrogates stay lone surrogates: the crawler skips and counts them
            name = buf[pos + fixed : pos + fixed + nlen].decode("utf-16-le", "surrogatepass")
        except UnicodeDecodeError:  # an odd byte count: no name at all
            name = ""
        if name not in (".", ".."):
            entries.append(
                DirEntry(
                    name=name,
                    size=eof,
                    mtime=filetime_to_datetime(written),
                    is_dir=bool(attrs & _DIRECTORY),
                    attributes=attrs,
                )
            )
        if nxt == 0:
            break
        if nxt < fixed:
            raise SmbProtocolError("directory entry offset goes backwards")
        pos += nxt
    return entries


def parse_query_directory_response(message: bytes) -> tuple[int, list[DirEntry]]:
    status, _tid, _sid = _expect(message, Command.QUERY_DIRECTORY, "QUERY_DIRECTORY")
    if status != NtStatus.SUCCESS:
        return status, []
    r = QueryDirectoryResponseBody.unpack_from(body(message, QueryDirectoryResponseBody.size()))
    if r.structure_size != 9:
        raise SmbProtocolError(f"bad QUERY_DIRECTORY response size {r.structure_size}")
    chain = buffer(message, r.output_buffer_offset, r.output_buffer_length)
    return status, parse_directory_information(chain)


# -- CLOSE --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CloseRequestBody(Structure):
    structure_size: U16
    flags: U16
    reserved: U32
    file_id: Bytes16


def build_close(message_id: int, session_id: int, tree_id: int, file_id: bytes, **kw: int) -> bytes:
    fixed = CloseRequestBody(24, 0, 0, file_id)
    hdr = build_header(Command.CLOSE, message_id, session_id=session_id, tree_id=tree_id, **kw)
    return hdr + fixed.pack()


# -- READ ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadRequestBody(Structure):
    structure_size: U16
    padding: U8
    flags: U8
    length: U32
    offset: U64
    file_id: Bytes16
    minimum_count: U32
    channel: U32
    remaining_bytes: U32
    read_channel_info_offset: U16
    read_channel_info_length: U16
    buffer: U8


@dataclass(frozen=True)
class ReadResponseBody(Structure):
    structure_size: U16
    data_offset: U8
    reserved: U8
    data_length: U32
    data_remaining: U32
    reserved2: U32


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
    fixed = ReadRequestBody(
        structure_size=49,  # 49 with the one-byte buffer
        padding=0x50,  # data wanted right after the 16-byte response body
        flags=0,
        length=length,
        offset=offset,
        file_id=file_id,
        minimum_count=0,
        channel=0,  # none
        remaining_bytes=0,
        read_channel_info_offset=0,
        read_channel_info_length=0,
        buffer=0,  # one byte, as the structure size demands
    )
    hdr = build_header(Command.READ, message_id, session_id=session_id, tree_id=tree_id, **kw)
    return hdr + fixed.pack()


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
    status, _tid, _sid = _expect(message, Command.READ, "READ")
    if status == NtStatus.END_OF_FILE:
        return ReadResponse(NtStatus.SUCCESS, b"")
    if status != NtStatus.SUCCESS:
        return ReadResponse(status, b"")
    r = ReadResponseBody.unpack_from(body(message, ReadResponseBody.size()))
    if r.structure_size != 17:
        raise SmbProtocolError(f"bad READ response size {r.structure_size}")
    data = buffer(message, r.data_offset, r.data_length)
    return ReadResponse(status, data[:wanted], r.data_remaining, overlong=len(data) > wanted)
