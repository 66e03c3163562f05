"""Running one scan into the history store: used by ``nasscan scan`` and by schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scanner.engine import Engine, ScanOptions, provisional_scope
from scanner.history.store import Store
from scanner.models import Finding, Report, Service, Transport
from scanner.targets import Scope

if TYPE_CHECKING:  # a scan records history without importing the scheduler (and aiohttp)
    from scanner.history.schedule import JobConfig


class Recorder:
    """Engine sinks that commit every service and finding to the store as they are found,
    and the resume checkpoint: what was queued for probing and whether the sweep finished."""

    FLUSH_EVERY = 512

    def __init__(self, store: Store, scan_id: str) -> None:
        self.store = store
        self.scan_id = scan_id
        self._queued: list[tuple[str, int, str]] = []

    def attach(self, engine: Engine) -> None:
        engine.on_service = self.on_service
        engine.on_queued = self.on_queued
        engine.on_sweep_done = self.on_sweep_done

    def on_queued(self, host: str, port: int, transport: Transport) -> None:
        self._queued.append((host, port, transport.value))
        if len(self._queued) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._queued:
            self.store.record_queued(self.scan_id, self._queued)
            self._queued = []

    def on_sweep_done(self) -> None:
        self.flush()  # the queue is complete on disk before the checkpoint says so
        self.store.save_checkpoint(self.scan_id, {"sweep_done": True})

    def on_finding(self, finding: Finding) -> None:
        self.store.record_finding(self.scan_id, finding)

    def on_service(self, service: Service) -> None:
        self.store.record_service(self.scan_id, service)

    def finish(self, report: Report) -> None:
        self.flush()
        # One transaction: the final rows and the "finished" mark commit together.
        for service in report.services:  # final statuses of every service
            self.store.record_service(self.scan_id, service, commit=False)
        for finding in report.findings:  # idempotent: ids are the primary key
            self.store.record_finding(self.scan_id, finding, commit=False)
        self.store.finish_scan(self.scan_id, report)


async def run_recorded(
    store: Store, scope: Scope, options: ScanOptions, recorded_options: dict[str, Any]
) -> tuple[str, Report]:
    """Run a scan, committing what it finds as it finds it; returns (scan id, report)."""
    engine = Engine(scope, options)
    engine.report.scope = provisional_scope(scope, options)
    scan_id = store.begin_scan(engine.report, recorded_options)
    recorder = Recorder(store, scan_id)
    engine.on_finding = recorder.on_finding
    recorder.attach(engine)
    report = await engine.run()
    recorder.finish(report)
    return scan_id, report


async def scan_job(job: JobConfig, store: Store) -> str:
    """A schedule job: a ``ScanRequest`` like ``nasscan scan``'s, recorded in ``store``; its
    secret probe options come from the environment or the secrets file, never from history."""
    if job.fleet is not None:  # submitted to fleet workers instead of scanned here
        from scanner.fleet.submit import fleet_job

        return await fleet_job(job, store)
    from dataclasses import replace

    from scanner.credentials import resolve_probe_options
    from scanner.registry import load_probes
    from scanner.request import ScanRequestError

    probe_options, secrets = resolve_probe_options(
        job.probe_options, load_probes(), job.secrets, f"job {job.name}")
    try:
        scope, options = await job.build()
    except ScanRequestError as exc:
        hint = " (set yes = true)" if str(exc).startswith("refusing") else ""
        raise ValueError(f"job {job.name}: {exc}{hint}") from None
    options = replace(options, probe_options=probe_options)
    recorded = {"job": job.name, **job.recordable(), "secret_options": secrets}
    scan_id, _ = await run_recorded(store, scope, options, recorded)
    return scan_id
