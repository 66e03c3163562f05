"""S3: moto_server at 127.0.10.51:9000 and an nginx twin at 127.0.10.52:9000.

``s3-open`` (moto, PyPI ``moto[server]``) answers anonymous ListBuckets/ListObjects: after it is
ready, ``scanner/lab/data/s3/seed.py`` (run inside the namespace: the lab writing to its own server)
creates ``call-recordings`` (the recordings tree) and ``website-assets`` (dull objects), both
with the ``public-read`` ACL so anonymous GetObject works too.

``s3-twin`` (``scanner/lab/data/s3/nginx-twin.conf``) answers every unsigned request with S3's
``403 AccessDenied`` XML and every signed one with ``403 InvalidAccessKeyId``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scanner.lab.service import LAB_CONFIG_DIR, Daemon, LabContext, LabService, Ready

OPEN_ADDR = "127.0.10.51"
TWIN_ADDR = "127.0.10.52"
PORT = 9000
BUCKETS = ("call-recordings", "website-assets")
SEED = LAB_CONFIG_DIR / "s3" / "seed.py"


def moto_server() -> str:
    """The moto_server next to this interpreter (the venv), else the one on PATH."""
    local = Path(sys.executable).parent / "moto_server"
    return str(local) if local.exists() else "moto_server"


class S3Service(LabService):
    name = "s3"
    addresses = (OPEN_ADDR, TWIN_ADDR)
    executables = (moto_server(), "nginx")
    packages = ("nginx", "moto[server] (PyPI: pip install 'nasscan[lab]')")

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        ctx.dir("s3")
        twin = ctx.dir("s3", "twin")
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            ctx.dir("s3", "twin", "tmp", sub)
        conf = ctx.render("s3/nginx-twin.conf", twin / "nginx.conf", ADDR=TWIN_ADDR)
        endpoint = f"http://{OPEN_ADDR}:{PORT}"
        return [
            Daemon(
                name="s3-open",
                argv=[moto_server(), "-H", OPEN_ADDR, "-p", str(PORT)],
                ready=[Ready.tcp(OPEN_ADDR, PORT)],
                ready_timeout=30.0,
                after_start=[[sys.executable, str(SEED), endpoint, str(ctx.content)]],
            ),
            Daemon(
                name="s3-twin",
                argv=["nginx", "-p", str(twin), "-c", str(conf), "-e", "stderr",
                      "-g", "daemon off;"],
                ready=[Ready.tcp(TWIN_ADDR, PORT)],
            ),
        ]

    def pre_start(self, ctx: LabContext) -> None:
        (ctx.state / "s3" / "twin" / "nginx.pid").unlink(missing_ok=True)


SERVICES: list[LabService] = [S3Service()]
