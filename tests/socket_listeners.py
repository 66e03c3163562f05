"""Real sockets for discovery tests: open, closed and silent ports on 127.x (or ::1)."""

from __future__ import annotations

import contextlib
import socket
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
