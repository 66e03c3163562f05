"""``nasscan worker``: a Celery worker that runs the parts of fleet scans in its own segment.

A part is one shard ``I/N`` of one target group. The worker claims it in the history store,
checks it against its own ``--allowed`` scope (a part asking for anything outside fails at once,
before a packet is sent), runs the engine on it and writes services and findings into the fleet
scan as it finds them: upserts keyed by finding id and (host, port, transport), so a part run
twice (a redelivery after a crash) adds nothing twice. While it runs, a heartbeat in the part's
row tells other workers it is alive; a redelivered message whose part is held by a live worker is
deferred, one whose holder went silent takes the part over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, Task

from scanner.engine import Engine, ScanOptions
from scanner.fleet import state
from scanner.fleet.app import TASK_NAME, make_app
from scanner.history.store import HistoryError, Store, open_store
from scanner.masking import mask_data, mask_url
from scanner.ports import parse_ports
from scanner.registry import select_probes
from scanner.targets import Scope, TargetError, build_scope

log = logging.getLogger("nasscan.fleet")

DEFAULT_HEARTBEAT = 5.0


class PartRefused(Exception):
    """A part this worker must not or cannot run (out of its scope, bad input): no retry."""


@dataclass
class WorkerConfig:
    db: str | None
    name: str
    allowed: Scope | None = None
    allowed_text: str = ""
    probe_options: dict[str, Any] = field(default_factory=dict)
    """The worker's own probe options (credentials live here, never in task messages)."""
    heartbeat: float = DEFAULT_HEARTBEAT
    concurrency: int = 1

    @property
    def holder(self) -> str:
        """Who holds a part: the worker's name (and the pool process when there are several)."""
        return self.name if self.concurrency == 1 else f"{self.name}:{os.getpid()}"

    @property
    def stale_after(self) -> float:
        """A running part whose heartbeat is older than this belongs to a dead worker."""
        return 3 * self.heartbeat


def default_name(queues: list[str]) -> str:
    return f"nasscan-{'+'.join(queues)}-{os.getpid()}@{socket.gethostname()}"


def _backoff(retries: int) -> float:
    return float(min(60, 2 ** min(retries, 6)))


def outside(scope: Scope, allowed: Scope) -> list[str]:
    """The addresses of ``scope`` that ``allowed`` does not cover, in compact form."""
    from scanner.targets import _subtract

    return Scope(_subtract(scope.intervals, allowed.intervals)).describe()


async def _part_scope(payload: dict[str, Any], config: WorkerConfig) -> Scope:
    try:
        scope = await build_scope(payload["targets"], payload.get("exclude") or [])
    except TargetError as exc:
        raise PartRefused(f"bad targets: {exc}") from exc
    scope.hostnames = {a: n for a, n in (payload.get("hostnames") or {}).items() if a in scope}
    if config.allowed is not None:
        rest = outside(scope, config.allowed)
        if rest:
            shown = ", ".join(rest[:5]) + (" ..." if len(rest) > 5 else "")
            raise PartRefused(
                f"refused by worker {config.name}: {shown} outside its --allowed scope "
                f"{config.allowed_text}; nothing was sent"
            )
    return scope


def _options(payload: dict[str, Any], config: WorkerConfig) -> ScanOptions:
    o = dict(payload.get("options") or {})
    try:
        probes = [] if (payload.get("probes") or "").strip() == "none" else select_probes(
            payload.get("probes")
        )
        ports = parse_ports(payload["ports"])
    except ValueError as exc:
        raise PartRefused(str(exc)) from exc
    i, _, n = str(payload["shard"]).partition("/")
    return ScanOptions(
        ports=ports,
        probes=probes,
        seed=int(payload.get("seed", 0)),
        shard=(int(i) - 1, int(n)),
        concurrency=o.get("concurrency"),
        rate=o.get("rate"),
        connect_timeout=float(o.get("timeout", 1.0)),
        read_timeout=max(5.0, float(o.get("timeout", 1.0))),
        retries=int(o.get("retries", 1)),
        probe_timeout=float(o.get("probe_timeout", 60.0)),
        per_host=int(o.get("per_host", 8)),
        processes=o.get("processes"),
        sample_bytes=int(o.get("sample_bytes", 0)),
        probe_options={**(o.get("probe_options") or {}), **config.probe_options},
    )


async def _run_engine(
    store: Store, payload: dict[str, Any], scope: Scope, options: ScanOptions, config: WorkerConfig
) -> tuple[tuple[int, int], dict[str, Any]]:
    scan_id, number = payload["scan_id"], int(payload["part"])
    engine = Engine(scope, options)
    counts = [0, 0]

    def on_service(service: Any) -> None:
        store.record_service(scan_id, service)
        counts[0] += 1

    def on_finding(finding: Any) -> None:
        store.record_finding(scan_id, finding)
        counts[1] += 1

    engine.on_service = on_service
    engine.on_finding = on_finding

    async def beat() -> None:
        while True:
            await asyncio.sleep(config.heartbeat)
            state.heartbeat(store, scan_id, number, config.holder, (counts[0], counts[1]))

    beater = asyncio.create_task(beat())
    try:
        report = await engine.run()
    finally:
        beater.cancel()
    for service in report.services:  # final statuses; idempotent upserts
        store.record_service(scan_id, service)
    for finding in report.findings:
        store.record_finding(scan_id, finding)
    stats = {
        "sweep": report.scope.get("sweep"),
        "duration_s": report.scope.get("duration_s"),
        "errors": mask_data(report.errors[:20]),
    }
    return (len(report.services), len(report.findings)), stats


def run_part(task: Task, config: WorkerConfig, payload: dict[str, Any]) -> str:
    """The body of the shard task; returns the part's final state (or raises Retry)."""
    scan_id, number = str(payload["scan_id"]), int(payload["part"])
    max_attempts = int(payload.get("max_attempts", 3))
    retries = int(task.request.retries or 0)
    try:
        store = open_store(config.db)
    except HistoryError as exc:  # PostgreSQL down: try again later, the message is kept
        log.warning("history store unavailable (%s); retrying part %s of %s",
                    mask_url(str(exc)), number + 1, scan_id)
        raise task.retry(countdown=_backoff(retries), max_retries=None) from exc
    try:
        return _run_claimed(task, store, config, payload, max_attempts)
    except HistoryError as exc:
        raise task.retry(countdown=_backoff(retries), max_retries=None) from exc
    except Exception as exc:
        if _is_db_error(exc):
            log.warning("history store error on part %s of %s: %s; retrying",
                        number + 1, scan_id, mask_url(str(exc)))
            raise task.retry(countdown=_backoff(retries), max_retries=None) from exc
        raise
    finally:
        try:
            store.close()
        except Exception:  # a broken connection: nothing left to close
            log.debug("closing the store failed", exc_info=True)


def _is_db_error(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    import sqlite3

    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | sqlite3.Error)


def _run_claimed(
    task: Task, store: Store, config: WorkerConfig, payload: dict[str, Any], max_attempts: int
) -> str:
    scan_id, number = str(payload["scan_id"]), int(payload["part"])
    label = f"part {number + 1} (shard {payload['shard']}) of scan {scan_id}"
    part = state.get_part(store, scan_id, number)
    if part is None:
        log.error("%s: no such part in the history store; dropped", label)
        return "unknown"
    if part.state in state.TERMINAL:
        log.info("%s already %s; duplicate delivery ignored", label, part.state)
        return part.state
    if part.state == state.STARTED:
        age = part.heartbeat_age()
        if age is not None and age < config.stale_after and part.worker != config.holder:
            log.info("%s is running on %s; deferred", label, part.worker)
            raise task.retry(countdown=config.stale_after, max_retries=None)
    if part.attempts >= max_attempts:
        error = (f"gave up after {part.attempts} attempts"
                 + (f" (last on {part.worker}: {part.error or 'worker lost'})"
                    if part.worker else ""))
        state.finish_part(store, scan_id, number, state=state.FAILED, error=error)
        state.maybe_finish_scan(store, scan_id)
        return state.FAILED
    if not state.claim(store, part, config.holder):
        raise task.retry(countdown=1.0, max_retries=None)  # someone else moved it: look again
    log.info("%s: running (attempt %d)", label, part.attempts + 1)
    try:
        options = _options(payload, config)
        scope = asyncio.run(_part_scope(payload, config))
        counts, stats = asyncio.run(_run_engine(store, payload, scope, options, config))
    except PartRefused as exc:
        log.error("%s: %s", label, exc)
        state.finish_part(store, scan_id, number, state=state.FAILED, error=str(exc))
        state.maybe_finish_scan(store, scan_id)
        return state.FAILED
    except Exception as exc:
        if _is_db_error(exc):
            raise
        message = f"{type(exc).__name__}: {mask_url(str(exc))}"[:500]
        log.exception("%s failed: %s", label, message)
        if part.attempts + 1 >= max_attempts:
            state.finish_part(store, scan_id, number, state=state.FAILED,
                              error=f"failed {part.attempts + 1} times; last: {message}")
            state.maybe_finish_scan(store, scan_id)
            return state.FAILED
        state.finish_part(store, scan_id, number, state=state.QUEUED, error=message)
        raise task.retry(countdown=_backoff(part.attempts), max_retries=None) from exc
    state.finish_part(store, scan_id, number, state=state.DONE, counts=counts, stats=stats)
    state.maybe_finish_scan(store, scan_id)
    log.info("%s: done, %d services, %d findings", label, *counts)
    return state.DONE


def build_app(
    broker: str, config: WorkerConfig, *, visibility_timeout: float
) -> Celery:
    """The worker's Celery app with the shard task bound to ``config``."""
    app = make_app(broker, visibility_timeout=visibility_timeout)

    @app.task(name=TASK_NAME, bind=True, max_retries=None)
    def run_part_task(self: Task, payload: dict[str, Any]) -> str:
        return run_part(self, config, payload)

    return app


def start(
    app: Celery, *, queues: list[str], concurrency: int, name: str, loglevel: str
) -> None:
    """Run the worker in this process until it is stopped (SIGTERM: finish the part, exit)."""
    argv = [
        "worker",
        "--queues", ",".join(queues),
        "--concurrency", str(concurrency),
        "--pool", "solo" if concurrency == 1 else "prefork",
        "--hostname", name,
        "--without-gossip",
        "--without-mingle",
        "--loglevel", loglevel,
    ]
    app.worker_main(argv)


class _Again(Exception):
    def __init__(self, countdown: float) -> None:
        super().__init__(f"again in {countdown:g}s")
        self.countdown = countdown


class _Request:
    retries = 0


class DirectTask:
    """Stands in for the Celery task when a part runs without a broker (``fleet part``):
    a retry becomes a wait in this process."""

    def __init__(self) -> None:
        self.request = _Request()

    def retry(self, countdown: float = 1.0, max_retries: int | None = None,
              **_: Any) -> Exception:
        self.request.retries += 1
        return _Again(countdown)


def run_part_here(config: WorkerConfig, payload: dict[str, Any], *, limit: float) -> str:
    """Run one part in this process (no broker): claims, scope check and upserts as a worker;
    waits while another holder heartbeats; gives up after ``limit`` seconds of waiting."""
    import time

    task = DirectTask()
    deadline = time.monotonic() + limit
    while True:
        try:
            return run_part(task, config, payload)
        except _Again as again:
            if time.monotonic() + again.countdown > deadline:
                return "unfinished"
            time.sleep(again.countdown)
