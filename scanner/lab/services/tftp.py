"""TFTP (tftpd-hpa) at udp 127.0.10.71:69, serving ``scanner/lab/data/tftp/root/``.

Files: ``startup-config``, ``pxelinux.0`` (1536 bytes: several blocks) and ``backup/nas.cfg``,
all synthetic. ``--secure`` chroots into the root; nothing is writable (no ``--create``).
"""

from __future__ import annotations

import shutil

from scanner.lab.service import LAB_CONFIG_DIR, Daemon, LabContext, LabService, Ready

ADDR = "127.0.10.71"
PORT = 69
SOURCE = LAB_CONFIG_DIR / "tftp" / "root"
FILES = ("startup-config", "pxelinux.0", "backup/nas.cfg")


class TftpService(LabService):
    name = "tftp"
    addresses = (ADDR,)
    executables = ("in.tftpd",)
    packages = ("tftpd-hpa",)

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        root = ctx.dir("tftp", "root")
        for rel in FILES:
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.parent.chmod(0o755)
            shutil.copyfile(SOURCE / rel, dest)
            dest.chmod(0o644)
        return [
            Daemon(
                name="tftp",
                argv=["in.tftpd", "--foreground", "--address", f"{ADDR}:{PORT}", "--secure",
                      "--user", "nobody", str(root)],
                ready=[Ready.udp(ADDR, PORT)],
            )
        ]


SERVICES: list[LabService] = [TftpService()]
