"""File-descriptor limits and the concurrency they allow.

A connect scan needs one descriptor per connection in flight. At start the soft RLIMIT_NOFILE is
raised to the hard limit, and concurrency is sized so the sweep and the probe stage together stay
well below it: running out of descriptors must never look like closed ports.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

RESERVED_FDS = 64
"""Descriptors kept for the interpreter, output files, the loop, thread pools and probes' extras."""

DEFAULT_SWEEP_CONCURRENCY = 4096
DEFAULT_PROBE_CONCURRENCY = 128


@dataclass(frozen=True)
class Budget:
    """How many descriptors the scan may hold at once, and how they are split."""

    soft_limit: int
    sweep: int
    probes: int


def raise_nofile() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (best effort); returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or (target != resource.RLIM_INFINITY and soft >= target):
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft, hard
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def size_concurrency(
    requested: int | None,
    soft_limit: int,
    *,
    probe_concurrency: int = DEFAULT_PROBE_CONCURRENCY,
) -> Budget:
    """Split the descriptor budget between the sweep and the probe stage.

    ``requested`` (``--concurrency``) is an upper bound on sweep connections in flight; it is
    lowered when the descriptor limit cannot carry it next to the probe stage.
    """
    limit = soft_limit if soft_limit != resource.RLIM_INFINITY else 1 << 20
    usable = max(2, limit - RESERVED_FDS)
    probes = max(1, min(probe_concurrency, usable // 4))
    sweep_cap = max(1, usable - probes)
    sweep = min(requested or DEFAULT_SWEEP_CONCURRENCY, sweep_cap)
    return Budget(soft_limit=limit, sweep=max(1, sweep), probes=probes)
