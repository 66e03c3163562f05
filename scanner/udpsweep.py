"""The UDP pre-pass: one datagram per (host, UDP port), answers and ICMP errors read in bulk.

A UDP probe's first question (TFTP: a read request for a random name) is sent from one
unconnected, non-blocking socket per address family with ``IP_RECVERR`` set, for every pair, by
one callback on the loop: no coroutine, task or socket per address. Then:

- any datagram from the host (from any source port: TFTP answers from a fresh one) means the
  host's UDP service answered: the pair goes to the full probe (``answered``);
- an ICMP error about the datagram, read from the socket's error queue (``MSG_ERRQUEUE``, whose
  address is the original destination), ends the pair at once: port unreachable is ``refused``,
  anything else ``unreachable``;
- silence until the pair's deadline (``scanner.pacing.RttTimeouts``: ICMP errors and answers
  are the samples) is retried ``retries`` times, then a timeout.

Host liveness (``scanner.pacing.Liveness``), the UDP side of the TCP sweep's: a host is alive
when anything came back from the host itself -- a datagram, or an ICMP port unreachable (only
the addressed host sends that one; host/net unreachable and administratively prohibited come
from a router or firewall on the way and say nothing of the host). Retries go only to hosts
that are alive or not yet judged; a host whose first pairs all stayed silent gets one datagram
per remaining pair. Every pair still gets its first datagram, so any host that answers on any
pair is found. ``alive_hosts`` is what a UDP-only scan judges its other UDP probes by.

Every datagram passes the dialer's scope check and takes a token of the global rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from scanner.dialer import _IP_RECVERR, _IPV6_RECVERR, RateLimiter
from scanner.pacing import Liveness, RttTimeouts

__all__ = ["UdpPrepass", "UdpStats"]

_MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err
_RESOURCE = frozenset({errno.ENOBUFS, errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE})


@dataclass
class UdpStats:
    sent: int = 0  # datagrams, retries included
    answered: int = 0  # pairs whose host sent a datagram back
    refused: int = 0  # ICMP port unreachable
    unreachable: int = 0  # other ICMP errors
    timeouts: int = 0  # no answer after every retry
    retried: int = 0
    presumed_silent: int = 0  # silent pairs not retried: their host never answered anything


class UdpPrepass:
    """Send ``payload(port)`` to every pair, sort the pairs by what came back."""

    def __init__(
        self,
        check: Callable[[str, int], None],
        limiter: RateLimiter,
        *,
        timeout: float,
        min_timeout: float = 0.5,
        retries: int = 1,
        window: int = 8192,
        liveness: Liveness | None = None,
    ) -> None:
        self.check = check
        self.limiter = limiter
        self.rtt = RttTimeouts(timeout, min(timeout, min_timeout))
        self.retries = max(0, retries)
        self.window = max(1, window)
        self.liveness = liveness or Liveness()
        self.stats = UdpStats()

    def alive_hosts(self) -> set[str]:
        """Hosts from which a datagram or an ICMP port unreachable came back."""
        return set(self.liveness.alive_hosts())

    async def run(
        self,
        pairs: Iterable[tuple[str, int]],
        payload: Callable[[int], bytes],
        answered: Callable[[str, int], None],
    ) -> UdpStats:
        loop = asyncio.get_running_loop()
        st = self.stats
        it: Iterator[tuple[str, int]] = iter(pairs)
        retry: list[tuple[str, int, int]] = []
        # (host, port) -> (deadline, tries, sent at); deadlines also in a heap
        pending: dict[tuple[str, int], tuple[float, int, float]] = {}
        by_host: dict[str, set[int]] = {}
        heap: list[tuple[float, str, int]] = []
        socks: dict[int, socket.socket] = {}
        done: asyncio.Future[None] = loop.create_future()
        exhausted = False
        timer: list[asyncio.TimerHandle | asyncio.Handle | None] = [None]

        def sock_for(host: str) -> socket.socket:
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socks.get(fam)
            if s is None:
                s = socket.socket(fam, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
                else:
                    s.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
                socks[fam] = s
                loop.add_reader(s.fileno(), on_readable, s)
            return s

        settled = [0]

        def settle(host: str, port: int) -> tuple[float, int, float] | None:
            got = pending.pop((host, port), None)
            if got is not None:
                ports = by_host.get(host)
                if ports is not None:
                    ports.discard(port)
                    if not ports:
                        del by_host[host]
                settled[0] += 1
                if settled[0] % 8 == 1:  # one round-trip sample in 8 is plenty
                    self.rtt.sample(host, time.monotonic() - got[2])
            return got

        def on_readable(s: socket.socket) -> None:
            for _ in range(4096):
                try:
                    _data, addr = s.recvfrom(2048)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    drain_errors(s)  # the socket's error: details are in the error queue
                    continue
                host = str(addr[0])
                self.liveness.answered(host)
                for port in list(by_host.get(host, ())):
                    if settle(host, port) is not None:
                        st.answered += 1
                        answered(host, port)
            drain_errors(s)
            pump()

        def drain_errors(s: socket.socket) -> None:
            for _ in range(4096):
                try:
                    _d, anc, _f, addr = s.recvmsg(1, 512, _MSG_ERRQUEUE)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                if not addr:
                    continue
                code = errno.EHOSTUNREACH
                for _level, _type, cdata in anc:
                    if len(cdata) >= _EE.size:
                        code = _EE.unpack_from(cdata)[0]
                if code == errno.ECONNREFUSED:  # from the host itself: it is there
                    self.liveness.answered(str(addr[0]))
                if settle(str(addr[0]), int(addr[1])) is None:
                    continue
                if code == errno.ECONNREFUSED:
                    st.refused += 1
                else:
                    st.unreachable += 1

        def expire(now: float) -> None:
            while heap and heap[0][0] <= now:
                deadline, host, port = heapq.heappop(heap)
                got = pending.get((host, port))
                if got is None or got[0] != deadline:
                    continue
                settle_silent(host, port)
                again = self.liveness.unanswered(host, got[1])
                if got[1] < self.retries and again:
                    retry.append((host, port, got[1] + 1))
                    st.retried += 1
                else:
                    st.timeouts += 1
                    st.presumed_silent += int(got[1] < self.retries)

        def settle_silent(host: str, port: int) -> None:
            pending.pop((host, port), None)
            ports = by_host.get(host)
            if ports is not None:
                ports.discard(port)
                if not ports:
                    del by_host[host]

        def send_some(now: float) -> bool:
            """Send up to a batch; True when more could be sent right away."""
            nonlocal exhausted
            room = min(self.window - len(pending), 512)
            if room <= 0 or (exhausted and not retry):
                return False
            room = self.limiter.try_take(room)
            sent = 0
            while sent < room:
                if retry:
                    host, port, tries = retry.pop()
                else:
                    nxt = next(it, None)
                    if nxt is None:
                        exhausted = True
                        break
                    (host, port), tries = nxt, 0
                self.check(host, port)
                s = sock_for(host)
                data = payload(port)
                try:
                    try:
                        s.sendto(data, (host, port))
                    except ConnectionRefusedError:
                        # an earlier datagram's refusal, reported on this send: read the
                        # error queue (which clears it) and send this one again
                        drain_errors(s)
                        s.sendto(data, (host, port))
                except OSError as exc:
                    if exc.errno in _RESOURCE or exc.errno == errno.ECONNREFUSED:
                        retry.append((host, port, tries))
                        break
                    st.unreachable += 1
                    sent += 1
                    continue
                st.sent += 1
                deadline = now + self.rtt.timeout(host, tries)
                pending[(host, port)] = (deadline, tries, now)
                by_host.setdefault(host, set()).add(port)
                heapq.heappush(heap, (deadline, host, port))
                sent += 1
            if self.limiter.rate is not None and sent < room:
                self.limiter._tokens = min(
                    self.limiter.capacity, self.limiter._tokens + (room - sent)
                )
            return sent == room and len(pending) < self.window

        def pump() -> None:
            if done.done():
                return
            if timer[0] is not None:
                timer[0].cancel()
                timer[0] = None
            try:
                now = time.monotonic()
                expire(now)
                more = send_some(now)
            except BaseException as exc:  # surfaced to the awaiting coroutine
                done.set_exception(exc)
                return
            if exhausted and not retry and not pending:
                done.set_result(None)
                return
            if more:
                timer[0] = loop.call_soon(pump)
                return
            delays = [0.05]
            if heap:
                delays.append(max(0.001, heap[0][0] - now))
            if self.limiter.rate is not None and (retry or not exhausted):
                delays.append(max(0.001, self.limiter.delay_for_one()))
            timer[0] = loop.call_later(min(delays), pump)

        loop.call_soon(pump)
        try:
            await done
        finally:
            if timer[0] is not None:
                timer[0].cancel()
            for s in socks.values():
                loop.remove_reader(s.fileno())
                s.close()
        return st
