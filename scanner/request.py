"""``ScanRequest``: every option of one scan, typed, in one place.

``nasscan scan`` builds one from its flags, a schedule job *is* one (plus its cron line and
alerts), and ``build()`` turns it into the engine's ``Scope`` and ``ScanOptions`` the same way
for both, so an option that works on the command line works in a schedule file too.

Field names follow the long CLI flags (``--probe-timeout`` -> ``probe_timeout``); a timing
template (``timing = "4"``) fills timeout, retries, rate, concurrency and per-host for the
fields not given explicitly, as ``-T4`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scanner.engine import ScanOptions, default_ports
from scanner.outputs import TIMING, TIMING_CHOICES, apply_timing
from scanner.ports import PortSpec, PortSpecError, parse_ports
from scanner.probe import ListingBounds, Probe
from scanner.registry import UnknownProbeError, select_probes
from scanner.targets import (
    Scope,
    TargetError,
    build_scope,
    parse_shard,
    read_target_file,
    split_specs,
)


class ScanRequestError(ValueError):
    """A request that cannot be scanned; the message names the offending value."""


class ScanRequest(BaseModel):
    """All options of one scan (see the README's command line for each one's meaning)."""

    model_config = ConfigDict(extra="forbid")

    targets: list[str] = Field(default_factory=list)
    input_list: str | None = None
    """A file of targets (``-iL``); ``-`` reads the stdin text given to ``build``."""
    exclude: list[str] = Field(default_factory=list)
    exclude_file: str | None = None
    ports: str | None = None
    probes: str | None = None
    """Probe names, ``all`` or ``none`` (discovery only); default: every installed probe."""
    timing: str | None = None
    rate: float | None = Field(default=None, gt=0)
    concurrency: int | None = Field(default=None, ge=1)
    timeout: float = Field(default=1.0, gt=0)
    """Connect timeout, seconds."""
    retries: int = Field(default=1, ge=0)
    probe_timeout: float = Field(default=60.0, gt=0)
    per_host: int = Field(default=8, ge=1)
    processes: int | None = Field(default=None, ge=1)
    seed: int = 0
    shard: str = "1/1"
    sample_bytes: int = Field(default=0, ge=0)
    rules: str | None = None
    probe_options: dict[str, Any] = Field(default_factory=dict)
    yes: bool = False
    liveness: bool = True
    """Judge hosts alive or silent and spare retries on silent ones (``--no-liveness``: off)."""
    connect: bool = False
    """Sweep with connect() only, never raw SYN (``--connect``)."""
    max_depth: int = Field(default=ListingBounds.depth, ge=1)
    """Directory levels a listing may descend (``--max-depth``)."""
    max_requests: int = Field(default=ListingBounds.requests, ge=1)
    """Listing requests per resource, a hard cap (``--max-requests``)."""

    @field_validator("timing")
    @classmethod
    def _known_timing(cls, value: str | None) -> str | None:
        if value is not None and value not in TIMING_CHOICES:
            names = ", ".join(t.name for t in TIMING.values())
            raise ValueError(f"unknown timing template {value!r} (0-5 or {names})")
        return value

    def timed(self, explicit: set[str] | None = None) -> Self:
        """This request with its timing template applied to the fields not set explicitly
        (default: the fields given when it was made)."""
        given = self.model_fields_set if explicit is None else explicit
        values = apply_timing(self.model_dump(), set(given))
        return type(self).model_validate(values)

    # -- parts ----------------------------------------------------------------------------------
    def probe_list(self) -> list[Probe]:
        if self.probes is not None and self.probes.strip() == "none":
            return []
        try:
            return select_probes(self.probes)
        except UnknownProbeError as exc:
            raise ScanRequestError(str(exc)) from None

    def port_spec(self, probes: list[Probe]) -> PortSpec:
        try:
            spec = parse_ports(self.ports) if self.ports is not None else default_ports(probes)
        except PortSpecError as exc:
            raise ScanRequestError(str(exc)) from None
        if not spec:
            raise ScanRequestError("no ports to scan")
        return spec

    async def scope(self, stdin_text: str | None = None) -> Scope:
        try:
            tokens = split_specs(self.targets)
            if self.input_list is not None:
                tokens += read_target_file(self.input_list, stdin_text)
            if not tokens:
                raise ScanRequestError("no targets given (TARGET... or -iL FILE)")
            ex_tokens = split_specs(self.exclude)
            if self.exclude_file is not None:
                ex_tokens += read_target_file(self.exclude_file)
            scope = await build_scope(tokens, ex_tokens)
        except TargetError as exc:
            raise ScanRequestError(str(exc)) from None
        why = scope.needs_confirmation()
        if why and not self.yes:
            raise ScanRequestError(f"refusing to scan: {why}")
        return scope

    def typed_probe_options(self) -> dict[str, Any]:
        """Probe options typed and validated against the probes' declarations (the same from a
        schedule file as from ``--probe-option``); secret ones are filled in later, by
        ``scanner.credentials``, and never kept here."""
        from scanner.probe import ProbeOptionError, parse_probe_options
        from scanner.registry import load_probes

        try:
            return parse_probe_options(self.probe_options, load_probes())
        except ProbeOptionError as exc:
            raise ScanRequestError(str(exc)) from None

    def rule_set(self) -> Any:
        if self.rules is None:
            return None
        if not Path(self.rules).is_file():
            raise ScanRequestError(f"cannot read rules file: {self.rules!r}")
        from scanner.classify.rules import load_rules

        try:
            return load_rules([self.rules])
        except ValueError as exc:  # RuleError: its message names the file, rule and problem
            raise ScanRequestError(f"bad rules file: {exc}") from None
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise ScanRequestError(f"bad rules file {self.rules!r}: {first}") from None

    def options(self, probes: list[Probe] | None = None) -> ScanOptions:
        """The engine's options (validates probes, ports, shard and rules)."""
        probes = self.probe_list() if probes is None else probes
        try:
            shard = parse_shard(self.shard)
        except TargetError as exc:
            raise ScanRequestError(str(exc)) from None
        return ScanOptions(
            ports=self.port_spec(probes),
            probes=probes,
            seed=self.seed,
            shard=shard,
            concurrency=self.concurrency,
            rate=self.rate,
            connect_timeout=self.timeout,
            read_timeout=max(5.0, self.timeout),
            retries=self.retries,
            liveness=self.liveness,
            sweep="connect" if self.connect else "auto",
            probe_timeout=self.probe_timeout,
            per_host=self.per_host,
            processes=self.processes,
            sample_bytes=self.sample_bytes,
            bounds=ListingBounds(depth=self.max_depth, requests=self.max_requests),
            probe_options=self.typed_probe_options(),
            rules=self.rules,
            rule_set=self.rule_set(),
        )

    async def build(self, stdin_text: str | None = None) -> tuple[Scope, ScanOptions]:
        """Scope and engine options; raises ``ScanRequestError`` naming the bad value. Every
        option is checked before any name is resolved or any packet sent."""
        options = self.options()
        scope = await self.scope(stdin_text)
        return scope, options
