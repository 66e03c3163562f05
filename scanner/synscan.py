"""Optional raw-SYN discovery (root only, IPv4): prebuilt SYNs out, replies read from a raw socket.

Same interface as ``scanner.sweep.Sweeper`` (``run(space, seed, shard, found) -> SweepStats``), so
it can stand in for the connect sweep when the process may open raw sockets. No connection is
ever completed by us: a SYN-ACK means open (the kernel, having no socket on our source port,
answers it with a RST, as for nmap -sS), a RST means closed, silence until the deadline means
filtered (retried up to ``retries`` times; timeouts and who is retried come from
``scanner.pacing`` as in the connect sweep). Each probe's sequence number is a keyed hash of its
destination, so only replies to our own SYNs count.

The sender and receiver run in one worker thread (blocking raw sockets with short timeouts);
``found`` is called in the event loop thread through ``call_soon_threadsafe``. ``rate`` is
honoured; ``concurrency`` bounds the probes awaiting an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

from scanner.dialer import RateLimiter
from scanner.pacing import Liveness, RttTimeouts
from scanner.sweep_types import RESOURCE_ERRNOS, PairSpace, SweepConfig, SweepStats

_IP_TCP = struct.Struct("!BBHHHBBH4s4sHHIIBBHHH")
_SYN = 0x02
_RST = 0x04
_ACK = 0x10


def available() -> bool:
    """True when this process may open raw sockets (root or CAP_NET_RAW)."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    except OSError:
        return False
    s.close()
    return True


def _fold(x: int) -> int:
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def _v4_only(ip: str) -> None:
    if ":" in ip:
        raise ValueError(f"raw-SYN mode is IPv4 only ({ip}): use the connect sweep")


_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)


def _only_to_port(sock: socket.socket, port: int) -> bool:
    """Attach a classic BPF filter: only TCP segments to ``port`` reach the raw socket.

    On loopback a raw socket also receives our own outgoing SYNs (and on any interface every
    other TCP segment of the machine); the kernel drops those before they cost a read.
    """
    import ctypes

    prog = [
        (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf): X = IP header length
        (0x48, 0, 0, 2),  # ldh [x+2]: TCP destination port
        (0x15, 0, 1, port),  # jeq #port
        (0x06, 0, 0, 0xFFFF),  # ret #65535 (accept)
        (0x06, 0, 0, 0),  # ret #0 (drop)
    ]
    buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in prog))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def _source_for(ip: str) -> str:
    """The local address the kernel would use to reach ``ip`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((ip, 9))
        return str(s.getsockname()[0])


class SynScanner:
    """Raw-SYN sweep; see the module docstring."""

    def __init__(self, cfg: SweepConfig, limiter: RateLimiter | None = None) -> None:
        """``limiter``: the dialer's, so sweep and probes share ``--rate`` (taken from the
        worker thread: the token count is approximate under contention, never unbounded)."""
        if cfg.concurrency < 1 or cfg.connect_timeout <= 0:
            raise ValueError("bad sweep configuration")
        self.cfg = cfg
        self.limiter = limiter
        self.stats = SweepStats()
        self._stop = threading.Event()

    async def run(
        self,
        space: PairSpace,
        seed: int,
        shard: tuple[int, int],
        found: Callable[[str, int], None],
        alive: Callable[[str], None] | None = None,
    ) -> SweepStats:
        loop = asyncio.get_running_loop()

        def report(ip: str, port: int) -> None:
            loop.call_soon_threadsafe(found, ip, port)

        def report_alive(ip: str) -> None:
            if alive is not None:
                loop.call_soon_threadsafe(alive, ip)

        try:
            self.stats = await loop.run_in_executor(
                None, self._scan, space, seed, shard, report, report_alive
            )
        finally:
            self._stop.set()
        return self.stats

    # -- the worker thread ----------------------------------------------------------------------
    def _scan(
        self,
        space: PairSpace,
        seed: int,
        shard: tuple[int, int],
        found: Callable[[str, int], None],
        alive: Callable[[str], None],
    ) -> SweepStats:
        cfg = self.cfg
        stats = SweepStats()
        rtt = RttTimeouts(cfg.connect_timeout, min(cfg.connect_timeout, cfg.min_timeout))
        liveness = Liveness(cfg.liveness)
        pairs = iter(space.iter_pairs(seed, shard))
        first = next(pairs, None)
        if first is None:
            return stats
        _v4_only(first[0])
        src = _source_for(first[0])
        src_b = socket.inet_aton(src)
        rng = random.SystemRandom()  # forked sweep processes must not share port and key
        sport = rng.randint(40000, 60000)
        key = rng.getrandbits(32)
        tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        try:
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            for sock, opt in ((rx, socket.SO_RCVBUF), (tx, socket.SO_SNDBUF)):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, 1 << 25)
            _only_to_port(rx, sport)
            rx.setblocking(False)
            s0, s1 = struct.unpack("!HH", src_b)
            # Checksum of the constant part: source address, protocol, TCP length, source port,
            # data offset + SYN flag, window.
            const = s0 + s1 + 6 + 20 + sport + ((5 << 12) | _SYN) + 1024
            limiter = self.limiter or RateLimiter(cfg.rate)
            # (dst, port) -> (deadline, tries, sent at); deadlines also in a heap.
            waiting: dict[tuple[str, int], tuple[float, int, float]] = {}
            deadlines: list[tuple[float, str, int]] = []
            rebuild = [False]  # the first round trip was measured: shorten the first wave
            retry: list[tuple[str, int, int]] = []
            pending_first: tuple[str, int] | None = first
            exhausted = False
            poller = select.poll()
            poller.register(rx, select.POLLIN)

            def seq_for(dst_int: int, port: int) -> int:
                return (dst_int * 2654435761 ^ (port << 16) ^ port ^ key) & 0xFFFFFFFF

            def send(ip: str, port: int) -> bool:
                _v4_only(ip)
                dst_b = socket.inet_aton(ip)
                d0, d1 = struct.unpack("!HH", dst_b)
                seq = seq_for((d0 << 16) | d1, port)
                csum = ~_fold(const + d0 + d1 + port + (seq >> 16) + (seq & 0xFFFF)) & 0xFFFF
                pkt = _IP_TCP.pack(
                    0x45, 0, 40, 0, 0, 64, 6, 0, src_b, dst_b,
                    sport, port, seq, 0, 5 << 4, _SYN, 1024, csum, 0,
                )  # fmt: skip
                try:
                    tx.sendto(pkt, (ip, 0))
                except OSError as exc:
                    if exc.errno in RESOURCE_ERRNOS:
                        stats.resource_errors += 1
                        return False
                    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EPERM):
                        stats.unreachable += 1
                        return True
                    raise
                return True

            def drain() -> None:
                while True:
                    try:
                        data = rx.recv(128)
                    except BlockingIOError:
                        return
                    if len(data) < 40:
                        continue
                    ihl = (data[0] & 0x0F) * 4
                    tcp = data[ihl : ihl + 20]
                    if len(tcp) < 20:
                        continue
                    r_sport, r_dport, _seq, ack = struct.unpack_from("!HHII", tcp)
                    if r_dport != sport:
                        continue
                    flags = tcp[13]
                    ip = socket.inet_ntoa(data[12:16])
                    d0, d1 = struct.unpack_from("!HH", data, 12)
                    if ack != (seq_for((d0 << 16) | d1, r_sport) + 1) & 0xFFFFFFFF:
                        continue
                    got = waiting.pop((ip, r_sport), None)
                    if got is None:
                        continue  # a duplicate answer
                    if liveness.answered(ip):
                        alive(ip)
                    if not rtt.measured:
                        rebuild[0] = True
                    rtt.sample(ip, time.monotonic() - got[2])
                    if flags & (_SYN | _ACK) == (_SYN | _ACK):
                        stats.open += 1
                        found(ip, r_sport)
                    elif flags & _RST:
                        stats.closed += 1
                    else:
                        stats.unreachable += 1

            def expire(now: float) -> None:
                if rebuild[0]:
                    rebuild[0] = False
                    for k, (_d, tries, t0) in waiting.items():
                        waiting[k] = (t0 + rtt.timeout(k[0], tries), tries, t0)
                    deadlines[:] = [(d, ip, port) for (ip, port), (d, _t, _s) in waiting.items()]
                    heapq.heapify(deadlines)
                while deadlines and deadlines[0][0] <= now:
                    deadline, ip, port = heapq.heappop(deadlines)
                    got = waiting.get((ip, port))
                    if got is None or got[0] != deadline:
                        continue  # answered, or re-timed
                    del waiting[(ip, port)]
                    tries = got[1]
                    if tries < cfg.retries:
                        if liveness.unanswered(ip, tries):
                            retry.append((ip, port, tries + 1))
                            stats.retried += 1
                            continue
                        stats.presumed_silent += 1
                    else:
                        liveness.unanswered(ip, tries)
                    stats.timeouts += 1

            last_send_ok = time.monotonic()
            while not self._stop.is_set():
                drain()  # answers already here are read before anything is expired
                now = time.monotonic()
                expire(now)
                room = cfg.concurrency - len(waiting)
                budget = min(room, 512)
                if budget > 0 and (retry or not exhausted):
                    budget = limiter.try_take(budget)
                sent = 0
                while sent < budget:
                    if retry:
                        ip, port, tries = retry.pop()
                    elif pending_first is not None:
                        (ip, port), tries = pending_first, 0
                        pending_first = None
                        stats.attempted += 1
                    else:
                        nxt = next(pairs, None)
                        if nxt is None:
                            exhausted = True
                            break
                        (ip, port), tries = nxt, 0
                        stats.attempted += 1
                    if not send(ip, port):
                        retry.append((ip, port, tries))
                        if now - last_send_ok > cfg.resource_give_up:
                            stats.unresolved += len(retry)
                            retry.clear()
                            exhausted = True
                        break
                    last_send_ok = now
                    deadline = now + rtt.timeout(ip, tries)
                    waiting[(ip, port)] = (deadline, tries, now)
                    heapq.heappush(deadlines, (deadline, ip, port))
                    sent += 1
                drain()
                if exhausted and not retry and not waiting:
                    break
                if sent == 0:
                    wait_ms = 50
                    if deadlines:
                        first_deadline = deadlines[0][0]
                        wait_ms = max(1, min(50, int((first_deadline - now) * 1000) + 1))
                    if not (exhausted and not retry) and room > 0 and limiter.rate:
                        wait_ms = max(1, min(wait_ms, int(limiter.delay_for_one() * 1000) + 1))
                    poller.poll(wait_ms)
            return stats
        finally:
            tx.close()
            rx.close()
