"""Record real replies from the lab's daemons into tests/captures/*.bin (run inside the lab).

    nasscan lab exec -- .venv/bin/python tests/captures/capture.py

RPC files hold one reply message (record marking removed; the first 4 bytes are its xid);
iSCSI files hold one PDU (header + padded data); TFTP files hold one datagram.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
from pathlib import Path

from scanner.dialer import Dialer
from scanner.protocols import iscsi, mount, nfs3, nfs4, portmap, rpc, tftp

OUT = Path(__file__).parent
NFS_HOST, ISCSI_HOST, TFTP_HOST = "127.0.10.31", "127.0.10.61", "127.0.10.71"


class Recorder(rpc.TCPRPCClient):
    name = ""

    async def exchange(self, message: bytes, xid: int) -> bytes:
        reply = await super().exchange(message, xid)
        if self.name:
            (OUT / f"rpc_{self.name}.bin").write_bytes(reply)
            self.name = ""
        return reply


async def capture_nfs(d: Dialer) -> None:
    cred = rpc.auth_sys(65534, 65534, machinename="capture", stamp=0)
    async with d.tcp(NFS_HOST, 111, source_port=None) as conn:
        c = Recorder(conn)
        c.name = "portmap_dump"
        await portmap.dump(c)
        c.name = "portmap_getport_mountd"
        mport = await portmap.getport(c, mount.MOUNT_PROG, 3)
    async with d.tcp(NFS_HOST, mport) as conn, d.tcp(NFS_HOST, 2049) as nconn:
        m, n = Recorder(conn), Recorder(nconn)
        m.name = "mount_export"
        await mount.export(m)
        m.name = "mount_mnt_open"
        fh = (await mount.mnt(m, "/export/open", cred)).fhandle
        m.name = "mount_mnt_secure"
        sfh = (await mount.mnt(m, "/export/secure", cred)).fhandle
        n.name = "nfs3_fsinfo"
        await nfs3.fsinfo(n, fh, cred)
        n.name = "nfs3_readdirplus"
        await nfs3.readdirplus(n, fh, cred)
        n.name = "nfs3_access"
        await nfs3.access(n, fh, cred)
        n.name = "nfs3_readdirplus_secure_tooweak"
        with contextlib.suppress(rpc.RPCDeniedError):
            await nfs3.readdirplus(n, sfh, cred)
        for name, path in (("root", "/"), ("export", "/export"), ("open", "/export/open"),
                           ("secure", "/export/secure")):
            n.name = f"nfs4_readdir_{name}"
            await nfs4.compound(n, [*nfs4.path_ops(path), nfs4.getfh(), nfs4.readdir()], cred)
        n.name = "nfs4_secinfo_secure"
        await nfs4.compound(n, [*nfs4.path_ops("/export"), nfs4.secinfo("secure")], cred)
        for p in ("/export/open", "/export/secure"):
            await mount.umnt(m, p, cred)


async def capture_iscsi(d: Dialer) -> None:
    real_read = iscsi.read_pdu
    names: list[str] = []

    async def recording(conn: object, max_data: int = iscsi.MAX_DATA) -> iscsi.PDU:
        pdu = await real_read(conn, max_data)  # type: ignore[arg-type]
        if names:
            pad = (4 - len(pdu.data) % 4) % 4
            (OUT / f"iscsi_{names.pop(0)}.bin").write_bytes(pdu.bhs + pdu.data + b"\0" * pad)
        return pdu

    iscsi.read_pdu = recording
    try:
        async with d.tcp(ISCSI_HOST, 3260) as conn:
            s = iscsi.Session(conn)
            names[:] = ["login_discovery_security", "login_discovery_operational"]
            await s.login(None)
            names[:] = ["text_sendtargets"]
            await s.send_targets()
            names[:] = ["logout"]
            await s.logout()
        async with d.tcp(ISCSI_HOST, 3260) as conn:
            s = iscsi.Session(conn)
            names[:] = ["login_chap_target_rejected"]
            await s.login("iqn.2026-01.lab.nasscan:chap")
    finally:
        iscsi.read_pdu = real_read


async def capture_tftp(d: Dialer) -> None:
    for fname, out in (("startup-config", "data_startup_config"),
                       ("no-such-file.nasscan", "error_not_found")):
        sock = await d.udp_reply_from(TFTP_HOST, 69)
        try:
            await d.send_udp(sock, tftp.rrq(fname), TFTP_HOST, 69)
            payload, addr = await asyncio.wait_for(sock.recv(), 3)
            (OUT / f"tftp_{out}.bin").write_bytes(bytes(payload))
            if payload[:2] == b"\0\3":
                await d.send_udp(sock, tftp.error(0, "abort"), TFTP_HOST, addr[1])
        finally:
            sock.close()


async def main() -> None:
    d = Dialer(ipaddress.ip_network("127.0.10.0/24"))
    try:
        which = set(sys.argv[1:]) or {"nfs", "iscsi", "tftp"}
        if "nfs" in which:
            await capture_nfs(d)
        if "iscsi" in which:
            await capture_iscsi(d)
        if "tftp" in which:
            await capture_tftp(d)
    finally:
        d.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
