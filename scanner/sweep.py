"""The discovery sweep: a CPU-cheap TCP connect scan over a ``TargetSpace``.

No coroutine, Task or timer per probe. Probes are non-blocking sockets registered with one private
``epoll`` set; that epoll fd is itself registered with the asyncio loop (``add_reader``), so the
sweep runs inside the loop in bounded batches and the probe stage keeps running alongside it.
Timeouts live in a coarse timer wheel (one set of fds per tick), connect results are read through
``SO_ERROR``:

- success: open (reported through ``found`` as soon as it is seen, then reset with SO_LINGER 0);
- ``ECONNREFUSED``: closed;
- no answer before the deadline: filtered, retried up to ``retries`` times, then a timeout;
  the deadline comes from the round trips measured on the probe's network and host liveness
  decides who gets retries (``scanner.pacing``: a host that answered nothing on its first pairs
  is presumed silent, its other pairs get one attempt);
- ``EMFILE``/``ENFILE``/``ENOBUFS``/``EAGAIN``/``EADDRNOTAVAIL``/``ENOMEM``: a *resource error*,
  never a result. The same probe is queued again, the concurrency window shrinks (AIMD) and
  socket creation backs off. If no socket can be created for ``resource_give_up`` seconds, the
  sweep stops creating and counts what it could not try in ``SweepStats.unresolved`` (the engine
  reports a scan error).

With ``processes > 1`` the work is split into disjoint sub-shards (sub-shard ``j`` of ``k`` inside
shard ``(i, n)`` is ``(i + n*j, n*k)``), each swept by a forked child running the same core with a
blocking epoll loop; children stream open ports back over a pipe that the parent loop reads.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import errno
import heapq
import itertools
import json
import multiprocessing
import os
import select
import signal
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from scanner.dialer import RateLimiter
from scanner.pacing import Liveness, RttTimeouts
from scanner.sweep_types import RESOURCE_ERRNOS, PairSpace, SweepConfig, SweepStats
from scanner.synscan import SynScanner

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

__all__ = [
    "RESOURCE_ERRNOS",
    "SweepConfig",
    "SweepStats",
    "Sweeper",
    "default_processes",
]

_CLOSED_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET})
_TIMEOUT_ERRNOS = frozenset({errno.ETIMEDOUT})

_AF_INET = _socket.AF_INET
_AF_INET6 = _socket.AF_INET6
_STREAM_NB = _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC
_SOL_SOCKET = _socket.SOL_SOCKET
_SO_ERROR = _socket.SO_ERROR
_SO_LINGER = _socket.SO_LINGER
_LINGER_RST = struct.pack("ii", 1, 0)
_EPOLLOUT = select.EPOLLOUT
_EINPROGRESS = errno.EINPROGRESS
_ECONNABORTED = errno.ECONNABORTED
_ECONNREFUSED = errno.ECONNREFUSED
_SPARE_MAX = 64


class PairSlice:
    """Items ``start`` to ``stop`` (exclusive; None: to the end) of ``space``'s shard ``base``.

    Also valid for the sub-shards the sweep processes take of ``base`` (``(i + n*j, n*k)``):
    sub-shard ``j`` holds the shard's items ``j, j+k, j+2k, ...``, so it gets its share of the
    same slice. A sample sweep over the first items and a main sweep over the rest cover the
    shard exactly once.
    """

    def __init__(
        self, space: PairSpace, base: tuple[int, int], start: int, stop: int | None = None
    ) -> None:
        self.space = space
        self.base = base
        self.start = max(0, start)
        self.stop = stop

    def iter_pairs(self, seed: int, shard: tuple[int, int]) -> Iterator[tuple[str, int]]:
        i, n = self.base
        si, sn = shard
        if sn % n or (si - i) % n:
            raise ValueError(f"shard {shard} is not a sub-shard of {self.base}")
        k, j = sn // n, (si - i) // n

        def share(x: int) -> int:  # how many of the shard's first x items are in sub-shard j
            return max(0, -(-(x - j) // k))

        lo = share(self.start)
        hi = None if self.stop is None else share(self.stop)
        return itertools.islice(iter(self.space.iter_pairs(seed, shard)), lo, hi)


def default_processes() -> int:
    """Sweep processes worth running on this machine (one per core, at most 8)."""
    return max(1, min(os.cpu_count() or 1, 8))


# A pending probe: (socket, ip, port, tries, wheel key, start time).
_Rec = tuple[Any, str, int, int, int, float]
_SAMPLE_EVERY = 8  # answers that arrive during connect() itself: one RTT sample in 8


class _Core:
    """The sweep state machine; driven either by the asyncio loop or by a blocking loop."""

    def __init__(
        self,
        pairs: Iterator[tuple[str, int]],
        cfg: SweepConfig,
        found: Callable[[str, int], None],
        limiter: RateLimiter,
        *,
        batch: int,
        alive: Callable[[str], None] | None = None,
    ) -> None:
        self.pairs = pairs
        self.found = found
        self.on_alive = alive
        self.limiter = limiter
        self.rate_limited = limiter.rate is not None
        self.timeout = max(0.001, float(cfg.connect_timeout))
        self.rtt = RttTimeouts(self.timeout, min(self.timeout, cfg.min_timeout))
        self.liveness = Liveness(cfg.liveness)
        self._immediate = 0
        self._rebucket = False
        self.retries = max(0, int(cfg.retries))
        self.max_limit = max(1, int(cfg.concurrency))
        self.limit = self.max_limit
        self.give_up = max(0.1, float(cfg.resource_give_up))
        self.batch = batch
        self.ep = select.epoll()
        self.pending: dict[int, _Rec] = {}
        # Refused sockets kept for reuse (saves socket() and close(): about a third of the CPU).
        self.spare4: list[Any] = []
        self.spare6: list[Any] = []
        self.retry_q: deque[tuple[str, int, int]] = deque()
        # Timer wheel: key = tick index of the deadline -> fds expiring in that tick; the keys
        # in a heap (deadlines differ per network and attempt).
        self.tick = max(0.002, min(self.timeout / 16, self.rtt.floor / 4 or 0.002))
        self.wheel: dict[int, set[int]] = {}
        self.wheel_keys: list[int] = []
        self.stats = SweepStats()
        self.exhausted = False
        self.aborted = False
        self.backoff = 0.0
        self.backoff_until = 0.0
        self.last_progress = time.monotonic()
        self._grow = 0

    # -- state ---------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.exhausted and not self.pending and not self.retry_q

    def close(self) -> None:
        for rec in self.pending.values():
            with contextlib.suppress(OSError):
                rec[0].close()
        self.pending.clear()
        for sock in (*self.spare4, *self.spare6):
            sock.close()
        self.spare4.clear()
        self.spare6.clear()
        self.ep.close()

    # -- one step ------------------------------------------------------------------------------
    def pump(self, wait: float) -> float | None:
        """Handle ready sockets (waiting up to ``wait`` s), expire, start new probes.

        Returns the delay before the next call is useful: 0 for "more work now", a positive
        number for the next timer/rate/back-off deadline, None for "only when sockets are ready".
        """
        events = self.ep.poll(wait, self.batch)
        if events:
            self._handle(events)
        now = time.monotonic()
        if self._rebucket:
            self._shorten_first_wave(now)
        more_due = False
        # Expire only once every ready answer has been read: an answer that arrived in time
        # but is still queued in epoll must not count as silence.
        if len(events) < self.batch and self.wheel_keys and self.wheel_keys[0] * self.tick <= now:
            more_due = self._expire(now)
        more = self._fill(now) if not self.done else False
        if self.done:
            return None
        if more or more_due or len(events) >= self.batch:
            return 0.0
        delays: list[float] = []
        if self.wheel_keys:
            delays.append(self.wheel_keys[0] * self.tick - now)
        if not self.exhausted or self.retry_q:
            if self.backoff_until > now:
                delays.append(self.backoff_until - now)
            elif len(self.pending) < self.limit and self.rate_limited:
                delays.append(self.limiter.delay_for_one())
        if not delays:
            return None
        return max(0.0005, min(delays))

    # -- completions ---------------------------------------------------------------------------
    def _handle(self, events: list[tuple[int, int]]) -> None:
        pending = self.pending
        wheel = self.wheel
        stats = self.stats
        found = self.found
        completed = 0
        now = time.monotonic()
        for fd, _ev in events:
            rec = pending.pop(fd, None)
            if rec is None:
                continue
            sock, ip, port, tries, key, t0 = rec
            bucket = wheel.get(key)
            if bucket is not None:
                bucket.discard(fd)
            err = sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
            if err not in RESOURCE_ERRNOS and err not in _TIMEOUT_ERRNOS:
                self._answered(ip, now - t0)
            if err == 0:
                with contextlib.suppress(OSError):
                    sock.setsockopt(_SOL_SOCKET, _SO_LINGER, _LINGER_RST)
                sock.close()
                stats.open += 1
                found(ip, port)
            else:
                sock.close()
                if err in _CLOSED_ERRNOS:
                    stats.closed += 1
                elif err in RESOURCE_ERRNOS:
                    self._resource_error(ip, port, tries, time.monotonic())
                    continue
                elif err in _TIMEOUT_ERRNOS:
                    self._timed_out(ip, port, tries)
                else:
                    stats.unreachable += 1
            completed += 1
        if self.limit < self.max_limit and completed:
            self._grow += completed
            if self._grow >= 8:
                self.limit = min(self.max_limit, self.limit + self._grow // 8)
                self._grow = 0

    def _answered(self, ip: str, rtt: float | None) -> None:
        """Any answer: the host is alive; ``rtt`` (None: not sampled) feeds its network."""
        if self.liveness.answered(ip) and self.on_alive is not None:
            self.on_alive(ip)
        if rtt is not None:
            if not self.rtt.measured:
                self._rebucket = True
            self.rtt.sample(ip, rtt)

    def _timed_out(self, ip: str, port: int, tries: int) -> None:
        if tries < self.retries:
            if self.liveness.unanswered(ip, tries):
                self.retry_q.append((ip, port, tries + 1))
                self.stats.retried += 1
                return
            self.stats.presumed_silent += 1
        else:
            self.liveness.unanswered(ip, tries)
        self.stats.timeouts += 1

    def _add_timer(self, fd: int, deadline: float) -> int:
        key = int(deadline / self.tick) + 1
        bucket = self.wheel.get(key)
        if bucket is None:
            bucket = self.wheel[key] = set()
            heapq.heappush(self.wheel_keys, key)
        bucket.add(fd)
        return key

    def _shorten_first_wave(self, now: float) -> None:
        """The first round trip was measured: probes sent before it (waiting the ceiling)
        get the measured timeout instead. Runs once per sweep."""
        self._rebucket = False
        wheel = self.wheel
        for fd, rec in list(self.pending.items()):
            sock, ip, port, tries, key, t0 = rec
            new_key = int((t0 + self.rtt.timeout(ip, tries)) / self.tick) + 1
            if new_key < key:
                bucket = wheel.get(key)
                if bucket is not None:
                    bucket.discard(fd)
                deadline = t0 + self.rtt.timeout(ip, tries)
                self.pending[fd] = (sock, ip, port, tries, self._add_timer(fd, deadline), t0)

    def _expire(self, now: float) -> bool:
        """Time out due probes, at most ``batch`` of them; True if more are due."""
        wheel = self.wheel
        keys = self.wheel_keys
        pending = self.pending
        tick = self.tick
        budget = self.batch
        while keys and keys[0] * tick <= now:
            key = keys[0]
            bucket = wheel.get(key)
            while bucket and budget > 0:
                fd = bucket.pop()
                rec = pending.pop(fd, None)
                if rec is None:
                    continue
                budget -= 1
                rec[0].close()
                self._timed_out(rec[1], rec[2], rec[3])
            if bucket:
                return True  # the rest on the next turn: the loop is not held for long
            heapq.heappop(keys)
            wheel.pop(key, None)
        return False

    def _resource_error(self, ip: str, port: int, tries: int, now: float) -> None:
        """The same probe goes back to the front of the queue; never a result."""
        self.stats.resource_errors += 1
        self.retry_q.appendleft((ip, port, tries))
        inflight = len(self.pending)
        self.limit = max(1, (inflight * 3) // 4)
        self._grow = 0
        self.backoff = min(0.1, max(0.001, self.backoff * 2))
        self.backoff_until = now + self.backoff
        if now - self.last_progress > self.give_up and not self.aborted:
            self._abort()

    def _abort(self) -> None:
        """Resource errors persisted: stop creating sockets, count what was never answered."""
        self.aborted = True
        unresolved = len(self.retry_q)
        self.retry_q.clear()
        if not self.exhausted:
            # Count the rest of the space (bounded: a huge space is not walked to the end).
            for n, _ in enumerate(self.pairs, 1):
                unresolved += 1
                self.stats.attempted += 1
                if n >= 10_000_000:
                    break
            self.exhausted = True
        self.stats.unresolved += unresolved

    # -- new probes ----------------------------------------------------------------------------
    def _fill(self, now: float) -> bool:
        """Start up to ``batch`` probes; True if more could be started right now."""
        if self.backoff_until > now or (self.exhausted and not self.retry_q):
            return False
        room = self.limit - len(self.pending)
        if room <= 0:
            return False
        n = min(room, self.batch)
        if self.rate_limited:
            n = self.limiter.try_take(n)
            if n <= 0:
                return False
        pending = self.pending
        retry_q = self.retry_q
        pairs = self.pairs
        stats = self.stats
        register = self.ep.register
        spare4, spare6 = self.spare4, self.spare6
        timeout_for = self.rtt.timeout
        answered = self._answered
        last_t = -1.0
        key = 0
        bucket: set[int] = set()
        started = 0
        while started < n:
            if retry_q:
                ip, port, tries = retry_q.popleft()
            else:
                nxt = next(pairs, None)
                if nxt is None:
                    self.exhausted = True
                    break
                ip, port = nxt
                tries = 0
                stats.attempted += 1
            family = _AF_INET6 if ":" in ip else _AF_INET
            pool = spare6 if family == _AF_INET6 else spare4
            if pool:
                # A socket whose last connect was refused: Linux lets it connect again. The
                # first connect() after a failure only reports ECONNABORTED and resets it.
                sock = pool.pop()
                err = sock.connect_ex((ip, port))
                if err == _ECONNABORTED:
                    err = sock.connect_ex((ip, port))
                if err == _ECONNABORTED:  # not reusable after all: start afresh
                    sock.close()
                    sock = None
            else:
                sock = None
            if sock is None:
                try:
                    sock = _socket.socket(family, _STREAM_NB)
                except OSError as exc:
                    if exc.errno in RESOURCE_ERRNOS:
                        self._resource_error(ip, port, tries, now)
                        return False
                    raise
                err = sock.connect_ex((ip, port))
            if err == _EINPROGRESS:
                # On loopback (and any path where the answer arrives during the syscall) the
                # refusal is already recorded: read it now and skip epoll entirely.
                err = sock.getsockopt(_SOL_SOCKET, _SO_ERROR) or _EINPROGRESS
            if err == _EINPROGRESS:
                fd = sock.fileno()
                try:
                    register(fd, _EPOLLOUT)
                except OSError as exc:
                    sock.close()
                    if exc.errno in RESOURCE_ERRNOS or exc.errno == errno.ENOSPC:
                        self._resource_error(ip, port, tries, now)
                        return False
                    raise
                t = timeout_for(ip, tries)
                if t != last_t:  # most probes of a turn share one timeout: one bucket lookup
                    last_t = t
                    key = int((now + t) / self.tick) + 1
                    got = self.wheel.get(key)
                    if got is None:
                        got = self.wheel[key] = set()
                        heapq.heappush(self.wheel_keys, key)
                    bucket = got
                pending[fd] = (sock, ip, port, tries, key, now)
                bucket.add(fd)
                started += 1
                continue
            # Answered during connect() itself (loopback, or a very near host).
            self._immediate += 1
            if err not in RESOURCE_ERRNOS and err not in _TIMEOUT_ERRNOS:
                answered(ip, 0.0 if self._immediate % _SAMPLE_EVERY == 1 else None)
            if err == 0:
                with contextlib.suppress(OSError):
                    sock.setsockopt(_SOL_SOCKET, _SO_LINGER, _LINGER_RST)
                sock.close()
                stats.open += 1
                self.found(ip, port)
            elif err == _ECONNREFUSED:
                stats.closed += 1
                if len(pool) < _SPARE_MAX:
                    pool.append(sock)
                else:
                    sock.close()
            else:
                sock.close()
                if err in RESOURCE_ERRNOS:
                    self._resource_error(ip, port, tries, now)
                    return False
                if err in _CLOSED_ERRNOS:
                    stats.closed += 1
                elif err in _TIMEOUT_ERRNOS:
                    self._timed_out(ip, port, tries)
                else:
                    stats.unreachable += 1
            started += 1
        if started:
            self.last_progress = now
            self.backoff = 0.0
        if self.rate_limited and started < n:
            # Tokens taken but not used (space exhausted): give them back.
            self.limiter._tokens = min(self.limiter.capacity, self.limiter._tokens + (n - started))
        if started < n:
            return False
        # Stopped by the batch budget or the token count: go on if there is room left.
        return len(pending) < self.limit and not (self.exhausted and not retry_q)


class Sweeper:
    """TCP connect sweep over ``space.iter_pairs(seed, shard)``.

    ``found(ip, port)`` is called in the event loop thread for each open port as soon as it is
    seen. ``limiter`` may be the dialer's ``RateLimiter`` so the sweep and the probes share one
    global rate (only with ``processes == 1``; children split ``cfg.rate`` between them).
    """

    def __init__(self, cfg: SweepConfig, limiter: RateLimiter | None = None) -> None:
        if cfg.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if cfg.connect_timeout <= 0:
            raise ValueError("connect_timeout must be > 0")
        if cfg.processes < 1:
            raise ValueError("processes must be >= 1")
        self.cfg = cfg
        self.limiter = limiter
        self.stats = SweepStats()
        self._live: SweepStats | None = None
        self._children_attempted = 0

    @property
    def attempted(self) -> int:
        """Pairs taken from the space so far, while the sweep runs (for the progress line)."""
        if self._live is not None:
            return self._live.attempted
        return max(self._children_attempted, self.stats.attempted)

    async def run(
        self,
        space: PairSpace,
        seed: int,
        shard: tuple[int, int],
        found: Callable[[str, int], None],
        alive: Callable[[str], None] | None = None,
    ) -> SweepStats:
        """Sweep; ``alive(ip)`` is called (in the loop thread) when a host first answers
        anything (with several processes, once per process that saw it answer)."""
        if self.cfg.processes > 1:
            self.stats = await self._run_processes(space, seed, shard, found, alive)
        elif self.cfg.syn:
            syn = SynScanner(self.cfg, self.limiter)
            self.stats = await syn.run(space, seed, shard, found, alive)
        else:
            self.stats = await self._run_in_loop(space, seed, shard, found, alive)
        return self.stats

    # -- in the event loop -----------------------------------------------------------------------
    async def _run_in_loop(
        self,
        space: PairSpace,
        seed: int,
        shard: tuple[int, int],
        found: Callable[[str, int], None],
        alive: Callable[[str], None] | None = None,
    ) -> SweepStats:
        loop = asyncio.get_running_loop()
        limiter = self.limiter or RateLimiter(self.cfg.rate)
        core = _Core(
            iter(space.iter_pairs(seed, shard)), self.cfg, found, limiter, batch=512, alive=alive
        )
        self._live = core.stats
        done: asyncio.Future[None] = loop.create_future()
        timer: list[asyncio.Handle | None] = [None]

        def pump() -> None:
            if done.done():
                return
            handle = timer[0]
            if handle is not None:
                handle.cancel()
                timer[0] = None
            try:
                delay = core.pump(0)
            except BaseException as exc:  # surfaced to the awaiting coroutine
                done.set_exception(exc)
                return
            if core.done:
                done.set_result(None)
            elif delay is not None:
                timer[0] = loop.call_soon(pump) if delay <= 0 else loop.call_later(delay, pump)

        epfd = core.ep.fileno()
        loop.add_reader(epfd, pump)
        loop.call_soon(pump)
        try:
            await done
        finally:
            loop.remove_reader(epfd)
            if timer[0] is not None:
                timer[0].cancel()
            core.close()
        return core.stats

    # -- several processes -----------------------------------------------------------------------
    async def _run_processes(
        self,
        space: PairSpace,
        seed: int,
        shard: tuple[int, int],
        found: Callable[[str, int], None],
        alive: Callable[[str], None] | None = None,
    ) -> SweepStats:
        loop = asyncio.get_running_loop()
        i, n = shard
        k = self.cfg.processes
        child_cfg = replace(
            self.cfg,
            concurrency=max(1, -(-self.cfg.concurrency // k)),
            rate=(self.cfg.rate / k) if self.cfg.rate else None,
            processes=1,
        )
        mp = multiprocessing.get_context("fork")
        procs: list[BaseProcess] = []  # ForkProcess instances
        readers: list[int] = []
        total = SweepStats()
        errors: list[str] = []
        open_readers: set[int] = set()
        all_eof: asyncio.Future[None] = loop.create_future()
        buffers: dict[int, bytearray] = {}

        def on_line(line: bytes) -> None:
            if line.startswith(b"P "):
                self._children_attempted += int(line[2:])
            elif line.startswith(b"S "):
                total.add(SweepStats(**json.loads(line[2:])))
            elif line.startswith(b"E "):
                errors.append(line[2:].decode("utf-8", "replace"))
            elif line.startswith(b"A "):
                if alive is not None:
                    alive(line[2:].decode("ascii"))
            else:
                ip, _, port = line.rpartition(b" ")
                found(ip.decode("ascii"), int(port))

        def on_readable(fd: int) -> None:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError as exc:
                errors.append(f"pipe: {exc}")
                chunk = b""
            buf = buffers[fd]
            if chunk:
                buf += chunk
                *lines, rest = buf.split(b"\n")
                buffers[fd] = bytearray(rest)
                try:
                    for line in lines:
                        if line:
                            on_line(bytes(line))
                except BaseException as exc:
                    if not all_eof.done():
                        all_eof.set_exception(exc)
                return
            loop.remove_reader(fd)
            open_readers.discard(fd)
            if not open_readers and not all_eof.done():
                all_eof.set_result(None)

        try:
            for j in range(k):
                r, w = os.pipe()
                proc: BaseProcess = mp.Process(
                    target=_child_main,
                    args=(space, seed, (i + n * j, n * k), child_cfg, w, r),
                    name=f"nasscan-sweep-{j}",
                    daemon=True,
                )
                proc.start()
                os.close(w)
                os.set_blocking(r, False)
                procs.append(proc)
                readers.append(r)
                buffers[r] = bytearray()
                open_readers.add(r)
                loop.add_reader(r, on_readable, r)
            await all_eof
            for proc in procs:
                while proc.is_alive():
                    await asyncio.sleep(0.002)
                if proc.exitcode not in (0, None) and not errors:
                    errors.append(f"sweep process exited with {proc.exitcode}")
        finally:
            for r in readers:
                with contextlib.suppress(Exception):
                    loop.remove_reader(r)
                with contextlib.suppress(OSError):
                    os.close(r)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
                    proc.join(1.0)
                    if proc.is_alive():
                        proc.kill()
                        proc.join(1.0)
        if errors:
            raise RuntimeError("sweep failed: " + "; ".join(errors[:3]))
        return total


def _child_main(
    space: PairSpace,
    seed: int,
    shard: tuple[int, int],
    cfg: SweepConfig,
    wfd: int,
    parent_rfd: int,
) -> None:
    """Entry point of a forked sweep process: blocking epoll loop, results over ``wfd``."""
    # The parent stops us (SIGTERM by PID) on Ctrl-C or error. Undo the parent loop's signal
    # plumbing inherited through fork: its wakeup fd would wake the *parent's* loop.
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError):
        os.close(parent_rfd)
    parent = os.getppid()
    out = bytearray()
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        data = bytes(out)
        del out[:]
        while data:
            written = os.write(wfd, data)
            data = data[written:]
        last_flush = time.monotonic()

    def found(ip: str, port: int) -> None:
        out.extend(f"{ip} {port}\n".encode("ascii"))
        if len(out) > 4096 or cfg.syn:
            flush()

    def alive(ip: str) -> None:
        out.extend(f"A {ip}\n".encode("ascii"))
        if len(out) > 4096:
            flush()

    core: _Core | None = None
    reported = 0
    try:
        if cfg.syn:
            stats = SynScanner(cfg)._scan(space, seed, shard, found, alive)
            out.extend(b"S " + json.dumps(asdict(stats)).encode() + b"\n")
            flush()
            return
        core = _Core(
            iter(space.iter_pairs(seed, shard)),
            cfg,
            found,
            RateLimiter(cfg.rate),
            batch=2048,
            alive=alive,
        )
        wait = 0.0
        checked = time.monotonic()
        while True:
            delay = core.pump(wait)
            if core.done:
                break
            now = time.monotonic()
            if out and now - last_flush > 0.02:
                flush()
            if now - checked > 0.5:
                checked = now
                if os.getppid() != parent:
                    return  # orphaned: nobody reads our results
                if core.stats.attempted > reported:  # progress: pairs taken since last time
                    out.extend(b"P %d\n" % (core.stats.attempted - reported))
                    reported = core.stats.attempted
            wait = 0.25 if delay is None else min(delay, 0.25)
        out.extend(b"S " + json.dumps(asdict(core.stats)).encode() + b"\n")
        flush()
    except BaseException as exc:  # report, do not print a traceback from a child
        with contextlib.suppress(OSError):
            out.extend(f"E {type(exc).__name__}: {exc}".replace("\n", " ").encode() + b"\n")
            flush()
        raise SystemExit(1) from None
    finally:
        if core is not None:
            core.close()
        with contextlib.suppress(OSError):
            os.close(wfd)
