"""NFS version 4.0 (RFC 7530): COMPOUND with the read-only operations a scanner needs.

PUTROOTFH, PUTFH, LOOKUP, GETFH, GETATTR, READDIR, ACCESS and SECINFO. Results are decoded
op by op and stop at the first failed operation, as the server itself does.
NFS4ERR_WRONGSEC means the object demands another security flavour (e.g. Kerberos).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scanner.protocols.rpc import AUTH_NULL, AuthFlavor, OpaqueAuth, RPCClient
from scanner.protocols.xdr import Packer, Unpacker, XDRError

NFS_PROG = 100003
NFS_V4 = 4
NFSPROC4_NULL = 0
NFSPROC4_COMPOUND = 1

OP_ACCESS = 3
OP_GETATTR = 9
OP_GETFH = 10
OP_LOOKUP = 15
OP_PUTFH = 22
OP_PUTROOTFH = 24
OP_READDIR = 26
OP_SECINFO = 33

NFS4_FHSIZE = 128
MAX_NAME = 1024
MAX_ATTR_BYTES = 1 << 16
MAX_DIR_ENTRIES = 4096
MAX_OPS = 64

NFS4_OK = 0
NFS4ERR_WRONGSEC = 10016

NFS4_ERRORS = {
    0: "NFS4_OK",
    1: "NFS4ERR_PERM",
    2: "NFS4ERR_NOENT",
    5: "NFS4ERR_IO",
    13: "NFS4ERR_ACCESS",
    20: "NFS4ERR_NOTDIR",
    22: "NFS4ERR_INVAL",
    70: "NFS4ERR_STALE",
    10001: "NFS4ERR_BADHANDLE",
    10004: "NFS4ERR_NOTSUPP",
    10006: "NFS4ERR_SERVERFAULT",
    10008: "NFS4ERR_DELAY",
    10013: "NFS4ERR_GRACE",
    10016: "NFS4ERR_WRONGSEC",
    10018: "NFS4ERR_RESOURCE",
    10019: "NFS4ERR_MOVED",
    10020: "NFS4ERR_NOFILEHANDLE",
    10021: "NFS4ERR_MINOR_VERS_MISMATCH",
    10036: "NFS4ERR_BADXDR",
    10044: "NFS4ERR_OP_ILLEGAL",
}

# attribute numbers (RFC 7530 section 5)
FATTR4_TYPE = 1
FATTR4_SIZE = 4
FATTR4_FSID = 8
FATTR4_RDATTR_ERROR = 11
FATTR4_TIME_MODIFY = 53
LISTING_ATTRS = (FATTR4_TYPE, FATTR4_SIZE, FATTR4_FSID, FATTR4_RDATTR_ERROR, FATTR4_TIME_MODIFY)

NF4REG = 1
NF4DIR = 2

ACCESS4_READ = 0x01
ACCESS4_LOOKUP = 0x02
ACCESS4_MODIFY = 0x04
ACCESS4_EXTEND = 0x08
ACCESS4_DELETE = 0x10
ACCESS4_EXECUTE = 0x20

KRB5_OID = bytes.fromhex("2a864886f712010202")
"""1.2.840.113554.1.2.2 without the DER tag and length (as SECINFO carries it)."""


def error_name(status: int) -> str:
    return NFS4_ERRORS.get(status, f"NFS4 status {status}")


def bitmap(attrs: tuple[int, ...]) -> list[int]:
    words = [0] * (max(attrs) // 32 + 1 if attrs else 0)
    for a in attrs:
        words[a // 32] |= 1 << (a % 32)
    return words


@dataclass(frozen=True)
class Op:
    opcode: int
    args: bytes = b""


def putrootfh() -> Op:
    return Op(OP_PUTROOTFH)


def putfh(fh: bytes) -> Op:
    return Op(OP_PUTFH, Packer().opaque(fh).get_buffer())


def lookup(name: str) -> Op:
    return Op(OP_LOOKUP, Packer().string(name).get_buffer())


def getfh() -> Op:
    return Op(OP_GETFH)


def getattr_op(attrs: tuple[int, ...] = LISTING_ATTRS) -> Op:
    p = Packer()
    p.array(bitmap(attrs), p.uint)
    return Op(OP_GETATTR, p.get_buffer())


def readdir(
    cookie: int = 0,
    cookieverf: bytes = b"\0" * 8,
    dircount: int = 8192,
    maxcount: int = 32768,
    attrs: tuple[int, ...] = LISTING_ATTRS,
) -> Op:
    p = Packer().uhyper(cookie).fopaque(8, cookieverf).uint(dircount).uint(maxcount)
    p.array(bitmap(attrs), p.uint)
    return Op(OP_READDIR, p.get_buffer())


def secinfo(name: str) -> Op:
    return Op(OP_SECINFO, Packer().string(name).get_buffer())


def access_op(mask: int = 0x3F) -> Op:
    return Op(OP_ACCESS, Packer().uint(mask).get_buffer())


def encode_compound(ops: list[Op], tag: str = "nasscan", minorversion: int = 0) -> bytes:
    if len(ops) > MAX_OPS:
        raise ValueError("too many operations in one COMPOUND")
    p = Packer().string(tag).uint(minorversion).uint(len(ops))
    for op in ops:
        p.uint(op.opcode).raw(op.args)
    return p.get_buffer()


@dataclass
class Attrs:
    type: int | None = None
    size: int | None = None
    fsid: tuple[int, int] | None = None
    rdattr_error: int | None = None
    mtime: int | None = None

    @property
    def is_dir(self) -> bool:
        return self.type == NF4DIR


def decode_fattr4(u: Unpacker) -> Attrs:
    words = u.array(u.uint, 8)
    vals = Unpacker(u.opaque(MAX_ATTR_BYTES))
    out = Attrs()
    for w, word in enumerate(words):
        for bit in range(32):
            if not word & (1 << bit):
                continue
            attr = w * 32 + bit
            if attr == FATTR4_TYPE:
                out.type = vals.uint()
            elif attr == FATTR4_SIZE:
                out.size = vals.uhyper()
            elif attr == FATTR4_FSID:
                out.fsid = (vals.uhyper(), vals.uhyper())
            elif attr == FATTR4_RDATTR_ERROR:
                out.rdattr_error = vals.uint()
            elif attr == FATTR4_TIME_MODIFY:
                out.mtime = vals.hyper()
                vals.uint()
            else:  # an attribute we did not ask for and cannot size: stop here
                return out
    return out


@dataclass(frozen=True)
class Entry4:
    cookie: int
    name: str
    attrs: Attrs


@dataclass
class DirList4:
    cookieverf: bytes
    entries: list[Entry4]
    eof: bool


@dataclass(frozen=True)
class SecFlavor:
    flavor: int
    oid: bytes = b""
    service: int = 0

    @property
    def pseudo_flavor(self) -> int:
        """RPCSEC_GSS with the Kerberos OID mapped to krb5/krb5i/krb5p (390003..5)."""
        if self.flavor == AuthFlavor.RPCSEC_GSS and self.oid == KRB5_OID and 1 <= self.service <= 3:
            return AuthFlavor.KRB5 + self.service - 1
        return self.flavor


@dataclass
class OpResult:
    opcode: int
    status: int
    value: Any = None


@dataclass
class CompoundResult:
    status: int
    results: list[OpResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == NFS4_OK

    @property
    def failed(self) -> OpResult | None:
        return next((r for r in self.results if r.status != NFS4_OK), None)

    def value(self, opcode: int) -> Any:
        """The value of the last successful result of ``opcode`` (None if none)."""
        for r in reversed(self.results):
            if r.opcode == opcode and r.status == NFS4_OK:
                return r.value
        return None


def _decode_op_value(opcode: int, u: Unpacker) -> Any:
    if opcode in (OP_PUTROOTFH, OP_PUTFH, OP_LOOKUP):
        return None
    if opcode == OP_GETFH:
        return u.opaque(NFS4_FHSIZE)
    if opcode == OP_GETATTR:
        return decode_fattr4(u)
    if opcode == OP_ACCESS:
        return (u.uint(), u.uint())  # supported, access
    if opcode == OP_READDIR:
        verf = u.fopaque(8)

        def entry() -> Entry4:
            return Entry4(u.uhyper(), u.string(MAX_NAME), decode_fattr4(u))

        entries = u.linked_list(entry, MAX_DIR_ENTRIES)
        return DirList4(verf, entries, u.boolean())
    if opcode == OP_SECINFO:

        def flavor() -> SecFlavor:
            f = u.uint()
            if f == AuthFlavor.RPCSEC_GSS:
                return SecFlavor(f, u.opaque(64), (u.uint(), u.uint())[1])
            return SecFlavor(f)

        return u.array(flavor, 32)
    raise XDRError(f"no decoder for NFSv4 operation {opcode}")


def decode_compound(u: Unpacker, sent: list[Op] | None = None) -> CompoundResult:
    status = u.uint()
    u.opaque(MAX_NAME)  # tag
    n = u.uint()
    if n > MAX_OPS or (sent is not None and n > len(sent)):
        raise XDRError(f"COMPOUND reply has {n} results for {len(sent or [])} operations")
    out = CompoundResult(status)
    for i in range(n):
        opcode = u.uint()
        if sent is not None and opcode != sent[i].opcode:
            raise XDRError(f"COMPOUND result {i} is op {opcode}, expected {sent[i].opcode}")
        st = u.uint()
        value = _decode_op_value(opcode, u) if st == NFS4_OK else None
        out.results.append(OpResult(opcode, st, value))
        if st != NFS4_OK:
            break
    return out


async def null(client: RPCClient, cred: OpaqueAuth = AUTH_NULL) -> None:
    await client.call(NFS_PROG, NFS_V4, NFSPROC4_NULL, b"", cred)


async def compound(
    client: RPCClient, ops: list[Op], cred: OpaqueAuth = AUTH_NULL
) -> CompoundResult:
    u = await client.call(NFS_PROG, NFS_V4, NFSPROC4_COMPOUND, encode_compound(ops), cred)
    return decode_compound(u, ops)


def path_ops(path: str) -> list[Op]:
    """PUTROOTFH then one LOOKUP per component of ``path``."""
    ops = [putrootfh()]
    ops.extend(lookup(c) for c in path.split("/") if c)
    return ops
