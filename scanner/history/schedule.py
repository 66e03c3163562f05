"""Scheduled scans: a TOML file of named jobs, each with a cron expression and alert destinations.

A job is a ``ScanRequest`` (every option of ``nasscan scan``, named as its long flags) plus a
five-field cron line (UTC) and alerts. ``nasscan schedule check CONFIG`` validates every job and
shows its next fire times; ``nasscan schedule run CONFIG`` runs in the foreground as a
long-lived service (systemd unit or container), one log line per fired job; a job whose
previous run is still going is skipped, never run twice at once. ``nasscan schedule once
CONFIG JOB`` runs one job now.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scanner.diff import diff_findings
from scanner.history.store import Store
from scanner.models import Finding, Severity
from scanner.request import ScanRequest

log = logging.getLogger("nasscan.schedule")


class ScheduleConfigError(ValueError):
    """A schedule file that cannot be used; the message names the file and the problem."""


class AlertConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook: str
    threshold: Severity = Severity.HIGH
    attempts: int = Field(default=3, ge=1, le=10)
    timeout: float = Field(default=10.0, gt=0, le=120)


class FleetJobConfig(BaseModel):
    """``[jobs.NAME.fleet]``: submit the job to fleet workers (broker: ``NASSCAN_BROKER``)."""

    model_config = ConfigDict(extra="forbid")
    queue: str = "default"
    shards: int = Field(default=1, ge=1, le=4096)
    routes: dict[str, str] = Field(default_factory=dict)
    """CIDR -> queue, as ``fleet submit --route CIDR=QUEUE``."""
    wait: float = Field(default=86400.0, gt=0)
    """Seconds to wait for the parts before comparing and alerting on what was found."""


class JobConfig(ScanRequest):
    """One scheduled scan: every ``ScanRequest`` option, a cron line and alerts."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""
    targets: list[str] = Field(min_length=1)
    cron: str
    alerts: list[AlertConfig] = Field(default_factory=list)
    probe_options: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict)
    """``"nfs.uid" = 1000``; a secret one only in a file readable by its owner alone."""
    secrets: list[str] = Field(default_factory=list)
    """Secret probe options this job needs from the environment or the secrets file
    (``NASSCAN_SMB_PASSWORD``...): a run without one of them fails and says which."""
    fleet: FleetJobConfig | None = None
    """``[jobs.NAME.fleet]``: run on fleet workers instead of here."""

    def recordable(self) -> dict[str, Any]:
        """What the history keeps of this job: no secret option, no webhook URL."""
        from scanner.probe import is_secret_key
        from scanner.redact import redact_webhook

        data = self.model_dump(mode="json")
        data["probe_options"] = {k: v for k, v in self.probe_options.items()
                                 if not is_secret_key(k)}
        for alert in data["alerts"]:
            alert["webhook"] = redact_webhook(alert["webhook"])
        return data

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        fields = value.split()
        if not value.strip().startswith("@") and len(fields) != 5:
            extra = (" (a sixth field would be read as seconds: '*/20 * * * * *' fires every "
                     "20 seconds)" if len(fields) == 6 else "")
            raise ValueError(
                f"cron {value!r} has {len(fields)} fields; use five: minute hour "
                f"day-of-month month day-of-week{extra}"
            )
        if not croniter.is_valid(value):
            raise ValueError(f"not a cron expression: {value!r}")
        return value

    def next_fires(self, after: datetime, count: int = 5) -> list[datetime]:
        it = croniter(self.cron, after)
        return [it.get_next(datetime) for _ in range(count)]


class ScheduleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    db: str | None = None
    jobs: dict[str, JobConfig] = Field(min_length=1)


def load_schedule(path: Path) -> ScheduleConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScheduleConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        config = ScheduleConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ScheduleConfigError(f"{path}: {where}: {first['msg']}") from exc
    for name, job in list(config.jobs.items()):
        job.name = name
        _check_probe_options(path, job)
        config.jobs[name] = job.timed()  # a timing template fills what the job leaves out
    return config


def _check_probe_options(path: Path, job: JobConfig) -> None:
    """Keys and values as ``--probe-option`` checks them; secrets only in an owner-only file."""
    from scanner.credentials import CredentialError, check_owner_only
    from scanner.probe import ProbeOptionError, is_secret_key, parse_probe_options
    from scanner.registry import load_probes

    probes = load_probes()
    try:
        parse_probe_options(job.probe_options, probes)
        parse_probe_options({k: "" for k in job.secrets if k not in job.probe_options}, probes)
        if any(is_secret_key(k) for k in job.probe_options):
            check_owner_only(path)
    except (ProbeOptionError, CredentialError) as exc:
        raise ScheduleConfigError(f"{path}: jobs.{job.name}: {exc}") from None


# A scan function records one scan of ``job`` into the store and returns its id.
ScanFn = Callable[[JobConfig, Store], Awaitable[str]]


@dataclass
class JobOutcome:
    job: str
    scan_id: str
    new: list[Finding] = field(default_factory=list)
    alerted: list[bool] = field(default_factory=list)
    first_run: bool = False
    """No earlier scan of the same scope: the alert was one summary, not the findings."""
    counts: Counter[Severity] = field(default_factory=Counter)
    """Every finding of this scan by severity."""

    def describe(self) -> str:
        order = sorted(self.counts, key=lambda s: -s.rank)
        detail = ", ".join(f"{self.counts[s]} {s.value}" for s in order)
        total = sum(self.counts.values())
        text = f"scan {self.scan_id}, {total} findings" + (f" ({detail})" if detail else "")
        text += ", first run (baseline)" if self.first_run else f", {len(self.new)} new"
        return text


async def run_job(job: JobConfig, store: Store, scan: ScanFn) -> JobOutcome:
    """Scan, compare with the previous scan of the same scope, alert on what is new.

    The first run of a job has nothing to compare with: it sends one summary per alert (what is
    exposed, by service) instead of every finding as new."""
    scan_id = await scan(job, store)
    previous = store.previous_of_same_scope(scan_id)
    current = store.findings(scan_id)
    new = diff_findings(store.findings(previous), current).new if previous else current
    outcome = JobOutcome(job=job.name, scan_id=scan_id, new=new, first_run=previous is None,
                         counts=Counter(f.severity for f in current))
    from scanner.history.alerts import (
        alert_payload,
        post_alert,
        select_for_alert,
        summary_payload,
    )

    for alert in job.alerts:
        chosen = select_for_alert(new, alert.threshold)
        if not chosen:
            continue
        payload = (summary_payload(job.name, scan_id, chosen) if outcome.first_run
                   else alert_payload(job.name, scan_id, chosen))
        ok = await post_alert(alert.webhook, payload, attempts=alert.attempts,
                              timeout=alert.timeout)
        outcome.alerted.append(ok)
    return outcome


class Scheduler:
    """Fires jobs at their cron times; a job still running at its next time is skipped."""

    def __init__(self, config: ScheduleConfig, store: Store, scan: ScanFn,
                 say: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.store = store
        self.scan = scan
        self.say = say or (lambda line: log.info("%s", line))
        """Where the one line per fired job goes (the CLI prints it with a timestamp)."""
        self.due: dict[str, datetime] = {}
        self.running: set[str] = set()
        self.skipped: list[str] = []
        self.outcomes: list[JobOutcome] = []

    def next_fire(self, job: JobConfig, after: datetime) -> datetime:
        nxt: datetime = croniter(job.cron, after).get_next(datetime)
        return nxt

    def _next_text(self, name: str) -> str:
        when = self.due.get(name)
        return when.isoformat().replace("+00:00", "Z") if when else "?"

    async def _run(self, job: JobConfig) -> None:
        self.running.add(job.name)
        try:
            outcome = await run_job(job, self.store, self.scan)
            self.outcomes.append(outcome)
            self.say(f"job {job.name}: {outcome.describe()}; next {self._next_text(job.name)}")
        except Exception as exc:
            log.debug("job %s failed", job.name, exc_info=True)
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.say(f"job {job.name}: FAILED: {first}; next {self._next_text(job.name)}")
        finally:
            self.running.discard(job.name)

    async def serve(self, *, max_fires: int | None = None, until: datetime | None = None) -> None:
        """Run until cancelled, or after ``max_fires`` fire times, or at ``until``."""
        now = datetime.now(UTC)
        due = self.due
        due.update({name: self.next_fire(job, now) for name, job in self.config.jobs.items()})
        for name in sorted(due):
            self.say(f"job {name}: first run {self._next_text(name)}")
        tasks: set[asyncio.Task[None]] = set()
        fires = 0
        try:
            while max_fires is None or fires < max_fires:
                name = min(due, key=lambda n: due[n])
                when = due[name]
                if until is not None and when > until:
                    break
                delay = (when - datetime.now(UTC)).total_seconds()
                if delay > 0:
                    await asyncio.sleep(delay)
                fires += 1
                job = self.config.jobs[name]
                due[name] = self.next_fire(job, max(when, datetime.now(UTC)))
                if name in self.running:
                    self.say(f"job {name}: still running at {when.isoformat()}, this run "
                             f"skipped; next {self._next_text(name)}")
                    self.skipped.append(name)
                    continue
                task = asyncio.create_task(self._run(job))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
