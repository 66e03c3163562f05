"""DLNA/UPnP: MiniDLNA serving the recordings tree at 127.0.10.91:8200, and its twin, a plain
HTTP page (not UPnP) on 127.0.10.92:8200.

Configs: ``scanner/lab/data/dlna/`` (``minidlna.conf``, ``only-addr.nft``, ``twin-index.html``,
``wait_scan.py``). minidlnad runs in the foreground (``-S``), rebuilds its index on every start
(``-R``) into ``<state>/dlna/db`` and logs to ``<state>/dlna/log``. Debian's build binds
0.0.0.0:8200 (no listening-address option), so ``pre_start`` loads ``only-addr.nft``: 8200 is
refused on every other address, and the twin's 8200 is forwarded to its Python http.server on
port 18200. ``after_start`` waits until the index holds every media file (the scan runs in a
child process after the port is open).
"""

from __future__ import annotations

from scanner.lab import content
from scanner.lab.netns import LabError
from scanner.lab.service import Daemon, LabContext, LabService, Ready

ADDR = "127.0.10.91"
TWIN = "127.0.10.92"
PORT = 8200
TWIN_PORT = 18200
MEDIA_EXT = (".wav", ".mp3")
"""The content files MiniDLNA indexes (its 1.3.0 skips the PNG, text and archives)."""


def media_count() -> int:
    return sum(1 for f in content.files() if f.path.endswith(MEDIA_EXT))


class DlnaService(LabService):
    name = "dlna"
    addresses = (ADDR, TWIN)
    executables = ("minidlnad", "python3", "nft")
    packages = ("minidlna", "python3", "nftables")

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        base = ctx.dir("dlna")
        db, log = ctx.dir("dlna", "db"), ctx.dir("dlna", "log")
        conf = ctx.render("dlna/minidlna.conf", base / "minidlna.conf", IFACE="lo",
                          DBDIR=str(db), LOGDIR=str(log))  # fmt: skip
        ctx.render("dlna/only-addr.nft", base / "only-addr.nft", ADDR=ADDR, TWIN=TWIN,
                   TWIN_PORT=str(TWIN_PORT))  # fmt: skip
        twin = ctx.dir("dlna", "twin")
        ctx.render("dlna/twin-index.html", twin / "index.html")
        wait = ctx.config_dir / "dlna" / "wait_scan.py"
        return [
            Daemon(
                name="dlna-minidlna",
                argv=["minidlnad", "-S", "-R", "-f", str(conf), "-P", str(base / "minidlna.pid")],
                ready=[Ready.tcp(ADDR, PORT)],
                after_start=[["python3", str(wait), f"http://{ADDR}:{PORT}/ctl/ContentDir",
                              str(media_count()), "20"]],
                ready_timeout=20.0,
            ),
            Daemon(
                name="dlna-twin",
                argv=["python3", "-m", "http.server", str(TWIN_PORT), "--bind", TWIN,
                      "--directory", str(twin)],
                ready=[Ready.tcp(TWIN, TWIN_PORT), Ready.tcp(TWIN, PORT)],
            ),
        ]

    def pre_start(self, ctx: LabContext) -> None:
        (ctx.state / "dlna" / "minidlna.pid").unlink(missing_ok=True)
        r = ctx.run(["nft", "-f", str(ctx.state / "dlna" / "only-addr.nft")], check=False)
        if r.returncode != 0:
            raise LabError(f"dlna: loading only-addr.nft failed: {r.stderr.strip()}")


SERVICES: list[LabService] = [DlnaService()]
