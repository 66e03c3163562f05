"""The one typed model of what a scan finds. Every output format is derived from it.

A probe returns a ``ProbeResult`` (a status from a fixed vocabulary plus findings); the engine
attaches it to the ``Service`` it probed and collects everything in a ``Report``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    computed_field,
    model_serializer,
)

from scanner.masking import mask_data


class Status(StrEnum):
    """How one probe attempt ended (zgrab2's idea): probes return one of these, never raise."""

    SUCCESS = "success"
    NOT_APPLICABLE = "not-applicable"
    AUTH_REQUIRED = "auth-required"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol-error"
    ERROR = "error"


class Transport(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class Kind(StrEnum):
    UNAUTHENTICATED_ACCESS = "unauthenticated-access"
    CLEARTEXT_TRANSPORT = "cleartext-transport"
    ENCRYPTION_OPTIONAL = "encryption-optional"
    LEGACY_PROTOCOL = "legacy-protocol"
    SIGNING_NOT_REQUIRED = "signing-not-required"


class Authentication(StrEnum):
    NONE = "none"
    ANONYMOUS = "anonymous"
    GUEST = "guest"
    REQUIRED = "required"
    UNKNOWN = "unknown"


class Encryption(StrEnum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"
    UNKNOWN = "unknown"


class Access(StrEnum):
    LIST = "list"
    READ = "read"
    WRITE = "write"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: info=0 ... critical=4."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class _MaskedOutput(BaseModel):
    """Final guard: every serialised output (JSON, JSONL, CSV, history) masks personal identity
    numbers (``19790312-XXXX``), even in strings triage never saw (banners, errors)."""

    @model_serializer(mode="wrap")
    def _mask_personal_ids(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        # No return annotation on purpose: pydantic then keeps the model's own JSON schema.
        return mask_data(handler(self))


class Entry(BaseModel):
    """One file or directory seen in a bounded listing (no file bodies)."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int | None = None
    mtime: str | None = None
    is_dir: bool = False


class Listing(BaseModel):
    """What a probe could list of one resource, within the scan's bounds."""

    entries: list[Entry] = Field(default_factory=list)
    truncated: bool = False
    """True when a bound (depth, entries, bytes, requests) stopped the crawl: 'at least N'."""
    partial: str | None = None
    """Why part of the resource could not be listed (timeout, protocol error, bad page)."""
    skipped: int = 0
    """Malformed entries skipped (absurd sizes, undecodable names, ...)."""
    loops: int = 0
    """Directories, pages or tokens not followed again (self links, cycles, repeated tokens)."""
    duplicates: int = 0
    directories_listed: int | None = None
    directories_seen: int | None = None
    requests: int | None = None
    bytes_read: int | None = None
    stopped_by: str | None = None
    """The bound that stopped the crawl: requests, bytes, entries, depth, time, error."""
    estimate: dict[str, Any] | None = None
    """``scanner.crawl.Estimate`` as data, only when a bound stopped the crawl."""


class Finding(_MaskedOutput):
    """One exposure. 'No authentication' and 'no encryption' are always separate findings."""

    host: str
    hostname: str | None = None
    port: int
    transport: Transport = Transport.TCP
    protocol: str
    kind: Kind
    authentication: Authentication = Authentication.UNKNOWN
    encryption: Encryption = Encryption.UNKNOWN
    resource: str | None = None
    access: Access | None = None
    severity: Severity = Severity.INFO
    title: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    remediation: str = ""
    probe: str | None = None
    baseline: Literal["new", "known"] | None = None
    """With ``--baseline``: whether the baseline already had this finding (by ``id``)."""
    listing: Listing | None = Field(default=None, exclude=True)
    """Raw bounded listing for triage; summarised into ``evidence``, never serialised itself."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """Stable across scans: a hash of host, port, protocol, kind and resource."""
        key = "|".join(
            [self.host, str(self.port), self.protocol, self.kind.value, self.resource or ""]
        )
        return hashlib.sha256(key.encode()).hexdigest()[:16]


class ServiceInfo(BaseModel):
    """What the engine hands a probe: an open port and what was learned cheaply about it."""

    host: str
    hostname: str | None = None
    port: int
    transport: Transport = Transport.TCP
    tls: bool | None = None
    """True/False when known (e.g. a TLS handshake was tried), None when not yet known."""
    greeting: bytes = b""
    """The first bytes the server sent unprompted (bounded), empty if it waits for the client."""


class ProbeResult(BaseModel):
    """How one probe's attempt on one service ended."""

    status: Status
    protocol: str | None = None
    """The protocol identified, when the probe recognised the service."""
    tls: bool | None = None
    findings: list[Finding] = Field(default_factory=list)
    detail: str | None = None
    """A short human-readable reason, e.g. the error or the refusal message."""
    info: dict[str, Any] = Field(default_factory=dict)
    """Service facts worth keeping that are not findings (dialects, server banner, ...)."""


class Service(_MaskedOutput):
    """An open port in the report, with every probe's status on it."""

    host: str
    hostname: str | None = None
    port: int
    transport: Transport = Transport.TCP
    protocol: str | None = None
    tls: bool | None = None
    banner: str | None = None
    probes: dict[str, Status] = Field(default_factory=dict)
    details: dict[str, str] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)


def host_order(host: str) -> tuple[int, int]:
    """Sort key for addresses: IPv4 numerically, then IPv6, then anything else."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))


def finding_order(f: Finding) -> tuple[int, tuple[int, int], int, str]:
    """The order of findings in every report: worst first, then by host, port and id."""
    return (-f.severity.rank, host_order(f.host), f.port, f.id)


class ScannerInfo(BaseModel):
    name: str = "nasscan"
    version: str


def utcnow() -> datetime:
    return datetime.now(UTC)


class Report(_MaskedOutput):
    scanner: ScannerInfo
    started_at: datetime
    finished_at: datetime | None = None
    scope: dict[str, Any] = Field(default_factory=dict)
    """Targets, exclusions, ports and probes as given, plus counts."""
    services: list[Service] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    aborted: bool = False

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)
