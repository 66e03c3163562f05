"""The probe plug-in interface.

A probe is one protocol's module (``probes/<name>.py``) exposing a module-level ``PROBE`` object
that subclasses ``Probe``; it is registered in the entry-point group ``nasscan.probes``. The core
decides scope, concurrency, rate and timeouts: a probe only talks, through ``ctx.dialer``.

Contract for ``run``:
- never raise: end every attempt in a ``Status`` (the engine also catches and times out, as a net);
- read-only: never write, delete or upload anything on the target;
- bounded: respect ``ctx.bounds`` for every listing (depth, entries, bytes, requests);
- say ``not-applicable`` quickly when the service is not yours.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scanner.dialer import Dialer, OutOfScopeError
from scanner.models import ProbeResult, ServiceInfo, Status, Transport

DEFAULT_SAMPLE_FILES = 3
"""``--sample-bytes``: files read per resource unless ``<probe>.sample_files`` says otherwise."""
MAX_SAMPLE_FILES = 8
MAX_SAMPLE_READ = 64 * 1024
"""Bytes taken per sampled file at most: min(--sample-bytes, this)."""


@dataclass(frozen=True)
class ListingBounds:
    """How far a probe may look into one resource."""

    depth: int = 32
    """Directory depth safety net: the request budget is what bounds a crawl."""
    entries: int = 2000
    bytes: int = 4 * 1024 * 1024
    """Bytes of listing data (protocol payload) read per resource."""
    requests: int = 50
    """Requests per resource (HTTP pages, READDIR calls, ...)."""
    resources: int = 32
    """Shares, exports, modules or buckets examined per service."""


@dataclass
class ProbeContext:
    """Everything a probe may use: the dialer, the bounds, options and a logger."""

    dialer: Dialer
    bounds: ListingBounds = field(default_factory=ListingBounds)
    timeout: float = 30.0
    """The whole attempt's budget; the engine cuts the probe off after it."""
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("nasscan.probe"))
    options: dict[str, Any] = field(default_factory=dict)
    """Probe options from the CLI, e.g. ``nfs.uid``, ``http.paths``."""
    intrusive: frozenset[str] = frozenset()
    """Opt-in intrusive actions the user allowed, e.g. ``{"sample-bytes"}``."""
    sample_bytes: int = 0
    """``--sample-bytes N``: read the first N bytes of a few files (0 = never read bodies)."""

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def option_list(self, key: str, default: Sequence[str]) -> list[str]:
        """A list option: a sequence, or a comma-separated string from ``--probe-option``."""
        value = self.option(key, default)
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, Sequence):
            return [str(v) for v in value]
        return list(default)

    def sample_settings(self, probe: str, max_read: int = MAX_SAMPLE_READ) -> tuple[int, int]:
        """``--sample-bytes``: (bytes per file, files per resource); (0, 0) when off.

        Files per resource come from ``<probe>.sample_files`` (default 3, at most 8).
        """
        n = max(0, int(self.sample_bytes or 0))
        if n == 0:
            return 0, 0
        try:
            files = int(self.option(f"{probe}.sample_files", DEFAULT_SAMPLE_FILES))
        except (TypeError, ValueError):
            files = DEFAULT_SAMPLE_FILES
        return min(n, max_read), min(max(files, 0), MAX_SAMPLE_FILES)


class Probe(ABC):
    """Base class of every probe. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    default_ports: ClassVar[tuple[int, ...]]
    transport: ClassVar[Transport] = Transport.TCP
    intrusive: ClassVar[bool] = False
    description: ClassVar[str]

    def claims_port(self, port: int, transport: Transport) -> bool:
        """Does this probe run on ``port`` by default?"""
        return transport == self.transport and port in self.default_ports

    def matches_greeting(self, greeting: bytes) -> bool:
        """Cheap detection on unclaimed ports from what the server sent first."""
        return False

    async def detect(self, service: ServiceInfo, ctx: ProbeContext) -> bool:
        """Detection for unclaimed ports where the client speaks first (HTTP, SMB, ...).

        Only called when no probe matched the greeting; must be cheap (one small exchange).
        """
        return self.matches_greeting(service.greeting)

    @abstractmethod
    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        """Probe one service and return how the attempt ended, with its findings."""


def not_applicable(detail: str = "not this protocol") -> ProbeResult:
    return ProbeResult(status=Status.NOT_APPLICABLE, detail=detail)


def result_for_exception(
    exc: Exception,
    *,
    protocol_errors: tuple[type[BaseException], ...] = (),
    timeout_detail: str = "timed out",
) -> ProbeResult:
    """The one mapping from what ended a probe attempt to its ``Status``: probes call it from
    ``run`` so that they never raise and all say the same thing for the same failure."""
    if isinstance(exc, OutOfScopeError):
        return ProbeResult(status=Status.ERROR, detail=str(exc))
    if isinstance(exc, ConnectionRefusedError):
        return ProbeResult(status=Status.REFUSED, detail="connection refused")
    if isinstance(exc, TimeoutError):
        return ProbeResult(status=Status.TIMEOUT, detail=timeout_detail)
    if protocol_errors and isinstance(exc, protocol_errors):
        return ProbeResult(status=Status.PROTOCOL_ERROR, detail=str(exc)[:300])
    return ProbeResult(status=Status.ERROR, detail=f"{type(exc).__name__}: {exc}"[:300])
