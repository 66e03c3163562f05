"""NFS version 3 (RFC 1813): the few read-only procedures a scanner needs.

FSINFO (server limits), READDIRPLUS (names, attributes and handles in one go), ACCESS
(what the claimed identity may do) and READ (the first bytes of a file, only for the intrusive
``--sample-bytes``), plus the attribute types they share. Nothing here writes: no WRITE, CREATE,
SETATTR, REMOVE or any other modifying procedure is implemented.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from scanner.protocols.rpc import AUTH_NULL, OpaqueAuth, RPCClient
from scanner.protocols.xdr import Packer, Unpacker, XDRError

NFS_PROG = 100003
NFS_V3 = 3
NFSPROC3_NULL = 0
NFSPROC3_ACCESS = 4
NFSPROC3_READ = 6
NFSPROC3_READDIRPLUS = 17
NFSPROC3_FSINFO = 19

NFS3_FHSIZE = 64
NFS3_MAXNAMLEN = 1024
MAX_DIR_ENTRIES = 4096
"""Entries accepted in one READDIRPLUS reply (the reply size is bounded by maxcount anyway)."""
MAX_READ = 65536
"""The most bytes one READ may ask for (``read`` refuses larger counts)."""

ACCESS3_READ = 0x01
ACCESS3_LOOKUP = 0x02
ACCESS3_MODIFY = 0x04
ACCESS3_EXTEND = 0x08
ACCESS3_DELETE = 0x10
ACCESS3_EXECUTE = 0x20
ACCESS3_ALL = 0x3F


class NFS3Stat(IntEnum):
    NFS3_OK = 0
    NFS3ERR_PERM = 1
    NFS3ERR_NOENT = 2
    NFS3ERR_IO = 5
    NFS3ERR_ACCES = 13
    NFS3ERR_NOTDIR = 20
    NFS3ERR_INVAL = 22
    NFS3ERR_STALE = 70
    NFS3ERR_BADHANDLE = 10001
    NFS3ERR_BAD_COOKIE = 10003
    NFS3ERR_NOTSUPP = 10004
    NFS3ERR_TOOSMALL = 10005
    NFS3ERR_SERVERFAULT = 10006


def stat_name(status: int) -> str:
    try:
        return NFS3Stat(status).name
    except ValueError:
        return f"NFS3 status {status}"


class NFS3Error(Exception):
    def __init__(self, proc: str, status: int) -> None:
        self.status = status
        super().__init__(f"{proc}: {stat_name(status)}")


class FileType(IntEnum):
    NF3REG = 1
    NF3DIR = 2
    NF3BLK = 3
    NF3CHR = 4
    NF3LNK = 5
    NF3SOCK = 6
    NF3FIFO = 7


@dataclass(frozen=True)
class Fattr3:
    type: int
    mode: int
    nlink: int
    uid: int
    gid: int
    size: int
    used: int
    fsid: int
    fileid: int
    mtime: int

    @property
    def is_dir(self) -> bool:
        return self.type == FileType.NF3DIR


def decode_fattr3(u: Unpacker) -> Fattr3:
    ftype, mode, nlink, uid, gid = (u.uint() for _ in range(5))
    size, used = u.uhyper(), u.uhyper()
    u.uint(), u.uint()  # rdev
    fsid, fileid = u.uhyper(), u.uhyper()
    u.uint(), u.uint()  # atime
    mtime = u.uint()
    u.uint()
    u.uint(), u.uint()  # ctime
    return Fattr3(ftype, mode, nlink, uid, gid, size, used, fsid, fileid, mtime)


def decode_post_op_attr(u: Unpacker) -> Fattr3 | None:
    return u.optional(lambda: decode_fattr3(u))


@dataclass(frozen=True)
class FSInfo:
    rtmax: int
    wtmax: int
    dtpref: int
    maxfilesize: int
    properties: int


def decode_fsinfo(u: Unpacker) -> FSInfo:
    status = u.uint()
    decode_post_op_attr(u)
    if status != 0:
        raise NFS3Error("FSINFO", status)
    rtmax, _rtpref, _rtmult, wtmax, _wtpref, _wtmult, dtpref = (u.uint() for _ in range(7))
    maxfilesize = u.uhyper()
    u.uint(), u.uint()  # time_delta
    properties = u.uint()
    u.done()
    return FSInfo(rtmax, wtmax, dtpref, maxfilesize, properties)


@dataclass(frozen=True)
class DirEntry:
    fileid: int
    name: str
    cookie: int
    attrs: Fattr3 | None
    handle: bytes | None


@dataclass
class DirPage:
    entries: list[DirEntry]
    cookieverf: bytes
    eof: bool


def decode_readdirplus(u: Unpacker) -> DirPage:
    status = u.uint()
    decode_post_op_attr(u)
    if status != 0:
        raise NFS3Error("READDIRPLUS", status)
    verf = u.fopaque(8)

    def entry() -> DirEntry:
        fileid = u.uhyper()
        name = u.string(NFS3_MAXNAMLEN)
        cookie = u.uhyper()
        attrs = decode_post_op_attr(u)
        handle = u.optional(lambda: u.opaque(NFS3_FHSIZE))
        return DirEntry(fileid, name, cookie, attrs, handle)

    entries = u.linked_list(entry, MAX_DIR_ENTRIES)
    eof = u.boolean()
    u.done()
    return DirPage(entries, verf, eof)


def decode_access(u: Unpacker) -> int:
    status = u.uint()
    decode_post_op_attr(u)
    if status != 0:
        raise NFS3Error("ACCESS", status)
    granted = u.uint()
    u.done()
    return granted


@dataclass(frozen=True)
class ReadReply:
    data: bytes
    eof: bool
    attrs: Fattr3 | None


def decode_read(u: Unpacker, max_count: int = MAX_READ) -> ReadReply:
    """READ3res; the data may be at most ``max_count`` bytes (what was asked for): a server
    sending more is a protocol error, so a caller never holds more than it requested."""
    status = u.uint()
    attrs = decode_post_op_attr(u)
    if status != 0:
        raise NFS3Error("READ", status)
    count = u.uint()
    eof = u.boolean()
    data = u.opaque(max_count)
    u.done()
    if count != len(data):
        raise XDRError(f"READ count {count} disagrees with the {len(data)} data bytes")
    return ReadReply(data, eof, attrs)


async def null(client: RPCClient, cred: OpaqueAuth = AUTH_NULL) -> None:
    await client.call(NFS_PROG, NFS_V3, NFSPROC3_NULL, b"", cred)


async def fsinfo(client: RPCClient, fh: bytes, cred: OpaqueAuth = AUTH_NULL) -> FSInfo:
    args = Packer().opaque(fh).get_buffer()
    return decode_fsinfo(await client.call(NFS_PROG, NFS_V3, NFSPROC3_FSINFO, args, cred))


async def readdirplus(
    client: RPCClient,
    fh: bytes,
    cred: OpaqueAuth = AUTH_NULL,
    *,
    cookie: int = 0,
    cookieverf: bytes = b"\0" * 8,
    dircount: int = 8192,
    maxcount: int = 32768,
) -> DirPage:
    args = (
        Packer().opaque(fh).uhyper(cookie).fopaque(8, cookieverf).uint(dircount).uint(maxcount)
    ).get_buffer()
    return decode_readdirplus(
        await client.call(NFS_PROG, NFS_V3, NFSPROC3_READDIRPLUS, args, cred)
    )


async def access(
    client: RPCClient, fh: bytes, cred: OpaqueAuth = AUTH_NULL, mask: int = ACCESS3_ALL
) -> int:
    args = Packer().opaque(fh).uint(mask).get_buffer()
    return decode_access(await client.call(NFS_PROG, NFS_V3, NFSPROC3_ACCESS, args, cred))


def read_args(fh: bytes, count: int, offset: int = 0) -> bytes:
    """READ3args: file handle, offset, count (1..MAX_READ)."""
    if not 0 < count <= MAX_READ:
        raise ValueError(f"READ count {count} outside 1..{MAX_READ}")
    return Packer().opaque(fh).uhyper(offset).uint(count).get_buffer()


async def read(
    client: RPCClient, fh: bytes, count: int, cred: OpaqueAuth = AUTH_NULL, *, offset: int = 0
) -> ReadReply:
    """READ at most ``count`` bytes from ``offset``: one call, never more data than asked."""
    args = read_args(fh, count, offset)
    return decode_read(await client.call(NFS_PROG, NFS_V3, NFSPROC3_READ, args, cred), count)
