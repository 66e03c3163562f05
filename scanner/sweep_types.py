"""What a discovery sweep is asked (``SweepConfig``) and what it reports (``SweepStats``), shared by
the connect sweep (``scanner.sweep``) and the raw-SYN sweep (``scanner.synscan``)."""

from __future__ import annotations

import errno
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Protocol

from scanner.pacing import DEFAULT_FLOOR

RESOURCE_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.EAGAIN, errno.EADDRNOTAVAIL, errno.ENOMEM}
)


class PairSpace(Protocol):
    """What the sweep needs from ``scanner.targets.TargetSpace``."""

    def iter_pairs(self, seed: int, shard: tuple[int, int]) -> Iterable[tuple[str, int]]: ...


@dataclass
class SweepConfig:
    concurrency: int
    connect_timeout: float
    retries: int
    rate: float | None
    processes: int = 1
    # Seconds without a single socket created (only resource errors) before giving up.
    resource_give_up: float = 10.0
    liveness: bool = True
    """Retries only for hosts that answered or are not yet judged (``scanner.pacing``)."""
    min_timeout: float = DEFAULT_FLOOR
    """Floor of the measured per-network timeout (``connect_timeout`` is the ceiling)."""
    syn: bool = False
    """Raw-SYN probes (``scanner.synscan``, root, IPv4) instead of connect() in every process."""


@dataclass
class SweepStats:
    attempted: int = 0  # distinct (host, port) pairs taken from the space
    open: int = 0
    closed: int = 0  # refused (RST)
    timeouts: int = 0  # no answer after all retries (filtered)
    resource_errors: int = 0  # EMFILE/ENOBUFS/... events; each one was retried, never a result
    retried: int = 0  # extra connection attempts after a timeout
    unreachable: int = 0  # EHOSTUNREACH/ENETUNREACH/EPERM...: not open, not a refusal
    unresolved: int = 0  # pairs never answered because resource errors persisted (scan error)
    presumed_silent: int = 0  # timeouts not retried: their host never answered its first pairs

    def add(self, other: SweepStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def complete(self) -> bool:
        """True when every attempted pair got a real answer (open, closed, timeout, unreachable)."""
        return self.unresolved == 0
