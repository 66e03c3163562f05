"""MOUNT protocol version 3 (RFC 1813 appendix I): EXPORT, MNT, UMNT."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from scanner.protocols.rpc import AUTH_NULL, OpaqueAuth, RPCClient
from scanner.protocols.xdr import Packer, Unpacker

MOUNT_PROG = 100005
MOUNT_V3 = 3
MOUNTPROC3_MNT = 1
MOUNTPROC3_UMNT = 3
MOUNTPROC3_EXPORT = 5

MNTPATHLEN = 1024
MNTNAMLEN = 255
FHSIZE3 = 64
MAX_EXPORTS = 1024
MAX_GROUPS = 256
MAX_FLAVORS = 32

MNT3_ERRORS = {
    0: "MNT3_OK",
    1: "MNT3ERR_PERM",
    2: "MNT3ERR_NOENT",
    5: "MNT3ERR_IO",
    13: "MNT3ERR_ACCES",
    20: "MNT3ERR_NOTDIR",
    22: "MNT3ERR_INVAL",
    63: "MNT3ERR_NAMETOOLONG",
    10004: "MNT3ERR_NOTSUPP",
    10006: "MNT3ERR_SERVERFAULT",
}


WIDE_PREFIX_V4 = 16
WIDE_PREFIX_V6 = 48


def client_scope(client: str) -> str:
    """Classify one export client entry: ``everyone``, ``wide-network``, ``wildcard`` or
    ``restricted`` (a host, a netgroup or a narrow network)."""
    c = client.strip()
    if c in ("", "*", "everyone", "(everyone)", "0.0.0.0/0", "::/0", "0.0.0.0"):
        return "everyone"
    if "/" in c:
        try:
            net = ipaddress.ip_network(c, strict=False)
        except ValueError:
            return "restricted"
        wide = WIDE_PREFIX_V4 if net.version == 4 else WIDE_PREFIX_V6
        return "wide-network" if net.prefixlen <= wide else "restricted"
    if "*" in c or "?" in c:
        return "wildcard"
    return "restricted"


@dataclass(frozen=True)
class Export:
    path: str
    clients: tuple[str, ...] = ()

    @property
    def open_to_everyone(self) -> bool:
        """An empty list, ``*`` or ``everyone`` means any host may mount."""
        return not self.clients or any(client_scope(c) == "everyone" for c in self.clients)

    @property
    def exposure(self) -> str:
        """The widest client scope: everyone > wide-network > wildcard > restricted."""
        if not self.clients:
            return "everyone"
        order = ("everyone", "wide-network", "wildcard", "restricted")
        return min((client_scope(c) for c in self.clients), key=order.index)


@dataclass
class MountResult:
    status: int
    fhandle: bytes = b""
    flavors: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def error(self) -> str:
        return MNT3_ERRORS.get(self.status, f"MNT3 status {self.status}")


def decode_exports(u: Unpacker) -> list[Export]:
    def export() -> Export:
        path = u.string(MNTPATHLEN)
        groups = u.linked_list(lambda: u.string(MNTNAMLEN), MAX_GROUPS)
        return Export(path, tuple(groups))

    out = u.linked_list(export, MAX_EXPORTS)
    u.done()
    return out


def decode_mnt(u: Unpacker) -> MountResult:
    status = u.uint()
    if status != 0:
        return MountResult(status)
    fh = u.opaque(FHSIZE3)
    flavors = u.array(u.uint, MAX_FLAVORS)
    return MountResult(status, fh, flavors)


async def export(client: RPCClient) -> list[Export]:
    return decode_exports(await client.call(MOUNT_PROG, MOUNT_V3, MOUNTPROC3_EXPORT))


async def mnt(client: RPCClient, path: str, cred: OpaqueAuth = AUTH_NULL) -> MountResult:
    args = Packer().string(path[:MNTPATHLEN]).get_buffer()
    return decode_mnt(await client.call(MOUNT_PROG, MOUNT_V3, MOUNTPROC3_MNT, args, cred))


async def umnt(client: RPCClient, path: str, cred: OpaqueAuth = AUTH_NULL) -> None:
    args = Packer().string(path[:MNTPATHLEN]).get_buffer()
    await client.call(MOUNT_PROG, MOUNT_V3, MOUNTPROC3_UMNT, args, cred)
