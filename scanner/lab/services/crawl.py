"""Crawl shapes (issue 12): the deep, wide and flat trees of ``scanner.lab.shapes`` served over
HTTP autoindex + WebDAV (nginx, 127.0.10.81), anonymous FTP (vsftpd, 127.0.10.82), guest SMB
(smbd, 127.0.10.83), open rsync modules (rsync daemon, 127.0.10.84) and a public S3 bucket
``deep`` holding the deep tree's 2019 branch (moto, 127.0.10.85:9000) and public S3 buckets
``wide`` and ``flat`` answered by a generating endpoint of our own (``scanner.lab.s3gen``,
127.0.10.86:9000: ListObjectsV2 computed from the shape definitions, because seeding moto with
110,000 objects is too slow). Kept apart from the
other services so that it can be brought up alone (``nasscan lab up --only crawl``) and the
trees are generated only where they are wanted.

Configs: ``scanner/lab/data/crawl/``. Servers log every request (nginx access logs, vsftpd protocol
log, rsyncd log, moto's and s3gen's request lines) so tests count requests at the server.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from scanner.lab import shapes
from scanner.lab.service import (
    LAB_CONFIG_DIR,
    Daemon,
    LabContext,
    LabService,
    Ready,
    ensure_user,
    install_file,
    render_text,
)
from scanner.lab.services.ftp import PAM_FILE
from scanner.lab.services.s3 import moto_server
from scanner.lab.services.smb import SmbService

HTTP_ADDR = "127.0.10.81"
HTTP_PORTS = {"deep": 80, "wide": 8080, "flat": 8000}
FTP_ADDR = "127.0.10.82"
FTP_PORTS = {"deep": 21, "wide": 2121, "flat": 2122}
FTP_PASV = {"deep": (30100, 30109), "wide": (30110, 30119), "flat": (30120, 30129)}
SMB_ADDR = "127.0.10.83"
RSYNC_ADDR = "127.0.10.84"
S3_ADDR = "127.0.10.85"
S3_PORT = 9000
S3_URL = f"http://{S3_ADDR}:{S3_PORT}"
S3GEN_ADDR = "127.0.10.86"
S3GEN_PORT = 9000
S3_SEED = LAB_CONFIG_DIR / "crawl" / "seed_s3.py"


class CrawlShapesService(LabService):
    name = "crawl"
    addresses = (HTTP_ADDR, FTP_ADDR, SMB_ADDR, RSYNC_ADDR, S3_ADDR, S3GEN_ADDR)
    executables = ("nginx", "vsftpd", "smbd", "smbpasswd", "rsync", moto_server())
    packages = ("nginx", "libnginx-mod-http-dav-ext", "vsftpd", "samba", "rsync",
                "moto[server] (PyPI, in the dev extras)")  # fmt: skip

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        trees = shapes.generate(ctx.state / "shapes")
        root = str(ctx.state / "shapes")
        return [
            self._nginx(ctx, root),
            *self._vsftpd(ctx, trees),
            self._smbd(ctx, root),
            self._rsyncd(ctx, root),
            Daemon(
                name="crawl-s3",
                argv=[moto_server(), "-H", S3_ADDR, "-p", str(S3_PORT)],
                ready=[Ready.tcp(S3_ADDR, S3_PORT)],
                ready_timeout=30.0,
                after_start=[[sys.executable, str(S3_SEED), S3_URL, str(trees["deep"])]],
            ),
            Daemon(
                name="crawl-s3gen",
                argv=[sys.executable, "-m", "scanner.lab.s3gen", S3GEN_ADDR, str(S3GEN_PORT)],
                ready=[Ready.tcp(S3GEN_ADDR, S3GEN_PORT)],
                ready_timeout=30.0,
            ),
        ]

    def pre_start(self, ctx: LabContext) -> None:
        (ctx.state / "crawl" / "rsync" / "rsyncd.pid").unlink(missing_ok=True)

    @staticmethod
    def _rsyncd(ctx: LabContext, root: str) -> Daemon:
        run = ctx.dir("crawl", "rsync")
        conf = ctx.render("crawl/rsyncd.conf", run / "rsyncd.conf", RUN=str(run), SHAPES=root)
        requests = run / "requests.log"  # written by the daemon's pre-xfer exec (as nobody)
        requests.touch(mode=0o600)
        shutil.chown(requests, "nobody", "nogroup")
        return Daemon(
            name="crawl-rsync",
            argv=["rsync", "--daemon", "--no-detach", f"--config={conf}",
                  f"--address={RSYNC_ADDR}", "--port=873", f"--log-file={run / 'rsyncd.log'}"],
            ready=[Ready.tcp(RSYNC_ADDR, 873)],
        )  # fmt: skip

    @staticmethod
    def _nginx(ctx: LabContext, root: str) -> Daemon:
        run = ctx.dir("crawl", "http")
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            ctx.dir("crawl", "http", sub)
        v = {"ADDR": HTTP_ADDR, "RUN": str(run), "SHAPES": root}
        site = ctx.render_with("crawl/nginx-site.conf", run / "site.conf", v)
        conf = ctx.render_with("http/nginx.conf", run / "nginx.conf", {**v, "SITE": str(site)})
        return Daemon(
            name="crawl-http",
            argv=["nginx", "-p", str(run), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
            ready=[Ready.tcp(HTTP_ADDR, p) for p in HTTP_PORTS.values()],
            watch=[site],
        )

    @staticmethod
    def _vsftpd(ctx: LabContext, trees: dict[str, Path]) -> list[Daemon]:
        ensure_user()
        install_file(ctx.config_dir / "ftp" / "pam.vsftpd", PAM_FILE)
        out = []
        for shape, port in FTP_PORTS.items():
            run = ctx.dir("crawl", f"ftp-{shape}")
            ctx.dir("crawl", f"ftp-{shape}", "empty").chmod(0o555)
            lo, hi = FTP_PASV[shape]
            v = ctx.variables({
                "ADDR": FTP_ADDR, "PORT": str(port), "PASV_ADDR": FTP_ADDR, "PASV_MIN": str(lo),
                "PASV_MAX": str(hi), "RUN": str(run), "ROOT": str(trees[shape]),
            })  # fmt: skip
            text = "".join(
                render_text((ctx.config_dir / t).read_text(), v)
                for t in ("ftp/common.conf", "crawl/ftp-shape.conf")
            )
            conf = run / "vsftpd.conf"
            conf.write_text(text)
            conf.chmod(0o600)
            out.append(
                Daemon(
                    name=f"crawl-ftp-{shape}",
                    argv=["vsftpd", str(conf)],
                    ready=[Ready.tcp(FTP_ADDR, port)],
                )
            )
        return out

    @staticmethod
    def _smbd(ctx: LabContext, root: str) -> Daemon:
        ensure_user()
        run = ctx.dir("crawl", "smb")
        for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc"):
            ctx.dir("crawl", "smb", sub, mode=0o700 if sub == "private" else 0o755)
        include = ctx.render("smb/common.conf", run / "common.conf", ADDR=SMB_ADDR, RUN=str(run))
        conf = ctx.render(
            "crawl/smb-shapes.conf", run / "smb.conf", INCLUDE=str(include), SHAPES=root
        )
        SmbService._passdb(conf)
        return Daemon(
            name="crawl-smb",
            argv=["smbd", "--foreground", "--debug-stdout", "-s", str(conf)],
            ready=[Ready.tcp(SMB_ADDR, 445)],
            extra_pidfiles=[run / "pid" / "samba-dcerpcd.pid"],
            watch=[include],
            stop_timeout=8.0,
            new_session=False,
        )


SERVICES: list[LabService] = [CrawlShapesService()]
