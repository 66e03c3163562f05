"""Scheduled scans: a TOML file of named jobs, each with a cron expression and alert destinations.

``nasscan schedule run CONFIG`` runs in the foreground as a long-lived service (systemd unit or
container); a job whose previous run is still going is skipped, never run twice at once.
``nasscan schedule once CONFIG JOB`` runs one job now.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scanner.history.diff import diff_findings
from scanner.history.store import Store
from scanner.models import Finding, Severity

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


class JobConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    targets: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    ports: str | None = None
    probes: str | None = None
    rate: float | None = None
    concurrency: int | None = None
    timeout: float | None = None
    yes: bool = False
    cron: str
    alerts: list[AlertConfig] = Field(default_factory=list)
    fleet: FleetJobConfig | None = None

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"not a cron expression: {value!r}")
        return value


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
    for name, job in config.jobs.items():
        job.name = name
    return config


# A scan function records one scan of ``job`` into the store and returns its id.
ScanFn = Callable[[JobConfig, Store], Awaitable[str]]


@dataclass
class JobOutcome:
    job: str
    scan_id: str
    new: list[Finding] = field(default_factory=list)
    alerted: list[bool] = field(default_factory=list)


async def run_job(job: JobConfig, store: Store, scan: ScanFn) -> JobOutcome:
    """Scan, compare with the previous scan of the same scope, alert on what is new."""
    scan_id = await scan(job, store)
    previous = store.previous_of_same_scope(scan_id)
    current = store.findings(scan_id)
    new = diff_findings(store.findings(previous), current).new if previous else current
    outcome = JobOutcome(job=job.name, scan_id=scan_id, new=new)
    from scanner.history.alerts import alert_payload, post_alert, select_for_alert
    for alert in job.alerts:
        chosen = select_for_alert(new, alert.threshold)
        if not chosen:
            continue
        ok = await post_alert(alert.webhook, alert_payload(job.name, scan_id, chosen),
                              attempts=alert.attempts, timeout=alert.timeout)
        outcome.alerted.append(ok)
    return outcome


class Scheduler:
    """Fires jobs at their cron times; a job still running at its next time is skipped."""

    def __init__(self, config: ScheduleConfig, store: Store, scan: ScanFn) -> None:
        self.config = config
        self.store = store
        self.scan = scan
        self.running: set[str] = set()
        self.skipped: list[str] = []
        self.outcomes: list[JobOutcome] = []

    def next_fire(self, job: JobConfig, after: datetime) -> datetime:
        nxt: datetime = croniter(job.cron, after).get_next(datetime)
        return nxt

    async def _run(self, job: JobConfig) -> None:
        self.running.add(job.name)
        try:
            outcome = await run_job(job, self.store, self.scan)
            self.outcomes.append(outcome)
            log.info("job %s: scan %s, %d new findings", job.name, outcome.scan_id,
                     len(outcome.new))
        except Exception:
            log.exception("job %s failed", job.name)
        finally:
            self.running.discard(job.name)

    async def serve(self, *, max_fires: int | None = None, until: datetime | None = None) -> None:
        """Run until cancelled, or after ``max_fires`` fire times, or at ``until``."""
        now = datetime.now(UTC)
        due = {name: self.next_fire(job, now) for name, job in self.config.jobs.items()}
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
                    log.warning("job %s still running at %s: this run is skipped", name, when)
                    self.skipped.append(name)
                    continue
                task = asyncio.create_task(self._run(job))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
