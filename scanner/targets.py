"""Targets, exclusions, the scan scope and the (host, port) space, never materialised.

Target syntax (arguments, ``-iL`` files and exclusions alike): IPv4/IPv6 addresses, CIDRs
(``10.0.0.0/24``, host bits allowed as in nmap), ranges (``10.0.0.1-10.0.0.50``, ``10.0.0.1-50``,
``fd00::1-fd00::20``) and hostnames (resolved asynchronously; the scan keeps name and address).
A form whose meaning is not exactly what is written is refused, never widened: a last octet
past 255 (``10.0.0.1-256``) or with a leading zero, a mask instead of a prefix length
(``/255.255.255.0``), a zero-padded prefix, an IPv6 zone (``fe80::1%eth0``), ``fd00::1-20``.

The scope is a short list of disjoint address intervals (targets minus exclusions; exclusions
always win), so a /8 costs a few integers. ``TargetSpace`` numbers every (host, port) pair
0..N-1 and visits them in a reproducible pseudo-random order: a keyed 3-round Feistel
permutation over the smallest even power of two >= N, with cycle walking back into [0, N)
(masscan's idea of a scan order that hammers no subnet). Shard ``(i, n)`` is the permutation
positions ``p`` with ``p % n == i``; shards compose: shard ``(j, k)`` of shard ``(i, n)`` is
``(i + n*j, n*k)``.
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import random
import re
import socket
import struct
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAX_PAIRS = 1 << 48
"""Refuse scopes beyond this many (host, port) pairs: an IPv6 /64 is not scannable."""

_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)
_NUMERIC = re.compile(r"^[0-9.]+$")

# Address blocks that are not public: private, loopback, link-local, unique-local.
_NON_PUBLIC = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
]

GUARD_MAX_HOSTS = 1 << 16
"""More addresses than a /16 of IPv4 needs ``--yes``."""


class TargetError(ValueError):
    """A target or exclusion that cannot be used; ``token`` is the offending text."""

    def __init__(self, token: str, reason: str) -> None:
        super().__init__(f"{reason}: {token!r}")
        self.token = token
        self.reason = reason


@dataclass(frozen=True, order=True)
class Interval:
    """An inclusive range of addresses of one IP version, as integers."""

    version: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start + 1


def _addr(text: str, token: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]  # [fd00::1]: one pair of brackets around an IPv6 address
        if ":" not in text:
            raise TargetError(token, "brackets only around an IPv6 address")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise TargetError(token, "malformed address") from None


_DECIMAL = re.compile(r"0|[1-9][0-9]{0,2}")  # no leading zero: 010 is octal to some tools


def _cidr(text: str, token: str) -> Interval:
    """``10.0.0.0/24`` (host bits allowed, as in nmap: ``10.0.0.5/24`` is the whole /24)."""
    addr_s, _, prefix_s = text.partition("/")
    if not (prefix_s.isascii() and _DECIMAL.fullmatch(prefix_s)):
        # masks (/255.255.255.0, /0.0.0.255) and /024 are refused: one spelling, one meaning
        raise TargetError(token, "malformed CIDR (the prefix is a length like /24)")
    addr = _addr(addr_s, token)
    if int(prefix_s) > addr.max_prefixlen:
        raise TargetError(token, "malformed CIDR")
    net = ipaddress.ip_interface(f"{addr}/{prefix_s}").network
    return Interval(net.version, int(net.network_address), int(net.broadcast_address))


def _range(text: str, token: str) -> Interval:
    """``10.0.0.1-50`` (the last octet) or ``10.0.0.250-10.0.1.4`` / ``fd00::1-fd00::20``.

    Only what is written: a last octet past 255 (``10.0.0.1-256``) or with a leading zero
    (``-050``, octal to some tools) is refused, never carried into the next /24.
    """
    lo_s, _, hi_s = text.partition("-")
    lo = _addr(lo_s, token)
    if not hi_s:
        raise TargetError(token, "malformed range")
    if hi_s.isascii() and hi_s.isdigit():
        if lo.version != 4:
            raise TargetError(token, "malformed range (an IPv6 range names both ends in full)")
        if hi_s.startswith("0") and hi_s != "0":
            raise TargetError(token, "malformed range (a leading zero: octal or decimal?)")
        if int(hi_s) > 255:
            raise TargetError(token, "malformed range (a last-octet range ends at 0-255)")
        hi_int = (int(lo) & ~0xFF) | int(hi_s)
    else:
        hi = _addr(hi_s, token)
        if hi.version != lo.version:
            raise TargetError(token, "range mixes IPv4 and IPv6")
        hi_int = int(hi)
    if hi_int < int(lo):
        raise TargetError(token, "range ends before it starts")
    return Interval(lo.version, int(lo), hi_int)


def parse_literal(token: str) -> Interval | None:
    """An address, CIDR or range as an interval; None if ``token`` looks like a hostname.

    Raises ``TargetError`` for malformed address-like tokens (bad CIDR, bad range, ...) and for
    every form whose meaning is not exactly what is written (masks instead of a prefix length,
    a last octet past 255, an IPv6 zone that an interval cannot keep).
    """
    text = token.strip()
    if not text:
        raise TargetError(token, "empty target")
    if "%" in text:
        raise TargetError(token, "IPv6 zone index (%) not supported in a scope")
    if "/" in text:
        return _cidr(text, token)
    if "-" in text and (":" in text or _NUMERIC.match(text.replace("-", ""))):
        return _range(text, token)
    if ":" in text or _NUMERIC.match(text):
        a = _addr(text, token)
        return Interval(a.version, int(a), int(a))
    if _HOSTNAME.match(text):
        return None
    raise TargetError(token, "malformed target")


def split_specs(values: Iterable[str]) -> list[str]:
    """Tokens from arguments/files: split on commas and whitespace, drop ``#`` comments."""
    out: list[str] = []
    for value in values:
        for line in value.splitlines() or [value]:
            line = line.partition("#")[0]
            out.extend(t for t in re.split(r"[,\s]+", line) if t)
    return out


def read_target_file(path: str, stdin_text: str | None = None) -> list[str]:
    """Tokens of an ``-iL`` file (``-`` = the given stdin text)."""
    if path == "-":
        return split_specs([stdin_text or ""])
    try:
        return split_specs([Path(path).read_bytes().decode("utf-8", errors="replace")])
    except OSError as exc:
        raise TargetError(path, f"cannot read target file ({exc.strerror or exc})") from None


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for iv in sorted(intervals):
        if out and out[-1].version == iv.version and iv.start <= out[-1].end + 1:
            last = out[-1]
            if iv.end > last.end:
                out[-1] = Interval(last.version, last.start, iv.end)
        else:
            out.append(iv)
    return out


def _subtract(include: list[Interval], exclude: list[Interval]) -> list[Interval]:
    """Both merged and sorted; returns include minus exclude in one linear pass."""
    out: list[Interval] = []
    j = 0
    for iv in include:
        start = iv.start
        # skip exclusions entirely before this interval
        while j < len(exclude) and (exclude[j].version, exclude[j].end) < (iv.version, iv.start):
            j += 1
        k = j
        while k < len(exclude) and exclude[k].version == iv.version and exclude[k].start <= iv.end:
            ex = exclude[k]
            if ex.start > start:
                out.append(Interval(iv.version, start, ex.start - 1))
            start = max(start, ex.end + 1)
            if ex.end > iv.end:
                break
            k += 1
        if start <= iv.end:
            out.append(Interval(iv.version, start, iv.end))
    return out


_PACK4 = struct.Struct("!I").pack


def _fmt(version: int, value: int) -> str:
    if version == 4:
        return socket.inet_ntoa(_PACK4(value))
    return str(ipaddress.IPv6Address(value))


@dataclass
class Scope:
    """Targets minus exclusions: what the dialer may dial (``address in scope``)."""

    intervals: list[Interval]
    hostnames: dict[str, str] = field(default_factory=dict)
    """address -> the hostname it was resolved from."""
    targets: list[str] = field(default_factory=list)
    exclusions: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    """Target names that did not resolve: skipped with a warning (the report's ``errors``)."""

    def __post_init__(self) -> None:
        self.intervals = _merge(self.intervals)
        self._keys = [(iv.version, iv.start) for iv in self.intervals]
        self._offsets: list[int] = []
        total = 0
        for iv in self.intervals:
            self._offsets.append(total)
            total += iv.size
        self._size = total

    # -- membership (the Dialer's ScopeCheck) -------------------------------------------------
    def __contains__(self, address: object) -> bool:
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            addr = address
        elif isinstance(address, str):
            try:
                addr = ipaddress.ip_address(address)
            except ValueError:
                return False
        else:
            return False
        key = (addr.version, int(addr))
        i = bisect.bisect_right(self._keys, key) - 1
        if i < 0:
            return False
        iv = self.intervals[i]
        return iv.version == addr.version and iv.start <= int(addr) <= iv.end

    # -- size and hosts -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of addresses in scope."""
        return self._size

    def host_at(self, index: int) -> str:
        """The ``index``-th address (0-based) in address order."""
        if not 0 <= index < self._size:
            raise IndexError(index)
        i = bisect.bisect_right(self._offsets, index) - 1
        iv = self.intervals[i]
        return _fmt(iv.version, iv.start + index - self._offsets[i])

    def hosts(self) -> Iterator[str]:
        for iv in self.intervals:
            for value in range(iv.start, iv.end + 1):
                yield _fmt(iv.version, value)

    def hostname_for(self, address: str) -> str | None:
        return self.hostnames.get(address)

    # -- guard rails --------------------------------------------------------------------------
    def public_intervals(self) -> list[Interval]:
        """Parts of the scope outside private, loopback, link-local and unique-local blocks."""
        nets = [
            Interval(n.version, int(n.network_address), int(n.broadcast_address))
            for n in _NON_PUBLIC
        ]
        return _subtract(self.intervals, _merge(nets))

    def needs_confirmation(self) -> str | None:
        """Why this scope needs ``--yes`` (one line), or None."""
        public = self.public_intervals()
        if public:
            first = public[0]
            return (
                f"scope includes public addresses (e.g. {_fmt(first.version, first.start)}); "
                "scan only networks you are authorised to test, then add --yes"
            )
        if self._size > GUARD_MAX_HOSTS:
            return (
                f"scope has {self._size} addresses (more than a /16); "
                "check the targets, then add --yes"
            )
        return None

    def describe(self) -> list[str]:
        """Compact text form of the intervals (CIDR-free ranges)."""
        out = []
        for iv in self.intervals:
            lo, hi = _fmt(iv.version, iv.start), _fmt(iv.version, iv.end)
            out.append(lo if iv.start == iv.end else f"{lo}-{hi}")
        return out


async def _resolve(name: str, timeout: float) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), timeout
        )
    except (OSError, TimeoutError, UnicodeError):
        raise TargetError(name, "cannot resolve hostname") from None
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        addr = str(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if addr not in seen:
            seen.append(addr)
    if not seen:
        raise TargetError(name, "cannot resolve hostname")
    return seen


async def _intervals(
    tokens: Sequence[str], timeout: float, unresolved: list[str] | None = None
) -> tuple[list[Interval], dict[str, str]]:
    """Intervals and resolved names of ``tokens``. A name that does not resolve raises
    ``TargetError``, unless ``unresolved`` is given: then it is appended there and skipped."""
    literal: list[Interval] = []
    names: list[str] = []
    for token in tokens:
        iv = parse_literal(token)
        if iv is None:
            names.append(token)
        else:
            literal.append(iv)
    hostnames: dict[str, str] = {}
    if names:
        results = await asyncio.gather(
            *(_resolve(n, timeout) for n in names), return_exceptions=unresolved is not None
        )
        for i, name in enumerate(names):
            addrs = results[i]
            if isinstance(addrs, BaseException):
                if unresolved is None or not isinstance(addrs, TargetError):
                    raise addrs
                unresolved.append(name)
                continue
            for a in addrs:
                hostnames.setdefault(a, name.rstrip("."))
                ip = ipaddress.ip_address(a)
                literal.append(Interval(ip.version, int(ip), int(ip)))
    return literal, hostnames


async def build_scope(
    targets: Sequence[str], exclusions: Sequence[str] = (), *, resolve_timeout: float = 5.0
) -> Scope:
    """Parse and resolve targets and exclusions; raises ``TargetError`` on bad input.

    Every token is validated (and every hostname resolved) before anything is scanned. A
    target name that does not resolve is skipped and listed in ``Scope.unresolved`` (a warning,
    as nmap does); only a scope in which nothing resolves is an error. Exclusions must resolve:
    an exclusion that cannot be honoured is never ignored.
    """
    if not targets:
        raise TargetError("", "no targets given")
    unresolved: list[str] = []
    inc, names = await _intervals(targets, resolve_timeout, unresolved)
    if not inc:
        raise TargetError(unresolved[0], "cannot resolve hostname")
    exc, _ = await _intervals(exclusions, resolve_timeout)
    remaining = _subtract(_merge(inc), _merge(exc))
    if not remaining:
        raise TargetError(" ".join(targets)[:80], "scope is empty after exclusions")
    scope = Scope(
        remaining, targets=list(targets), exclusions=list(exclusions), unresolved=unresolved
    )
    scope.hostnames = {a: n for a, n in names.items() if a in scope}
    return scope


def parse_shard(text: str) -> tuple[int, int]:
    """``--shard I/N`` (1-based, as masscan) -> the 0-based ``(i, n)`` used internally."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise TargetError(text, "malformed shard (use I/N, e.g. 1/4)")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise TargetError(text, "shard out of range (I/N with 1 <= I <= N)")
    return i - 1, n


def compose_shard(outer: tuple[int, int], inner: tuple[int, int]) -> tuple[int, int]:
    """Shard ``inner`` of shard ``outer``: (j, k) inside (i, n) is (i + n*j, n*k)."""
    (i, n), (j, k) = outer, inner
    return i + n * j, n * k


class Permutation:
    """A keyed bijection of [0, n): 3-round Feistel over 2^(2h) >= n with cycle walking."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        bits = max(2, (max(n, 1) - 1).bit_length())
        self.half = (bits + 1) // 2
        self.mask = (1 << self.half) - 1
        rng = random.Random(seed)
        self.tables: list[array[int]] | None = None
        self.keys = [(rng.getrandbits(64) | 1, rng.getrandbits(64)) for _ in range(3)]
        if self.half <= 16:
            size = 1 << self.half
            self.tables = [
                array("I", (rng.getrandbits(self.half) for _ in range(size))) for _ in range(3)
            ]

    def _round(self, r: int, x: int) -> int:
        mul, add = self.keys[r]
        y = (x * mul + add) & 0xFFFFFFFFFFFFFFFF
        y ^= y >> 29
        return (y * 0xBF58476D1CE4E5B9 >> 17) & self.mask

    def __call__(self, x: int) -> int:
        half, mask, n = self.half, self.mask, self.n
        while True:
            left, right = x >> half, x & mask
            if self.tables is not None:
                f0, f1, f2 = self.tables
                left ^= f0[right]
                right ^= f1[left]
                left ^= f2[right]
            else:
                left ^= self._round(0, right)
                right ^= self._round(1, left)
                left ^= self._round(2, right)
            x = (left << half) | right
            if x < n:
                return x

    def iter(self, start: int = 0, step: int = 1) -> Iterator[int]:
        """Images of positions start, start+step, ... < n."""
        n = self.n
        if self.tables is None:
            for p in range(start, n, step):
                yield self(p)
            return
        half, mask = self.half, self.mask
        f0, f1, f2 = self.tables
        for p in range(start, n, step):
            x = p
            while True:
                left, right = x >> half, x & mask
                left ^= f0[right]
                right ^= f1[left]
                left ^= f2[right]
                x = (left << half) | right
                if x < n:
                    break
            yield x


class TargetSpace:
    """Every (host, port) pair of a scope and a port list, numbered 0..N-1, never stored.

    Pair ``i`` is host ``i % H`` and port ``i // H`` (H hosts in address order).
    """

    def __init__(self, scope: Scope, ports: Sequence[int]) -> None:
        self.scope = scope
        self.ports = tuple(ports)
        self.hosts = scope.size
        self.size = self.hosts * len(self.ports)
        if self.size > MAX_PAIRS:
            raise TargetError(
                ",".join(scope.describe()[:3]), f"scope too large ({self.size} host-port pairs)"
            )

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[str, int]:
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self.scope.host_at(index % self.hosts), self.ports[index // self.hosts]

    def iter_indices(self, seed: int, shard: tuple[int, int] = (0, 1)) -> Iterator[int]:
        """Pair indices of shard ``(i, n)`` in the seed's permutation order."""
        i, n = shard
        if n < 1 or not 0 <= i < n:
            raise ValueError(f"bad shard {shard}")
        if self.size == 0:
            return iter(())
        return Permutation(self.size, seed).iter(i, n)

    def iter_pairs(self, seed: int, shard: tuple[int, int] = (0, 1)) -> Iterator[tuple[str, int]]:
        """(host, port) pairs of shard ``(i, n)`` in a reproducible pseudo-random order."""
        hosts, ports = self.hosts, self.ports
        ivs = self.scope.intervals
        if len(ivs) == 1 and ivs[0].version == 4:
            start = ivs[0].start
            ntoa = socket.inet_ntoa
            for idx in self.iter_indices(seed, shard):
                yield ntoa(_PACK4(start + idx % hosts)), ports[idx // hosts]
            return
        host_at = self.scope.host_at
        for idx in self.iter_indices(seed, shard):
            yield host_at(idx % hosts), ports[idx // hosts]
