"""NFS (nfs-ganesha 4.3 + rpcbind) at 127.0.10.31.

Exports (``docker/lab/nfs/ganesha.conf``): ``/export/open`` (the recordings tree, everyone,
AUTH_SYS, NFSv3 + NFSv4) and ``/export/secure`` (``SecType = krb5p`` only: visible in the
export list, refused to AUTH_SYS clients), plus the crawl shapes ``/export/deep``, ``/export/wide``
and ``/export/flat`` (``scanner.lab.shapes``, open like ``/export/open``; namespace lab only).

How it coexists with other labs on the same machine: ``docker/lab/nfs/run-nfs.sh`` runs rpcbind
and ganesha as one unit in a private mount namespace whose ``/run`` is this lab's
``<state>/nfs/run`` (rpcbind's ``/run/rpcbind.sock`` and ``.lock`` would otherwise be shared by
every network namespace). The unit exits as soon as either daemon exits, so a crash of one is
seen and ``up`` restarts both (ganesha must re-register with a fresh rpcbind anyway).

Addresses: rpcbind always binds 0.0.0.0:111 and ganesha 4.3 binds its dual-stack sockets to the
wildcard even with ``Bind_addr``; ``pre_start`` loads ``docker/lab/nfs/only-addr.nft`` into the
namespace so ports 111/2049/20048 answer on 127.0.10.31 only (a closed port elsewhere).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from scanner.lab import shapes
from scanner.lab.netns import LabError
from scanner.lab.service import LAB_CONFIG_DIR, Daemon, LabContext, LabService, Ready

ADDR = "127.0.10.31"
NFS_PORT = 2049
MOUNT_PORT = 20048
RPCBIND_PORT = 111
OPEN_EXPORT = "/export/open"
SECURE_EXPORT = "/export/secure"
RUNNER = LAB_CONFIG_DIR / "nfs" / "run-nfs.sh"


SHAPE_EXPORTS = {"deep": (11, "/export/deep"), "wide": (12, "/export/wide"),
                 "flat": (13, "/export/flat")}  # fmt: skip
"""The crawl shapes (``scanner.lab.shapes``) exported like ``/export/open``: everyone, AUTH_SYS."""


def shape_exports(trees: dict[str, Path]) -> str:
    return "".join(
        f"""
# crawl shape '{name}' (scanner/lab/shapes.py), open like /export/open
EXPORT {{
    Export_Id = {eid};
    Path = {trees[name]};
    Pseudo = {pseudo};
    Access_Type = RO;
    Squash = All_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL {{ Name = VFS; }}
}}
"""
        for name, (eid, pseudo) in SHAPE_EXPORTS.items()
    )


class NfsService(LabService):
    name = "nfs"
    addresses = (ADDR,)
    executables = ("ganesha.nfsd", "rpcbind", "unshare", "nft")
    packages = ("nfs-ganesha", "nfs-ganesha-vfs", "rpcbind", "util-linux", "nftables")

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        base = ctx.dir("nfs")
        run = ctx.dir("nfs", "run")
        ctx.dir("nfs", "run", "rpcbind")
        ctx.dir("nfs", "run", "ganesha")
        ctx.dir("nfs", "recovery")
        secure = ctx.dir("nfs", "secure")
        for f in (LAB_CONFIG_DIR / "nfs" / "data" / "secure").iterdir():
            shutil.copyfile(f, secure / f.name)
            (secure / f.name).chmod(0o644)
        conf = ctx.render("nfs/ganesha.conf", base / "ganesha.conf", ADDR=ADDR)
        with conf.open("a") as fh:  # the crawl shapes (issue 12): namespace lab only
            fh.write(shape_exports(shapes.generate(ctx.state / "shapes")))
        ctx.render("nfs/only-addr.nft", base / "only-addr.nft", ADDR=ADDR)
        return [
            Daemon(
                name="nfs",
                argv=[str(RUNNER), str(run), str(conf), str(base / "ganesha.log"),
                      str(ctx.state)],
                ready=[
                    Ready.tcp(ADDR, RPCBIND_PORT),
                    Ready.tcp(ADDR, NFS_PORT),
                    Ready.tcp(ADDR, MOUNT_PORT),
                ],
                ready_timeout=20.0,
                stop_timeout=8.0,
            )
        ]

    def pre_start(self, ctx: LabContext) -> None:
        run = ctx.state / "nfs" / "run"
        for stale in ("rpcbind.sock", "rpcbind.lock", "ganesha/ganesha.pid"):
            (run / stale).unlink(missing_ok=True)
        r = ctx.run(["nft", "-f", str(ctx.state / "nfs" / "only-addr.nft")], check=False)
        if r.returncode != 0:
            raise LabError(f"nfs: loading only-addr.nft failed: {r.stderr.strip()}")


SERVICES: list[LabService] = [NfsService()]
