"""Planted listeners for the benchmarks: listen on HOST:PORT pairs, accept, close, until EOF.

Run inside the benchmark's network namespace (``ip netns exec NS python bench/plant.py ...``).
Prints ``ready`` once every socket listens. Stops when stdin is closed or on SIGTERM.
"""

from __future__ import annotations

import selectors
import socket
import sys


def main(argv: list[str]) -> int:
    sel = selectors.DefaultSelector()
    socks = []
    for spec in argv:
        host, _, port = spec.rpartition(":")
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host.strip("[]"), int(port)))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    sel.register(sys.stdin, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select(timeout=60):
            lst = key.fileobj
            if not isinstance(lst, socket.socket):
                if not sys.stdin.readline():
                    return 0
                continue
            try:
                conn, _ = lst.accept()
                conn.close()
            except OSError:
                pass


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
