"""SMB (Samba smbd): guest server, SMB1-only server and the secured twin.

Configs: ``scanner/lab/data/smb/{common,smb-guest,smb1,smb-secure}.conf``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from scanner.lab.service import (
    LAB_PASSWORD,
    LAB_USER,
    Daemon,
    LabContext,
    LabService,
    Ready,
    ensure_user,
)

INSTANCES = {
    # name: (address, config template)
    "smb-guest": ("127.0.10.1", "smb/smb-guest.conf"),
    "smb1": ("127.0.10.2", "smb/smb1.conf"),
    "smb-secure": ("127.0.10.3", "smb/smb-secure.conf"),
}


class SmbService(LabService):
    name = "smb"
    addresses = tuple(a for a, _ in INSTANCES.values())
    executables = ("smbd", "smbpasswd", "smbclient")
    packages = ("samba", "smbclient")

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        ensure_user()
        daemons = []
        for inst, (addr, template) in INSTANCES.items():
            run = ctx.dir("smb", inst)
            for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc"):
                ctx.dir("smb", inst, sub, mode=0o700 if sub == "private" else 0o755)
            include = ctx.render("smb/common.conf", run / "common.conf", ADDR=addr, RUN=str(run))
            conf = ctx.render(template, run / "smb.conf", RUN=str(run), INCLUDE=str(include))
            self._dirs(run)
            self._passdb(conf)
            daemons.append(
                Daemon(
                    name=inst,
                    argv=["smbd", "--foreground", "--debug-stdout", "-s", str(conf)],
                    ready=[Ready.tcp(addr, 445)],
                    extra_pidfiles=[run / "pid" / "samba-dcerpcd.pid"],
                    watch=[include],
                    stop_timeout=8.0,
                    new_session=False,  # smbd -F calls setsid() itself
                )
            )
        return daemons

    @staticmethod
    def _dirs(run: Path) -> None:
        locked = run / "locked"
        locked.mkdir(exist_ok=True)
        (locked / "salaries_2020.xlsx").write_bytes(b"PK\x03\x04 not really a spreadsheet\n")
        locked.chmod(0o700)  # root only: a guest (nobody) cannot list it
        for name in ("staff", "secure"):
            d = run / name
            d.mkdir(exist_ok=True)
            (d / "handbook.txt").write_text(f"{name} share: for {LAB_USER} only\n")
            d.chmod(0o755)

    @staticmethod
    def _passdb(conf: Path) -> None:
        """alice in this instance's private passdb (smbpasswd -a is idempotent)."""
        subprocess.run(
            ["smbpasswd", "-c", str(conf), "-s", "-a", LAB_USER],
            input=f"{LAB_PASSWORD}\n{LAB_PASSWORD}\n",
            text=True,
            check=True,
            capture_output=True,
            timeout=30,
        )


SERVICES: list[LabService] = [SmbService()]
