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

import dataclasses
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from scanner.dialer import Dialer, OutOfScopeError
from scanner.models import ProbeResult, ServiceInfo, Status, Transport
from scanner.protocols.http_cache import ResponseCache

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
    responses: ResponseCache | None = None
    """The HTTP answers of the service being probed, shared by its probes (one fetch per
    resource; ``scanner.protocols.http_cache``). The engine gives each service its own
    (``for_service``); a probe passes it to its ``HttpTarget`` and never fills it itself."""

    def for_service(self) -> ProbeContext:
        """This context with a fresh response cache: one per service, made by the engine."""
        return dataclasses.replace(self, responses=ResponseCache())

    def for_probe(self, probe: str) -> ProbeContext:
        """This context with ``<probe>.max_depth`` / ``<probe>.max_requests`` applied to the
        bounds (``--probe-option http.max_requests=200``); itself when neither is given."""
        changes: dict[str, int] = {}
        for key, field_name in (("max_depth", "depth"), ("max_requests", "requests")):
            raw = self.options.get(f"{probe}.{key}")
            if raw is None:
                continue
            try:
                value = int(raw)
            except (TypeError, ValueError):
                continue
            if value >= 1:
                changes[field_name] = value
        if not changes:
            return self
        return dataclasses.replace(self, bounds=dataclasses.replace(self.bounds, **changes))

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


OptionType = Literal["int", "float", "bool", "str", "list"]
SECRET_WORDS = ("password", "passwd", "secret", "token", "key", "credential")
"""An option whose name contains one of these is a secret even if no probe declares it."""
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class ProbeOptionError(ValueError):
    """A ``--probe-option`` that names no declared option or holds a value of the wrong type."""


@dataclass(frozen=True)
class ProbeOption:
    """One option a probe declares: ``--probe-option <probe>.<name>=VALUE``.

    ``secret`` options (passwords, keys) are never written anywhere: not to the history, the
    resume checkpoint, reports or logs. ``list`` values are comma-separated on the command line.
    """

    name: str
    type: OptionType
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None

    def parse(self, value: Any) -> Any:
        """The typed value of ``value`` (a command-line string or a TOML value)."""
        try:
            out = self._convert(value)
        except (TypeError, ValueError, OverflowError):
            raise ProbeOptionError(f"expects {self.describe_type()}, got {value!r}") from None
        if self.choices and out not in self.choices:
            raise ProbeOptionError(f"expects one of {', '.join(self.choices)}, got {value!r}")
        if self.minimum is not None and out < self.minimum:
            raise ProbeOptionError(f"expects a value >= {self.minimum:g}, got {value!r}")
        return out

    def _convert(self, value: Any) -> Any:
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError(value)
        if self.type == "int":
            if isinstance(value, (bool, float)):
                raise TypeError(value)
            return int(str(value).strip(), 10)
        if self.type == "float":
            if isinstance(value, bool):
                raise TypeError(value)
            number = float(str(value).strip())
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError(value)
            return number
        if self.type == "list":
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            return [str(v).strip() for v in items if str(v).strip()]
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise TypeError(value)
        return str(value)

    def describe_type(self) -> str:
        return {"int": "an integer", "float": "a number", "bool": "true or false",
                "str": "a string", "list": "a comma-separated list"}[self.type]


COMMON_OPTIONS: tuple[ProbeOption, ...] = (
    ProbeOption("sample_files", "int", DEFAULT_SAMPLE_FILES,
                f"files read per resource with --sample-bytes (at most {MAX_SAMPLE_FILES})",
                minimum=0),
)
"""Options every probe takes."""


def is_secret_key(key: str, declared: ProbeOption | None = None) -> bool:
    """Is ``key`` (``probe.name``) a secret: declared so, or named like a password or key?"""
    if declared is not None and declared.secret:
        return True
    name = key.rpartition(".")[2].lower()
    return any(word in name for word in SECRET_WORDS)


def declared_options(probe: Probe) -> dict[str, ProbeOption]:
    """The options ``probe`` accepts, by full key (``smb.password``)."""
    return {f"{probe.name}.{o.name}": o for o in (*probe.options, *COMMON_OPTIONS)}


def find_option(key: str, probes: Mapping[str, Probe]) -> ProbeOption:
    """The declaration of ``key``; ``ProbeOptionError`` names what is wrong with it."""
    probe_name, dot, _ = key.partition(".")
    if not dot:
        raise ProbeOptionError(f"probe option {key!r} must be <probe>.<name>, e.g. nfs.uid")
    probe = probes.get(probe_name)
    if probe is None:
        raise ProbeOptionError(f"probe option {key!r}: no probe named {probe_name!r}")
    declared = declared_options(probe)
    if key not in declared:
        names = ", ".join(sorted(declared)) or "none"
        raise ProbeOptionError(f"unknown probe option {key!r} (known: {names})")
    return declared[key]


def parse_probe_options(
    items: Mapping[str, Any], probes: Mapping[str, Probe]
) -> dict[str, Any]:
    """Validate raw option values against the probes' declarations; typed values by key."""
    out: dict[str, Any] = {}
    for key, raw in items.items():
        option = find_option(key, probes)
        try:
            out[key] = option.parse(raw)
        except ProbeOptionError as exc:
            if is_secret_key(key, option):  # never echo a secret, not even a mistyped one
                raise ProbeOptionError(
                    f"bad probe option {key}: expects {option.describe_type()}") from None
            raise ProbeOptionError(f"bad probe option {key}={raw}: {exc}") from None
    return out


class Probe(ABC):
    """Base class of every probe. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    default_ports: ClassVar[tuple[int, ...]]
    transport: ClassVar[Transport] = Transport.TCP
    intrusive: ClassVar[bool] = False
    description: ClassVar[str]
    options: ClassVar[tuple[ProbeOption, ...]] = ()
    """The ``--probe-option`` keys this probe reads (without the ``<name>.`` prefix)."""
    generic: ClassVar[bool] = False
    """Its ``detect`` recognises a whole family that more specific probes detect too (HTTP:
    any web server, which an S3 API or a media server also is). On an unclaimed port a probe
    that ``refines`` it and recognises the service is preferred to it."""
    refines: ClassVar[str | None] = None
    """The generic probe whose family this one is a specific kind of (S3, DLNA: ``"http"``)."""

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

    def udp_payload(self, port: int) -> bytes | None:
        """UDP probes: the first datagram of a harmless question to ``port``, or None.

        With one, the engine's UDP pre-pass (``scanner.udpsweep``) sends it to every address in
        bulk and runs ``run`` only where the host answered; an ICMP refusal or silence ends the
        pair there. Without one, ``run`` is called for every address.
        """
        return None

    @abstractmethod
    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        """Probe one service and return how the attempt ended, with its findings."""


def not_applicable(detail: str = "not this protocol") -> ProbeResult:
    return ProbeResult(status=Status.NOT_APPLICABLE, detail=detail)


class NotApplicable(Exception):
    """Raised by a probe's gather: the service is not this probe's protocol (``not-applicable``)."""


class AuthRequired(Exception):
    """Raised by a probe's gather: the server demands credentials first (``auth-required``)."""


ExceptionTypes = tuple[type[BaseException], ...]


def status_for_exception(
    exc: BaseException,
    *,
    foreign_errors: ExceptionTypes = (),
    auth_errors: ExceptionTypes = (),
    protocol_errors: ExceptionTypes = (),
    timeout_detail: str = "timed out",
) -> tuple[Status, str]:
    """The one mapping from what ended a probe attempt (or one of its steps) to its ``Status``
    and detail; ``scanner.probe_skeleton.GatherJudgeProbe.cut_for`` and ``result_for_exception``
    both use it, so every probe says the same thing for the same failure."""
    if isinstance(exc, NotApplicable) or (foreign_errors and isinstance(exc, foreign_errors)):
        return Status.NOT_APPLICABLE, str(exc)[:200] or "not this protocol"
    if isinstance(exc, AuthRequired) or (auth_errors and isinstance(exc, auth_errors)):
        return Status.AUTH_REQUIRED, str(exc)[:300] or "authentication required"
    if isinstance(exc, OutOfScopeError):
        return Status.ERROR, str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return Status.REFUSED, "connection refused"
    if isinstance(exc, TimeoutError):
        return Status.TIMEOUT, timeout_detail
    if protocol_errors and isinstance(exc, protocol_errors):
        return Status.PROTOCOL_ERROR, str(exc)[:300]
    return Status.ERROR, f"{type(exc).__name__}: {exc}"[:300]


def result_for_exception(
    exc: Exception,
    *,
    protocol_errors: ExceptionTypes = (),
    timeout_detail: str = "timed out",
) -> ProbeResult:
    """``status_for_exception`` as a ``ProbeResult``, for probes that write their own ``run``
    (a ``GatherJudgeProbe`` never needs it)."""
    status, detail = status_for_exception(
        exc, protocol_errors=protocol_errors, timeout_detail=timeout_detail
    )
    return ProbeResult(status=status, detail=detail)
