"""iSCSI (tgt) at 127.0.10.61:3260 (``scanner/lab/data/iscsi/targets.conf``).

Targets: ``iqn.2026-01.lab.nasscan:open`` (no CHAP, any initiator) and
``iqn.2026-01.lab.nasscan:chap`` (incoming CHAP user ``labchap``); each a small read-only
file-backed LUN in the state dir.

``scanner/lab/data/iscsi/run-tgtd.sh`` runs tgtd in the foreground in a private mount namespace
whose ``/run`` is ``<state>/iscsi/run`` (tgtd's control socket ``/run/tgtd/socket.N`` is otherwise
shared machine-wide), loads the targets with tgt-admin and touches a readiness marker. tgtd
ignores SIGTERM: the script's TERM trap deletes the targets and the system, then SIGKILLs it.
"""

from __future__ import annotations

import signal

from scanner.lab.service import LAB_CONFIG_DIR, Daemon, LabContext, LabService, Ready

ADDR = "127.0.10.61"
PORT = 3260
OPEN_IQN = "iqn.2026-01.lab.nasscan:open"
CHAP_IQN = "iqn.2026-01.lab.nasscan:chap"
CHAP_USER = "labchap"
CHAP_SECRET = "ChapSecret1234"
CONTROL_PORT = 61
"""tgtd's control socket number; private per lab thanks to the private /run."""
LUN_BYTES = 4 * 1024 * 1024
RUNNER = LAB_CONFIG_DIR / "iscsi" / "run-tgtd.sh"


class IscsiService(LabService):
    name = "iscsi"
    addresses = (ADDR,)
    executables = ("tgtd", "tgtadm", "tgt-admin", "unshare")
    packages = ("tgt", "util-linux")

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        base = ctx.dir("iscsi")
        run = ctx.dir("iscsi", "run")
        ctx.dir("iscsi", "run", "tgtd")
        for name in ("open", "chap"):
            img = base / f"{name}.img"
            if not img.exists() or img.stat().st_size != LUN_BYTES:
                with img.open("wb") as f:
                    f.write(b"nasscan lab LUN (synthetic)\n")
                    f.truncate(LUN_BYTES)
        conf = ctx.render("iscsi/targets.conf", base / "targets.conf")
        return [
            Daemon(
                name="iscsi",
                argv=[str(RUNNER), str(run), str(CONTROL_PORT), f"{ADDR}:{PORT}", str(conf),
                      str(ctx.state)],
                ready=[Ready.tcp(ADDR, PORT), Ready.path(run / "tgtd" / f"ready.{CONTROL_PORT}")],
                ready_timeout=20.0,
                stop_signal=signal.SIGTERM,
                stop_timeout=5.0,
            )
        ]

    def pre_start(self, ctx: LabContext) -> None:
        tgtd = ctx.state / "iscsi" / "run" / "tgtd"
        for stale in (f"socket.{CONTROL_PORT}", f"socket.{CONTROL_PORT}.lock",
                      f"ready.{CONTROL_PORT}"):
            (tgtd / stale).unlink(missing_ok=True)


SERVICES: list[LabService] = [IscsiService()]
