"""How long to wait and whom to retry: round-trip timeouts per network and host liveness.

Pure bookkeeping shared by the connect sweep (``scanner.sweep``) and the raw-SYN sweep
(``scanner.synscan``); no sockets here, so it is unit-tested as arithmetic.

``RttTimeouts``: every answer (SYN-ACK, RST, ICMP error) is a round-trip sample of its network
(the /24 for IPv4, one shared network for IPv6). Each network keeps a smoothed RTT and its mean
deviation exactly as TCP does (RFC 6298: ``SRTT += (R - SRTT)/8``, ``RTTVAR += (|SRTT - R| -
RTTVAR)/4``, ``RTO = SRTT + 4 RTTVAR``), clamped between ``floor`` and ``ceiling`` (the user's
``--timeout``). A network without samples uses the scan-wide estimate, and before any sample at
all the ceiling. A retry waits twice as long as the attempt before it (TCP's back-off), still at
most the ceiling.

``Liveness``: any answer marks a host alive. A host whose first ``judge_after`` pairs all went
unanswered is presumed silent: its remaining pairs get a single attempt (no retries) at the
network's timeout. Alive and not-yet-judged hosts keep their retries. Memory is bounded: at most
``max_tracked`` unanswered hosts are remembered (beyond that, hosts stay "not yet judged", which
only costs retries, never recall).
"""

from __future__ import annotations

__all__ = ["DEFAULT_FLOOR", "JUDGE_AFTER", "Liveness", "RttEstimate", "RttTimeouts", "net_key"]

DEFAULT_FLOOR = 0.1
"""Seconds: no network's timeout goes below this (nmap's default minimum RTT timeout)."""

JUDGE_AFTER = 3
"""Unanswered pairs after which a host that never answered is presumed silent."""

_ALIVE = -1


def net_key(ip: str) -> str:
    """The network an address's samples belong to: its /24 (IPv4); IPv6 shares one."""
    if ":" in ip:
        return "v6"
    return ip[: ip.rfind(".")]


class RttEstimate:
    """RFC 6298 smoothed RTT and mean deviation of one network."""

    __slots__ = ("n", "rttvar", "srtt")

    def __init__(self) -> None:
        self.srtt = 0.0
        self.rttvar = 0.0
        self.n = 0

    def add(self, r: float) -> None:
        r = max(0.0, r)
        if self.n == 0:
            self.srtt = r
            self.rttvar = r / 2
        else:
            self.rttvar += (abs(self.srtt - r) - self.rttvar) / 4
            self.srtt += (r - self.srtt) / 8
        self.n += 1

    def rto(self) -> float:
        return self.srtt + 4 * self.rttvar


class RttTimeouts:
    """Per-network timeouts from measured round trips, clamped to [floor, ceiling]."""

    def __init__(self, ceiling: float, floor: float = DEFAULT_FLOOR) -> None:
        self.ceiling = max(0.001, float(ceiling))
        self.floor = min(self.ceiling, max(0.0, float(floor)))
        self.nets: dict[str, RttEstimate] = {}
        self.overall = RttEstimate()
        self._cache: dict[str, float] = {}

    @property
    def measured(self) -> bool:
        return self.overall.n > 0

    def sample(self, ip: str, rtt: float) -> None:
        key = net_key(ip)
        est = self.nets.get(key)
        if est is None:
            est = self.nets[key] = RttEstimate()
        est.add(rtt)
        self.overall.add(rtt)
        self._cache[key] = self._clamp(est.rto())

    def _clamp(self, rto: float) -> float:
        return min(self.ceiling, max(self.floor, rto))

    def timeout(self, ip: str, tries: int = 0) -> float:
        """Seconds to wait for attempt number ``tries`` (0 = first) to ``ip``."""
        base = self._cache.get(net_key(ip))
        if base is None:
            base = self._clamp(self.overall.rto()) if self.overall.n else self.ceiling
        if tries:
            base = min(self.ceiling, base * (2**tries))
        return base


class Liveness:
    """Which hosts answered, which are presumed silent; decides who gets retries."""

    def __init__(
        self, enabled: bool = True, judge_after: int = JUDGE_AFTER, max_tracked: int = 4_000_000
    ) -> None:
        self.enabled = enabled
        self.judge_after = max(1, int(judge_after))
        self.max_tracked = max_tracked
        # host -> _ALIVE, or the number of its pairs that went unanswered so far
        self.state: dict[str, int] = {}
        self.alive_count = 0

    def answered(self, ip: str) -> bool:
        """Record an answer from ``ip``; True if this is the first one (newly alive)."""
        if self.state.get(ip) == _ALIVE:
            return False
        self.state[ip] = _ALIVE
        self.alive_count += 1
        return True

    def is_alive(self, ip: str) -> bool:
        return self.state.get(ip) == _ALIVE

    def silent(self, ip: str) -> bool:
        """True when ``ip`` never answered and its first pairs all went unanswered."""
        return self.enabled and self.state.get(ip, 0) >= self.judge_after

    def unanswered(self, ip: str, tries: int) -> bool:
        """A pair of ``ip`` got no answer on attempt ``tries``; True if it may be retried.

        Each pair counts once (on its first attempt). The pairs that made the judgement keep
        their retries; pairs of a host presumed silent before their first attempt get none.
        """
        if not self.enabled:
            return True
        st = self.state.get(ip, 0)
        if st == _ALIVE:
            return True
        if tries == 0:
            if st >= self.judge_after:
                return False
            if st or len(self.state) < self.max_tracked:
                self.state[ip] = st + 1
            return True
        return True

    def alive_hosts(self) -> list[str]:
        return [ip for ip, st in self.state.items() if st == _ALIVE]
