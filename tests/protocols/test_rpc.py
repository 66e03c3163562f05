"""ONC RPC, portmap, MOUNT, NFSv3 and NFSv4 decoding on captured and constructed replies.

Captured replies come from nfs-ganesha + rpcbind (tests/captures/capture.py). Malformed replies
(truncated, absurd lengths, wrong xid, wrong program) are served by small local TCP/UDP servers
written here, because no real daemon sends them; they must end in a protocol error, quickly and
without large allocations.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import tracemalloc
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from repo_paths import CAPTURES

from probes.nfs import PROBE as NFS_PROBE
from scanner.dialer import Dialer
from scanner.models import ServiceInfo, Status
from scanner.probe import ProbeContext
from scanner.protocols import mount, nfs3, nfs4, portmap, rpc
from scanner.protocols.xdr import Packer, Unpacker, XDRError


def captured(name: str) -> bytes:
    return (CAPTURES / f"rpc_{name}.bin").read_bytes()


def results_of(name: str) -> Unpacker:
    data = captured(name)
    return rpc.decode_reply(data, struct.unpack(">I", data[:4])[0])


# -- call encoding ----------------------------------------------------------------------------


def test_call_encoding_is_byte_exact() -> None:
    msg = rpc.encode_call(0x01020304, 100000, 2, 4)
    assert msg == bytes.fromhex(
        "01020304" "00000000" "00000002" "000186a0" "00000002" "00000004"
        "00000000" "00000000" "00000000" "00000000"
    )


def test_auth_sys_body() -> None:
    cred = rpc.auth_sys(65534, 65533, gids=(1, 2), machinename="host", stamp=7)
    assert cred.flavor == rpc.AuthFlavor.AUTH_SYS
    u = Unpacker(cred.body)
    assert u.uint() == 7
    assert u.string() == "host"
    assert (u.uint(), u.uint()) == (65534, 65533)
    assert u.array(u.uint) == [1, 2]
    u.done()


def test_record_mark() -> None:
    assert rpc.record_mark(b"abcd") == b"\x80\x00\x00\x04abcd"


# -- captured replies ---------------------------------------------------------------------------


def test_captured_portmap_dump() -> None:
    maps = portmap.decode_dump(results_of("portmap_dump"))
    progs = {(m.name, m.vers, m.proto) for m in maps}
    assert ("nfs", 3, "tcp") in progs
    assert ("nfs", 4, "tcp") in progs
    assert ("mountd", 3, "tcp") in progs
    assert any(m.port == 2049 for m in maps if m.prog == 100003)


def test_captured_getport() -> None:
    u = results_of("portmap_getport_mountd")
    assert u.uint() == 20048


def test_captured_exports_and_mounts() -> None:
    exports = mount.decode_exports(results_of("mount_export"))
    assert [e.path for e in exports] == ["/export/open", "/export/secure"]
    assert all(e.open_to_everyone for e in exports)  # ganesha sends an empty list: everyone
    open_ = mount.decode_mnt(results_of("mount_mnt_open"))
    assert open_.ok and open_.flavors == [rpc.AuthFlavor.AUTH_SYS] and open_.fhandle
    secure = mount.decode_mnt(results_of("mount_mnt_secure"))
    assert secure.ok and secure.flavors == [rpc.AuthFlavor.KRB5P]


def test_captured_nfs3() -> None:
    info = nfs3.decode_fsinfo(results_of("nfs3_fsinfo"))
    assert info.rtmax > 0 and info.maxfilesize > 0
    page = nfs3.decode_readdirplus(results_of("nfs3_readdirplus"))
    names = {e.name for e in page.entries}
    assert {".", "..", "readme.txt", "2019"} <= names
    assert page.eof
    readme = next(e for e in page.entries if e.name == "readme.txt")
    assert readme.attrs is not None and not readme.attrs.is_dir and readme.handle
    bits = nfs3.decode_access(results_of("nfs3_access"))
    assert bits & nfs3.ACCESS3_READ and not bits & nfs3.ACCESS3_MODIFY


def test_captured_tooweak_is_an_auth_error() -> None:
    with pytest.raises(rpc.RPCDeniedError) as err:
        results_of("nfs3_readdirplus_secure_tooweak")
    assert err.value.auth_stat == rpc.AuthStat.AUTH_TOOWEAK


def test_captured_nfs4() -> None:
    root = nfs4.decode_compound(results_of("nfs4_readdir_root"))
    assert root.ok
    assert [e.name for e in root.value(nfs4.OP_READDIR).entries] == ["export"]
    export = nfs4.decode_compound(results_of("nfs4_readdir_export"))
    entries = {e.name: e.attrs for e in export.value(nfs4.OP_READDIR).entries}
    assert entries["secure"].rdattr_error == nfs4.NFS4ERR_WRONGSEC
    assert entries["open"].is_dir and entries["open"].fsid != root.value(nfs4.OP_GETFH)
    opened = nfs4.decode_compound(results_of("nfs4_readdir_open"))
    assert "readme.txt" in {e.name for e in opened.value(nfs4.OP_READDIR).entries}
    secure = nfs4.decode_compound(results_of("nfs4_readdir_secure"))
    assert secure.status == nfs4.NFS4ERR_WRONGSEC
    assert secure.failed is not None and secure.failed.opcode == nfs4.OP_LOOKUP
    sec = nfs4.decode_compound(results_of("nfs4_secinfo_secure"))
    flavors = sec.value(nfs4.OP_SECINFO)
    assert [f.pseudo_flavor for f in flavors] == [rpc.AuthFlavor.KRB5P]


DECODERS: dict[str, Callable[[Unpacker], object]] = {
    "portmap_dump": portmap.decode_dump,
    "mount_export": mount.decode_exports,
    "mount_mnt_open": mount.decode_mnt,
    "nfs3_fsinfo": nfs3.decode_fsinfo,
    "nfs3_readdirplus": nfs3.decode_readdirplus,
    "nfs3_access": nfs3.decode_access,
    "nfs4_readdir_export": nfs4.decode_compound,
    "nfs4_readdir_open": nfs4.decode_compound,
    "nfs4_secinfo_secure": nfs4.decode_compound,
}


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_every_truncation_is_a_protocol_error(name: str) -> None:
    data = captured(name)
    xid = struct.unpack(">I", data[:4])[0]
    decoder = DECODERS[name]
    for cut in range(len(data)):
        with pytest.raises((rpc.RPCProtocolError, XDRError)):
            u = rpc.decode_reply(data[:cut], xid)
            decoder(u)
            # NFSv4 stops at a failed op: a cut there can still be a well-formed prefix
            u.done()


@given(st.binary(max_size=400))
@settings(max_examples=300)
def test_garbage_never_escapes_as_another_exception(data: bytes) -> None:
    for decoder in DECODERS.values():
        with contextlib.suppress(
            rpc.RPCProtocolError, rpc.RPCDeniedError, XDRError, nfs3.NFS3Error
        ):
            decoder(rpc.decode_reply(data, 0))


def test_client_list_exposure() -> None:
    assert mount.Export("/a").exposure == "everyone"  # empty list: any host
    assert mount.Export("/a", ("*",)).exposure == "everyone"
    assert mount.Export("/a", ("10.0.0.0/8", "db1")).exposure == "wide-network"
    assert mount.Export("/a", ("192.0.2.0/24",)).exposure == "restricted"
    assert mount.Export("/a", ("*.example.org",)).exposure == "wildcard"
    assert mount.Export("/a", ("@backup", "nas2")).exposure == "restricted"
    assert not mount.Export("/a", ("10.0.0.0/8",)).open_to_everyone


def test_wrong_xid_and_not_a_reply() -> None:
    data = captured("portmap_dump")
    xid = struct.unpack(">I", data[:4])[0]
    with pytest.raises(rpc.RPCProtocolError, match="xid"):
        rpc.decode_reply(data, xid ^ 1)
    call = rpc.encode_call(5, 100000, 2, 4)
    with pytest.raises(rpc.RPCProtocolError, match="message type"):
        rpc.decode_reply(call, 5)


def test_accept_and_deny_states() -> None:
    base = Packer().uint(9).uint(rpc.REPLY).uint(rpc.MSG_ACCEPTED).uint(0).uint(0)
    with pytest.raises(rpc.RPCAcceptError) as err:
        rpc.decode_reply(base.get_buffer() + Packer().uint(1).get_buffer(), 9)
    assert err.value.stat == rpc.AcceptStat.PROG_UNAVAIL
    with pytest.raises(rpc.RPCAcceptError) as err:
        rpc.decode_reply(base.get_buffer() + Packer().uint(2).uint(2).uint(3).get_buffer(), 9)
    assert (err.value.low, err.value.high) == (2, 3)
    denied = Packer().uint(9).uint(rpc.REPLY).uint(rpc.MSG_DENIED).uint(1).uint(5).get_buffer()
    with pytest.raises(rpc.RPCDeniedError) as derr:
        rpc.decode_reply(denied, 9)
    assert derr.value.is_auth_error and derr.value.auth_stat == rpc.AuthStat.AUTH_TOOWEAK


def test_absurd_lengths_in_decoders() -> None:
    # an export list whose path claims 4 GiB
    body = Packer().boolean(True).uint(0xFFFFFFF0).get_buffer() + b"\0" * 16
    with pytest.raises(XDRError):
        mount.decode_exports(Unpacker(body))
    # an NFSv4 COMPOUND claiming a million results
    body = Packer().uint(0).string("t").uint(1_000_000).get_buffer()
    with pytest.raises(XDRError):
        nfs4.decode_compound(Unpacker(body))
    # a file handle longer than NFS3_FHSIZE
    body = Packer().uint(0).opaque(b"x" * 65).get_buffer()
    with pytest.raises(XDRError):
        mount.decode_mnt(Unpacker(body))


# -- over the wire: constructed hostile servers ----------------------------------------------

Behaviour = Callable[[int, asyncio.StreamWriter], bytes | None]


@pytest.fixture
async def rpc_server() -> AsyncIterator[Callable[[Behaviour], asyncio.Future[int]]]:
    servers: list[asyncio.Server] = []

    async def start(behaviour: Behaviour) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    (word,) = struct.unpack(">I", await reader.readexactly(4))
                    call = await reader.readexactly(word & 0x7FFFFFFF)
                    xid = struct.unpack(">I", call[:4])[0]
                    writer.write(b"")
                    out = behaviour(xid, writer)
                    if out is None:
                        writer.close()
                        return
                    writer.write(out)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(srv)
        return int(srv.sockets[0].getsockname()[1])

    yield start  # type: ignore[misc]
    for s in servers:
        s.close()
        await s.wait_closed()


def reply(xid: int, results: bytes = b"") -> bytes:
    return rpc.record_mark(rpc.encode_reply_success(xid, results))


async def probe_status(dialer: Dialer, port: int) -> Status:
    ctx = ProbeContext(dialer=dialer, timeout=10)
    res = await NFS_PROBE.run(ServiceInfo(host="127.0.0.1", port=port), ctx)
    return res.status


HOSTILE: dict[str, Behaviour] = {
    # a record header claiming 2 GiB
    "absurd-record-length": lambda xid, w: b"\xff\xff\xff\xff" + b"\0" * 16,
    # a DUMP answer whose first entry's fields are cut off, then the connection closes
    "truncated": lambda xid, w: reply(xid, b"\x00\x00\x00\x01\x00\x01")[:18],
    "wrong-xid": lambda xid, w: reply(xid ^ 0xFFFF, b"\x00\x00\x00\x00"),
    # PROG_UNAVAIL: this is not the program we asked for
    "wrong-program": lambda xid, w: rpc.record_mark(
        Packer().uint(xid).uint(1).uint(0).uint(0).uint(0).uint(1).get_buffer()
    ),
    # a record that never ends: fragment after fragment, none marked last
    "endless-fragments": lambda xid, w: (struct.pack(">I", 4) + b"\0\0\0\0") * 200,
    "not-rpc": lambda xid, w: b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"x" * 100,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_replies_end_in_protocol_error(
    name: str, rpc_server: Callable[[Behaviour], asyncio.Future[int]], dialer: Dialer
) -> None:
    port = await rpc_server(HOSTILE[name])
    tracemalloc.start()
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        status = await probe_status(dialer, port)
        elapsed = loop.time() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == Status.PROTOCOL_ERROR, name
    assert peak < 8 << 20, f"{name}: peak allocation {peak} bytes"
    assert elapsed < 2.5, f"{name}: took {elapsed:.1f}s"


async def test_dump_through_the_client_and_privileged_port(
    rpc_server: Callable[[Behaviour], asyncio.Future[int]], dialer: Dialer
) -> None:
    peers: list[int] = []
    body = Packer().boolean(True).uint(100003).uint(3).uint(6).uint(2049).boolean(False)

    def ok(xid: int, w: asyncio.StreamWriter) -> bytes:
        peers.append(w.get_extra_info("peername")[1])
        return reply(xid, body.get_buffer())

    port = await rpc_server(ok)
    async with rpc.connect(dialer, "127.0.0.1", port) as c:
        maps = await portmap.dump(c)
    assert maps == [portmap.Mapping(100003, 3, 6, 2049)]
    if os.geteuid() == 0:
        assert peers[0] < 1024 and c.source_port == peers[0]
    else:
        assert c.source_port is None


async def test_udp_wrong_xids_then_silence(dialer: Dialer) -> None:
    """A UDP server answering only with wrong xids: bounded, ends in an error."""

    class Proto(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            xid = struct.unpack(">I", data[:4])[0]
            for i in range(3):
                self.t.sendto(rpc.encode_reply_success(xid ^ (i + 1)), addr)  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Proto, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        async with rpc.connect(dialer, "127.0.0.1", port, transport="udp", timeout=1.0) as c:
            with pytest.raises((rpc.RPCProtocolError, TimeoutError)):
                await portmap.dump(c)
    finally:
        transport.close()


async def test_udp_dump_reply(dialer: Dialer) -> None:
    class Proto(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            xid = struct.unpack(">I", data[:4])[0]
            self.t.sendto(rpc.encode_reply_success(xid, b"\0\0\0\0"), addr)  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Proto, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        async with rpc.connect(dialer, "127.0.0.1", port, transport="udp", timeout=1.0) as c:
            assert await portmap.dump(c) == []
    finally:
        transport.close()
