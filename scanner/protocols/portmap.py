"""Portmapper / rpcbind (program 100000, version 2): DUMP and GETPORT."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.protocols.rpc import RPCClient
from scanner.protocols.xdr import Packer, Unpacker

PMAP_PROG = 100000
PMAP_VERS = 2
PMAPPROC_GETPORT = 3
PMAPPROC_DUMP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
MAX_MAPPINGS = 512

PROGRAM_NAMES = {
    100000: "portmapper",
    100003: "nfs",
    100005: "mountd",
    100021: "nlockmgr",
    100024: "status",
    100011: "rquotad",
    100227: "nfs_acl",
}


@dataclass(frozen=True)
class Mapping:
    prog: int
    vers: int
    prot: int
    port: int

    @property
    def name(self) -> str:
        return PROGRAM_NAMES.get(self.prog, str(self.prog))

    @property
    def proto(self) -> str:
        return {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp"}.get(self.prot, str(self.prot))


def _mapping(u: Unpacker) -> Mapping:
    return Mapping(u.uint(), u.uint(), u.uint(), u.uint())


def decode_dump(u: Unpacker) -> list[Mapping]:
    out = u.linked_list(lambda: _mapping(u), MAX_MAPPINGS)
    u.done()
    return out


async def dump(client: RPCClient) -> list[Mapping]:
    return decode_dump(await client.call(PMAP_PROG, PMAP_VERS, PMAPPROC_DUMP))


async def getport(client: RPCClient, prog: int, vers: int, prot: int = IPPROTO_TCP) -> int:
    """The port ``prog``/``vers`` listens on, 0 when not registered."""
    args = Packer().uint(prog).uint(vers).uint(prot).uint(0).get_buffer()
    u = await client.call(PMAP_PROG, PMAP_VERS, PMAPPROC_GETPORT, args)
    port = u.uint()
    u.done()
    return port
