"""rsync daemon at 127.0.10.41:873 (``scanner/lab/data/rsync/rsyncd.conf``).

Modules: ``recordings`` (the recordings tree, open and listed), ``private`` (``auth users =
alice``, secrets file mode 600) and ``hidden`` (open, ``list = no``: absent from the module
list, readable by anyone who knows its name).
"""

from __future__ import annotations

import shutil

from scanner.lab.service import (
    LAB_CONFIG_DIR,
    LAB_PASSWORD,
    LAB_USER,
    Daemon,
    LabContext,
    LabService,
    Ready,
)

ADDR = "127.0.10.41"
PORT = 873
DATA = LAB_CONFIG_DIR / "rsync" / "data"
"""Files of the ``private`` and ``hidden`` modules (copied into the state dir / the image)."""


class RsyncService(LabService):
    name = "rsync"
    addresses = (ADDR,)
    executables = ("rsync",)
    packages = ("rsync",)

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        base = ctx.dir("rsync")
        for module in ("private", "hidden"):
            dest = ctx.dir("rsync", module)
            for f in (DATA / module).iterdir():
                shutil.copyfile(f, dest / f.name)
                (dest / f.name).chmod(0o644)
        secrets = base / "rsyncd.secrets"
        secrets.write_text(f"{LAB_USER}:{LAB_PASSWORD}\n")
        secrets.chmod(0o600)  # rsync refuses a secrets file others can read
        conf = ctx.render("rsync/rsyncd.conf", base / "rsyncd.conf")
        return [
            Daemon(
                name="rsync",
                argv=["rsync", "--daemon", "--no-detach", f"--config={conf}",
                      f"--address={ADDR}", f"--port={PORT}", f"--log-file={base / 'rsyncd.log'}"],
                ready=[Ready.tcp(ADDR, PORT)],
            )
        ]

    def pre_start(self, ctx: LabContext) -> None:
        (ctx.state / "rsync" / "rsyncd.pid").unlink(missing_ok=True)


SERVICES: list[LabService] = [RsyncService()]
