"""The full job's planted storage: web listings (nginx autoindex) and anonymous FTP (pyftpdlib).

Run INSIDE the benchmark's network namespace by ``bench/full_job.py`` with the system Python
(Debian's ``python3-pyftpdlib``):

    ip netns exec NS /usr/bin/python3 bench/full_job_servers.py STATE_DIR HTTP_ADDRS FTP_ADDRS

``HTTP_ADDRS`` and ``FTP_ADDRS`` are comma-separated addresses. One nginx (real daemon, one
``listen ADDR:80`` per listing address, ``autoindex on``) serves a small recordings tree; one
pyftpdlib process (one FTP server per address on a shared loop, anonymous read-only) serves
the same tree. Prints ``ready`` once every socket listens; stops both when stdin closes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

TREE = {
    "recordings/2019/03/19790312-2391_0701234567_20190312T1015.wav": 48_000,
    "recordings/2019/04/19850101-1234_0709876543_20190401T0900.wav": 52_000,
    "backup/nas-config-2020.tar.gz": 12_000,
    "readme.txt": 40,
}

NGINX_CONF = """worker_processes 1;
pid {state}/nginx.pid;
error_log {state}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {state}/tmp;
    proxy_temp_path {state}/tmp;
    fastcgi_temp_path {state}/tmp;
    uwsgi_temp_path {state}/tmp;
    scgi_temp_path {state}/tmp;
    server {{
{listens}
        root {root};
        location / {{ autoindex on; }}
    }}
}}
"""


def make_tree(root: Path) -> None:
    for rel, size in TREE.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as f:
            f.truncate(size)  # sparse: sizes in the listing, nothing on disk


def start_nginx(state: Path, root: Path, addrs: list[str]) -> subprocess.Popen[bytes]:
    (state / "tmp").mkdir(parents=True, exist_ok=True)
    listens = "\n".join(f"        listen {a}:80;" for a in addrs)
    conf = state / "nginx.conf"
    conf.write_text(NGINX_CONF.format(state=state, root=root, listens=listens))
    return subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"])


def ftp_thread(root: Path, addrs: list[str]) -> threading.Thread:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

    auth = DummyAuthorizer()
    auth.add_anonymous(str(root), perm="elr")  # list and read, nothing else

    class Handler(FTPHandler):
        authorizer = auth
        banner = "FTP ready"

    import logging

    logging.getLogger("pyftpdlib").setLevel(logging.ERROR)
    loop = IOLoop()
    for a in addrs:
        FTPServer((a, 21), Handler, ioloop=loop, backlog=512)
    t = threading.Thread(target=loop.loop, kwargs={"timeout": 1.0}, daemon=True)
    t.start()
    return t


def wait_listening(addrs: list[tuple[str, int]], deadline: float) -> bool:
    import socket

    pending = list(addrs)
    while pending and time.monotonic() < deadline:
        host, port = pending[-1]
        try:
            with socket.create_connection((host, port), timeout=0.5):
                pending.pop()
        except OSError:
            time.sleep(0.05)
    return not pending


def main(argv: list[str]) -> int:
    state = Path(argv[0])
    http = [a for a in argv[1].split(",") if a]
    ftp = [a for a in argv[2].split(",") if a]
    root = state / "share"
    shutil.rmtree(root, ignore_errors=True)
    make_tree(root)
    nginx = start_nginx(state, root, http)
    try:
        ftp_thread(root, ftp)
        if not wait_listening([(a, 80) for a in http] + [(a, 21) for a in ftp],
                              time.monotonic() + 30):  # fmt: skip
            print("not listening", flush=True)
            return 1
        print("ready", flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin
        return 0
    finally:
        if nginx.poll() is None:
            os.kill(nginx.pid, signal.SIGTERM)  # our own child, by PID
            try:
                nginx.wait(5)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait(5)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
