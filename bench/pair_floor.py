"""The kernel's cost per swept pair on loopback: the floor under any connect or raw-SYN sweep.

Inside a loopback-only namespace of its own (``bench/run.py``'s ``Netns``; root), where every
address of 127.0.0.0/8 answers a SYN to a closed port with a RST, three tight loops over
``--pairs`` addresses of 127.0.0.0/16 (port 23, nothing listening) print CPU microseconds per pair:

- ``connect, socket reused``: one non-blocking socket, ``connect_ex`` refused again and again
  (the first call after a refusal only resets the socket, as in ``scanner/sweep.py``);
- ``connect, new socket``: ``socket()``, ``connect_ex``, ``close()`` per pair;
- ``raw SYN``: a prebuilt IPv4+TCP SYN with a correct checksum sent on a raw socket, the RSTs
  read back from a raw socket that a BPF filter limits to our source port (as
  ``scanner/synscan.py`` does); every RST is counted;
- ``raw SYN, RSTs dropped in the kernel``: the same, with a filter that also drops every RST,
  so no refusal costs a read: what is left is the send and the kernel's own RST.

No Python bookkeeping beyond the loop itself: this is what the kernel and the syscalls cost.

    .venv/bin/python bench/pair_floor.py --pairs 50000
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, Netns  # bench/ is not a package

_SYN = struct.Struct("!BBHHHBBH4s4sHHIIBBHHH")
PORT = 23
SPORT = 45555


def addr(i: int) -> str:
    n = 256 + i % 65000  # 127.0.1.0 upwards: never the scanner's own 127.0.0.1
    return f"127.0.{n >> 8}.{n & 255}"


def connect_reused(pairs: int) -> float:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    t = time.process_time()
    for i in range(pairs):
        ip = addr(i)
        err = sock.connect_ex((ip, PORT))
        if err == errno.ECONNABORTED:
            err = sock.connect_ex((ip, PORT))
        if err != errno.ECONNREFUSED:
            sock.close()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    used = time.process_time() - t
    sock.close()
    return used


def connect_new(pairs: int) -> float:
    t = time.process_time()
    for i in range(pairs):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        sock.connect_ex((addr(i), PORT))
        sock.close()
    return time.process_time() - t


def _synack_only(sock: socket.socket, port: int) -> Any:
    """A classic BPF filter: TCP segments to ``port`` that are not RSTs (the buffer is
    returned: it must outlive the call)."""
    import ctypes

    from scanner.synscan import _SO_ATTACH_FILTER

    prog = [
        (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf): X = IP header length
        (0x48, 0, 0, 2),  # ldh [x+2]: TCP destination port
        (0x15, 0, 4, port),  # jeq #port, else drop
        (0x50, 0, 0, 13),  # ldb [x+13]: TCP flags
        (0x45, 0, 1, 0x04),  # jset #RST: drop
        (0x06, 0, 0, 0),
        (0x06, 0, 0, 0xFFFF),  # accept
        (0x06, 0, 0, 0),  # drop
    ]
    buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in prog))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER,
                    struct.pack("HL", len(prog), ctypes.addressof(buf)))  # fmt: skip
    return buf


def raw_syn(pairs: int, drop_rsts: bool = False) -> tuple[float, int]:
    from scanner.synscan import _only_to_port

    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    rx.setblocking(False)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 25)
    keep = _synack_only(rx, SPORT) if drop_rsts else _only_to_port(rx, SPORT)
    src = socket.inet_aton("127.0.0.1")
    s0, s1 = struct.unpack("!HH", src)
    const = s0 + s1 + 6 + 20 + SPORT + ((5 << 12) | 0x02) + 1024  # pseudo-header + fixed fields
    pkt = bytearray(40)
    buf = bytearray(128)
    got = 0

    def drain() -> int:
        n = 0
        while True:
            try:
                rx.recv_into(buf)
            except BlockingIOError:
                return n
            n += 1

    t = time.process_time()
    for i in range(pairs):
        ip = addr(i)
        dst = socket.inet_aton(ip)
        d0, d1 = struct.unpack("!HH", dst)
        x = const + d0 + d1 + PORT + (i >> 16) + (i & 0xFFFF)
        while x >> 16:
            x = (x & 0xFFFF) + (x >> 16)
        _SYN.pack_into(pkt, 0, 0x45, 0, 40, 0, 0, 64, 6, 0, src, dst, SPORT, PORT, i, 0,
                       5 << 4, 0x02, 1024, ~x & 0xFFFF, 0)  # fmt: skip
        tx.sendto(pkt, (ip, 0))
        if i % 64 == 63:
            got += drain()
    used = time.process_time() - t
    time.sleep(0.2)
    got += drain()
    tx.close()
    rx.close()
    del keep
    return used, got


def child(pairs: int) -> int:
    loops = (("connect, socket reused", connect_reused), ("connect, new socket", connect_new))
    for name, fn in loops:
        print(f"{name}: {fn(pairs) / pairs * 1e6:.1f} CPU us per pair", flush=True)
    used, got = raw_syn(pairs)
    print(f"raw SYN (RSTs read back: {got} of {pairs}): {used / pairs * 1e6:.1f} CPU us per pair")
    used, got = raw_syn(pairs, drop_rsts=True)
    print(f"raw SYN, RSTs dropped in the kernel (read: {got}): {used / pairs * 1e6:.1f} CPU us"
          " per pair")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pairs", type=int, default=50_000)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    pairs = max(1, min(a.pairs, 1_000_000))
    if a.child:  # inside the namespace
        return child(pairs)
    if os.geteuid() != 0:
        print("needs root (a network namespace of its own, raw sockets)", file=sys.stderr)
        return 2
    with Netns(True) as ns:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [*ns.prefix(), sys.executable, __file__, "--child", "--pairs", str(pairs)]
        return subprocess.run(cmd, env=env, timeout=600, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
