"""Real sockets for discovery tests: open, closed and silent ports on 127.x (or ::1)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator


def free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def listeners(pairs: list[tuple[str, int]]) -> Iterator[None]:
    socks = []
    try:
        for ip, port in pairs:
            s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
            s.listen(64)
            socks.append(s)
        yield
    finally:
        for s in socks:
            s.close()


@contextlib.contextmanager
def silent_listeners(pairs: list[tuple[str, int]]) -> Iterator[None]:
    """Listeners with a full accept queue: further SYNs are dropped, never answered."""
    socks: list[socket.socket] = []
    try:
        for ip, port in pairs:
            lst = socket.socket()
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lst.bind((ip, port))
            lst.listen(0)
            socks.append(lst)
            for _ in range(2):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex((ip, port))
                socks.append(c)
        yield
    finally:
        for s in socks:
            s.close()


def wait_listening(ip: str, port: int, proc: subprocess.Popen[bytes], what: str,
                   timeout: float = 10.0) -> None:
    """Until the server ``proc`` started accepts on ``ip:port``; raises (never a silent go-on)
    when it exited first or did not listen within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((ip, port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {ip}:{port} within {timeout:g} s")
