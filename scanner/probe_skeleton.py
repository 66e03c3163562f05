"""The probe skeleton: a probe is ``gather`` (talks) then ``judge`` (decides).

Write a probe by subclassing ``GatherJudgeProbe[MyFacts]``::

    @dataclass
    class EchoFacts(Facts):               # what the server said; every field has a default
        banner: str = ""
        anonymous: bool | None = None     # None: not tried yet (the probe was cut before)

    class EchoProbe(GatherJudgeProbe[EchoFacts]):
        name = "echo"
        default_ports = (7,)
        description = "echo: anonymous access"
        facts_type = EchoFacts
        protocol_errors = (EchoProtocolError,)

        async def gather(self, service, ctx, facts, deadline):   # I/O only, may raise
            async with ctx.dialer.tcp(service.host, service.port) as conn:
                facts.banner = (await conn.recv_line()).decode("latin-1")
                facts.anonymous = await login(conn, "anonymous")

        def judge(self, facts, cut):                              # pure: no I/O, no clock
            if not facts.banner:
                return cut.result() if cut else not_applicable("no banner")
            findings = []
            if facts.anonymous:
                findings.append(self.unauthenticated(facts, "/", "echo lets anyone in",
                                                     remediation="Turn anonymous off."))
            return ProbeResult(status=cut.status if cut else Status.SUCCESS, protocol="echo",
                               findings=findings, detail=cut.detail if cut else None)

What the base (``GatherJudgeProbe.run``, final) does for every probe:

1. ``facts = self.new_facts(service, ctx)`` (default: ``facts_type(service=service)``);
2. **one deadline rule**: ``gather`` runs until ``Deadline.for_context(ctx)``, i.e.
   ``GATHER_SHARE`` (90 %) of ``ctx.timeout``; the rest is the margin in which the base judges
   and returns before the engine's own cut-off at ``ctx.timeout``. A probe never computes
   ``ctx.timeout * x`` itself: it reads ``deadline.left()`` / ``deadline.expired()`` and gives
   sub-steps ``deadline.sooner(seconds)`` or ``deadline.timeout(cap)``;
3. **one exception -> status mapping** (``GatherJudgeProbe.cut_for``, i.e.
   ``scanner.probe.status_for_exception``), configured per probe by
   the class attributes ``foreign_errors`` (not this protocol: ``not-applicable``),
   ``auth_errors`` (``auth-required``), ``protocol_errors`` (``protocol-error``) and
   ``timeout_detail``; ``ConnectionRefusedError`` is ``refused``, ``TimeoutError`` (the deadline
   too) ``timeout``, anything else ``error``. ``NotApplicable`` / ``AuthRequired`` may be raised
   by ``gather`` on purpose;
4. **partial results**: ``gather`` fills ``facts`` as it goes, so whatever stopped it (deadline,
   exception), ``judge(facts, cut)`` still sees everything gathered so far and decides what is
   proven; ``cut`` says how it stopped (``None``: gather returned normally). Only a
   ``not-applicable`` cut skips the judge (nothing about the service is worth keeping);
5. ``run`` never raises (cancellation excepted): a judge that raises is an ``error`` result.

Findings: build them with ``self.finding`` / ``self.cleartext`` / ``self.unauthenticated``
(host, hostname, port, transport, protocol and probe come from ``facts.service`` and the probe),
never ``Finding(...)`` by hand. ``--sample-bytes`` evidence: one ``Samples`` per resource, filled
in ``gather``, ``samples.evidence()`` in ``judge``. Options: declare ``ProbeOption``s in
``options`` and read them with ``self.option(ctx, "name")`` (typed, declared default).

Tests: ``judge`` gets unit tests with facts built in the test (``tests/probes/<name>/
test_judge.py``); ``gather`` is tested against the real daemons of the lab.

This module's names (``GatherJudgeProbe``, ``Facts``, ``Cut``, ``Deadline``, ``Samples``,
``NotApplicable``, ``AuthRequired``, ``GATHER_SHARE``) are the stable API other probes build on.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, cast, final

from scanner.classify.magic import sniff_evidence
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Finding,
    Kind,
    Listing,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.probe import (
    COMMON_OPTIONS,
    MAX_SAMPLE_FILES,
    MAX_SAMPLE_READ,
    AuthRequired,
    NotApplicable,
    Probe,
    ProbeContext,
    ProbeOptionError,
    status_for_exception,
)

__all__ = [
    "GATHER_SHARE",
    "AuthRequired",
    "Cut",
    "Deadline",
    "Facts",
    "GatherJudgeProbe",
    "NotApplicable",
    "Samples",
]

GATHER_SHARE = 0.9
"""The one deadline rule: ``gather`` may use this share of ``ctx.timeout``; the rest is the
margin in which the partial facts are judged before the engine cuts the attempt off."""


@dataclass(frozen=True)
class Deadline:
    """When ``gather`` must be done (``time.monotonic()`` clock, the event loop's clock too)."""

    at: float
    """Absolute time (``time.monotonic()``)."""
    total: float
    """The whole gather budget in seconds, as it was when the deadline was set."""

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        seconds = max(0.0, float(seconds))
        return cls(time.monotonic() + seconds, seconds)

    @classmethod
    def for_context(cls, ctx: ProbeContext) -> Deadline:
        """The deadline of one probe attempt: ``GATHER_SHARE`` of ``ctx.timeout`` from now."""
        return cls.after(ctx.timeout * GATHER_SHARE)

    def left(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def sooner(self, seconds: float) -> Deadline:
        """A sub-step's own deadline: ``seconds`` from now, but never after this one."""
        now = time.monotonic()
        return Deadline(min(self.at, now + max(0.0, seconds)), self.total)

    def timeout(self, cap: float, floor: float = 0.3) -> float:
        """A per-request timeout: the time left, at most ``cap``, at least ``floor``."""
        return max(floor, min(cap, self.left()))


@dataclass
class Facts:
    """Base of every probe's facts: what ``gather`` saw, plain data, filled as it goes.

    Subclasses add fields, each with a default (``None`` / empty = not seen yet), so a probe cut
    short still hands a consistent object to ``judge``. Keep live objects (connections,
    clients) out of it; data objects filled incrementally (``CrawlResult``) are fine.
    """

    service: ServiceInfo


F = TypeVar("F", bound=Facts)


@dataclass(frozen=True)
class Cut:
    """Why ``gather`` stopped before returning, as the base mapped it: the status and detail the
    attempt ends with unless ``judge`` decides otherwise, and the exception's type name."""

    status: Status
    detail: str
    error: str = ""
    """The exception's class name (``TimeoutError`` when the deadline hit)."""

    def result(self, **fields: Any) -> ProbeResult:
        """A ``ProbeResult`` with this status and detail (``fields``: protocol, findings ...)."""
        return ProbeResult(status=self.status, detail=self.detail, **fields)


@dataclass
class Samples:
    """What ``--sample-bytes`` read of one resource: ``gather`` fills it, ``judge`` turns it into
    the finding's evidence with ``evidence()`` (the same keys for every probe).

    ``size`` is the bytes per file shown as ``evidence["sample_bytes"]``; ``files`` how many
    files to read per resource; ``note`` a caveat shown as ``evidence["sample_note"]``. The
    optional counters appear in the evidence only when set (not ``None``).
    """

    size: int = 0
    files: int = 0
    note: str | None = None
    data: dict[str, bytes] = field(default_factory=dict)
    """First bytes by path, in the order read."""
    errors: dict[str, str] = field(default_factory=dict)
    """Why a chosen file was not read, by path (``*``: the whole sampling)."""
    requests: int | None = None
    """Requests sent for samples (HTTP-like probes)."""
    ranged: dict[str, str] | None = None
    """Whether the server honoured the byte range, by path (HTTP-like probes)."""
    aborted: int | None = None
    """Transfers aborted after the first bytes (FTP)."""

    @classmethod
    def for_context(
        cls, ctx: ProbeContext, probe: str, *, cap: int = MAX_SAMPLE_READ, unit: str = "file"
    ) -> Samples:
        """Sampling as ``--sample-bytes N`` and ``<probe>.sample_files`` ask: ``size`` =
        min(N, cap); a note when N was more than ``cap``. ``size == 0``: sampling is off."""
        size, files = ctx.sample_settings(probe, cap)
        given = max(0, int(ctx.sample_bytes or 0))
        note = f"at most {cap} bytes are read per {unit}" if given > size > 0 else None
        return cls(size=size, files=files, note=note)

    @property
    def on(self) -> bool:
        """Are files to be read at all?"""
        return self.size > 0 and self.files > 0

    def evidence(self) -> dict[str, Any]:
        """The finding's ``--sample-bytes`` evidence (intrusive, so the finding says so)."""
        ev: dict[str, Any] = {
            "intrusive": ["sample-bytes"],
            "sample_bytes": self.size,
            "sampled_files": len(self.data),
        }
        if self.requests is not None:
            ev["sample_requests"] = self.requests
        if self.data:
            ev["sniffed"] = sniff_evidence(self.data)
            if self.aborted is not None:
                ev["sample_aborted"] = self.aborted
            if self.ranged is not None:
                ev["sample_range"] = dict(list(self.ranged.items())[:MAX_SAMPLE_FILES])
        if self.errors:
            ev["sample_errors"] = dict(list(self.errors.items())[:4])
        if self.note:
            ev["sample_note"] = self.note
        return ev


class GatherJudgeProbe(Probe, Generic[F]):
    """Base of gather/judge probes; see the module docstring. Subclasses set the ``Probe``
    class attributes plus ``facts_type``, implement ``gather`` and ``judge``, never ``run``."""

    facts_type: ClassVar[type[Facts]] = Facts
    """The facts dataclass ``new_facts`` makes (``facts_type(service=service)``)."""
    protocol: ClassVar[str] = ""
    """The protocol written into findings (empty: the probe's ``name``)."""
    foreign_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    """Exceptions meaning "not this protocol": ``not-applicable``."""
    auth_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    """Exceptions meaning "credentials demanded": ``auth-required``."""
    protocol_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    """Exceptions meaning "the server broke the protocol": ``protocol-error``."""
    timeout_detail: ClassVar[str] = "timed out"
    """The detail of a ``timeout`` (the deadline or an I/O timeout)."""

    # -- what a probe implements ----------------------------------------------------------------
    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> F:
        """An empty facts object for one attempt (override to copy settings from ``ctx``)."""
        return cast(F, self.facts_type(service=service))

    @abstractmethod
    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: F, deadline: Deadline
    ) -> None:
        """Talk to the service through ``ctx.dialer`` and record what it says in ``facts``, as
        soon as it is seen. May raise; the base maps the exception and still judges."""

    @abstractmethod
    def judge(self, facts: F, cut: Cut | None) -> ProbeResult:
        """Pure: the attempt's status and findings from ``facts``. ``cut`` is how ``gather``
        stopped early (None: it returned), so a partial attempt reports what it proved."""

    # -- what the base provides -----------------------------------------------------------------
    @final
    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        """gather under the deadline, map what stopped it, judge; never raises."""
        try:
            facts = self.new_facts(service, ctx)
        except Exception as exc:
            return self.cut_for(exc).result()
        deadline = Deadline.for_context(ctx)
        cut: Cut | None = None
        try:
            async with asyncio.timeout(deadline.left()):
                await self.gather(service, ctx, facts, deadline)
        except Exception as exc:  # TimeoutError of the deadline included
            cut = self.cut_for(exc)
        if cut is not None and cut.status is Status.NOT_APPLICABLE:
            return cut.result()
        try:
            return self.judge(facts, cut)
        except Exception as exc:
            return ProbeResult(
                status=Status.ERROR, detail=f"judge raised {type(exc).__name__}: {exc}"[:300]
            )

    def cut_for(self, exc: BaseException) -> Cut:
        """The one mapping (``scanner.probe.status_for_exception``) from what stopped an attempt
        (or one of its steps) to a status, with this probe's exception classes."""
        status, detail = status_for_exception(
            exc, foreign_errors=self.foreign_errors, auth_errors=self.auth_errors,
            protocol_errors=self.protocol_errors, timeout_detail=self.timeout_detail,
        )  # fmt: skip
        return Cut(status, detail, type(exc).__name__)

    def option(self, ctx: ProbeContext, name: str, default: Any = ...) -> Any:
        """The typed value of this probe's declared option ``name``: as given on the command
        line (parsed by its ``ProbeOption``), else ``default`` when passed, else the declared
        default. A value that does not parse also falls back. ``KeyError`` if undeclared."""
        declared = {o.name: o for o in (*self.options, *COMMON_OPTIONS)}[name]
        fallback = declared.default if default is ... else default
        raw = ctx.options.get(f"{self.name}.{name}")
        if raw is None:
            return fallback
        try:
            return declared.parse(raw)
        except ProbeOptionError:
            return fallback

    # -- findings -------------------------------------------------------------------------------
    @property
    def protocol_name(self) -> str:
        return self.protocol or self.name

    def finding(self, facts: Facts, kind: Kind, title: str, **fields: Any) -> Finding:
        """A finding about ``facts.service``: the common fields filled in, ``fields`` the rest
        (authentication, encryption, resource, access, evidence, remediation, listing, and
        ``protocol`` when it differs from the probe's)."""
        s = facts.service
        fields.setdefault("protocol", self.protocol_name)
        return Finding(
            host=s.host, hostname=s.hostname, port=s.port, transport=s.transport,
            kind=kind, title=title, probe=self.name, **fields,
        )  # fmt: skip

    def cleartext(
        self,
        facts: Facts,
        title: str,
        *,
        remediation: str,
        evidence: dict[str, Any] | None = None,
        authentication: Authentication = Authentication.NONE,
        encryption: Encryption = Encryption.NONE,
        resource: str | None = None,
        **fields: Any,
    ) -> Finding:
        """The ``cleartext-transport`` finding of a service that talks without encryption."""
        return self.finding(
            facts, Kind.CLEARTEXT_TRANSPORT, title, remediation=remediation,
            evidence=evidence or {}, authentication=authentication, encryption=encryption,
            resource=resource, **fields,
        )  # fmt: skip

    def unauthenticated(
        self,
        facts: Facts,
        resource: str | None,
        title: str,
        *,
        remediation: str,
        access: Access | None = None,
        evidence: dict[str, Any] | None = None,
        listing: Listing | None = None,
        authentication: Authentication = Authentication.NONE,
        encryption: Encryption = Encryption.UNKNOWN,
        **fields: Any,
    ) -> Finding:
        """The ``unauthenticated-access`` finding of one resource (share, export, module ...),
        with its bounded listing when one was made."""
        return self.finding(
            facts, Kind.UNAUTHENTICATED_ACCESS, title, resource=resource, access=access,
            remediation=remediation, evidence=evidence or {}, listing=listing,
            authentication=authentication, encryption=encryption, **fields,
        )  # fmt: skip
