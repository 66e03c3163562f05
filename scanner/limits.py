"""File-descriptor limits and the concurrency they allow.

A connect scan needs one descriptor per connection in flight. At start the soft RLIMIT_NOFILE is
raised to the hard limit, and concurrency is sized so the sweep and the probe stage together stay
well below it: running out of descriptors must never look like closed ports.

The default sweep concurrency is what the descriptors allow (in every sweep process: forked
sweep processes each have a table of their own), capped by memory (``BYTES_PER_PROBE`` of the
available memory per connection in flight); ``--concurrency`` only lowers it.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

RESERVED_FDS = 64
"""Descriptors kept for the interpreter, output files, the loop, thread pools and probes' extras."""

DEFAULT_PROBE_CONCURRENCY = 128
BYTES_PER_PROBE = 64 * 1024
"""Memory allowed per sweep connection in flight (kernel socket, epoll item, Python objects
take a few KB; the rest is headroom for the probe stage)."""


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


def available_memory() -> int | None:
    """Bytes of memory available (``MemAvailable``), None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def size_concurrency(
    requested: int | None,
    soft_limit: int,
    *,
    processes: int = 1,
    memory: int | None = None,
    probe_concurrency: int = DEFAULT_PROBE_CONCURRENCY,
) -> Budget:
    """Split the descriptor budget between the sweep and the probe stage.

    With one sweep process it shares the table with the probe stage; forked sweep processes
    each get ``limit - RESERVED_FDS`` descriptors of their own. ``memory`` (bytes available)
    caps the total at one connection per ``BYTES_PER_PROBE``. ``requested``
    (``--concurrency``) is an upper bound on sweep connections in flight.
    """
    limit = soft_limit if soft_limit != resource.RLIM_INFINITY else 1 << 20
    usable = max(2, limit - RESERVED_FDS)
    probes = max(1, min(probe_concurrency, usable // 4))
    sweep_cap = max(1, usable) * processes if processes > 1 else max(1, usable - probes)
    if memory is not None:
        sweep_cap = min(sweep_cap, max(64, memory // BYTES_PER_PROBE))
    sweep = min(requested, sweep_cap) if requested else sweep_cap
    return Budget(soft_limit=limit, sweep=max(1, sweep), probes=probes)
