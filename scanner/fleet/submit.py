"""Submitting a fleet scan: route target ranges to queues, split each into shards, enqueue.

The scan is created in the history store first (with the same scope key a local scan of the same
targets and ports would have, so ``--baseline``, ``diff`` and ``history`` treat both alike), then
one task per part goes to its queue. Each part carries its group's addresses as literal ranges
(names resolved here, their names kept), so every worker builds exactly the scope the shard
permutation was planned on. No credential travels in a task: probe options that look like
secrets are refused here and belong in the workers' own ``--probe-option``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celery import Celery

from scanner import __version__
from scanner.engine import ScanOptions, provisional_scope
from scanner.fleet import state
from scanner.fleet.app import TASK_NAME
from scanner.history.store import Store
from scanner.masking import mask_url
from scanner.models import Report, ScannerInfo, utcnow
from scanner.targets import Interval, Scope, TargetError, TargetSpace, _subtract, parse_literal

if TYPE_CHECKING:
    from scanner.history.schedule import JobConfig

log = logging.getLogger("nasscan.fleet")

_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|hash", re.IGNORECASE)
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class SubmitError(ValueError):
    """Bad fleet input or an unreachable broker: one line for the user."""


@dataclass(frozen=True)
class Route:
    interval: Interval
    queue: str
    text: str


@dataclass
class PartPlan:
    queue: str
    shard: str
    targets: list[str]
    hostnames: dict[str, str] = field(default_factory=dict)


def check_queue(name: str) -> str:
    if not _QUEUE_NAME.match(name):
        raise SubmitError(f"bad queue name {name!r} (letters, digits, '_.:-', at most 64)")
    return name


def parse_route(text: str) -> Route:
    """``CIDR|RANGE=QUEUE``, e.g. ``10.20.0.0/16=site-a``."""
    spec, sep, queue = text.partition("=")
    if not sep or not spec.strip() or not queue.strip():
        raise SubmitError(f"bad --route {text!r}: use CIDR=QUEUE, e.g. 10.20.0.0/16=site-a")
    try:
        interval = parse_literal(spec.strip())
    except TargetError as exc:
        raise SubmitError(f"bad --route {text!r}: {exc}") from exc
    if interval is None:
        raise SubmitError(f"bad --route {text!r}: give addresses, a CIDR or a range, not a name")
    return Route(interval, check_queue(queue.strip()), text)


def check_probe_options(options: dict[str, Any]) -> None:
    for key in options:
        if _SECRET_KEY.search(key):
            raise SubmitError(
                f"--probe-option {key}=... looks like a credential: task messages carry none; "
                f"give it to the workers instead (nasscan worker --probe-option {key}=...)"
            )


def plan_parts(
    scope: Scope, ports: ScanOptions, routes: list[Route], default_queue: str, shards: int
) -> list[PartPlan]:
    """Groups of the scope by route (first matching route wins; the rest goes to
    ``default_queue``), each split into ``shards`` parts (fewer if it has fewer pairs)."""
    remaining = list(scope.intervals)
    groups: dict[str, list[Interval]] = {}
    for route in routes:
        inside = _subtract(remaining, _subtract(remaining, [route.interval]))
        if inside:
            groups.setdefault(route.queue, []).extend(inside)
            remaining = _subtract(remaining, [route.interval])
    if remaining:
        groups.setdefault(default_queue, []).extend(remaining)
    plans: list[PartPlan] = []
    for queue, intervals in groups.items():
        group = Scope(intervals)
        pairs = len(TargetSpace(group, ports.ports.tcp)) + len(
            TargetSpace(group, ports.ports.udp)
        )
        n = max(1, min(shards, pairs))
        names = {a: h for a, h in scope.hostnames.items() if a in group}
        for i in range(1, n + 1):
            plans.append(PartPlan(queue, f"{i}/{n}", group.describe(), names))
    return plans


def broker_error(broker: str, exc: BaseException) -> SubmitError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return SubmitError(f"cannot reach the broker {mask_url(broker)}: {mask_url(reason)}")


def check_broker(app: Celery, broker: str) -> None:
    """Fail fast (one line naming the broker) when Redis does not answer."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0.2, timeout=5)
    except Exception as exc:
        raise broker_error(broker, exc) from exc


def submit(
    app: Celery | None,
    broker: str,
    store: Store,
    scope: Scope,
    options: ScanOptions,
    *,
    plans: list[PartPlan],
    probes_spec: str | None,
    task_options: dict[str, Any],
    recorded: dict[str, Any],
    max_attempts: int,
) -> str:
    """Record the scan and its parts, enqueue one task per part; returns the scan id.

    ``app`` None records the scan without enqueueing anything: its parts are then run by
    ``nasscan fleet part`` (a Kubernetes Indexed Job, say), which reads them from the store.
    """
    if app is not None:
        check_broker(app, broker)
    template = {
        "ports": str(options.ports),
        "probes": probes_spec,
        "seed": options.seed,
        "options": task_options,
        "max_attempts": max_attempts,
        "hostnames": {a: h for p in plans for a, h in p.hostnames.items()},
    }
    recorded = {**recorded, "fleet": {**recorded.get("fleet", {}), "task": template}}
    report = Report(scanner=ScannerInfo(version=__version__), started_at=utcnow())
    report.scope = provisional_scope(scope, options)
    report.scope["fleet"] = {"parts": len(plans), "queues": sorted({p.queue for p in plans})}
    scan_id = store.begin_scan(report, recorded)
    state.add_parts(store, scan_id, [(p.queue, p.shard, p.targets) for p in plans])
    if app is None:
        return scan_id
    sent: set[int] = set()
    try:
        with app.producer_or_acquire() as producer:
            for number, plan in enumerate(plans):
                payload = {**template, "scan_id": scan_id, "part": number, "shard": plan.shard,
                           "targets": plan.targets, "hostnames": plan.hostnames}
                app.send_task(TASK_NAME, args=[payload], queue=plan.queue, producer=producer,
                              retry=True, retry_policy={"max_retries": 3})
                sent.add(number)
    except Exception as exc:
        for p in state.parts(store, scan_id):
            if p.part not in sent:
                state.finish_part(store, scan_id, p.part, state=state.FAILED,
                                  error="not enqueued: the broker stopped answering")
        state.maybe_finish_scan(store, scan_id)
        raise broker_error(broker, exc) from exc
    return scan_id


def stored_payload(store: Store, scan_id: str, number: int) -> dict[str, Any]:
    """The task of part ``number`` (0-based) rebuilt from the store, for ``fleet part``."""
    template = (store.get_scan(scan_id).options.get("fleet") or {}).get("task")
    part = state.get_part(store, scan_id, number)
    if not isinstance(template, dict) or part is None:
        raise SubmitError(f"scan {scan_id} has no part {number} to run")
    names = template.get("hostnames") or {}
    return {**template, "scan_id": scan_id, "part": number, "shard": part.shard,
            "targets": part.targets, "hostnames": names}


async def fleet_job(job: JobConfig, store: Store) -> str:
    """A schedule job with a ``fleet`` table: submit it, wait for its parts, return the scan id.

    The broker comes from ``NASSCAN_BROKER`` (never from the schedule file). Parts still
    unfinished after ``fleet.wait`` seconds are logged; what was found is compared and alerted.
    """
    from scanner.fleet.app import make_app
    from scanner.request import ScanRequestError

    fleet = job.fleet
    assert fleet is not None
    broker = os.environ.get("NASSCAN_BROKER")
    if not broker:
        raise ValueError(f"job {job.name}: a fleet job needs the broker in NASSCAN_BROKER")
    try:  # the same ScanRequest checks as a local job (scope, ports, probes, --yes)
        scope, options = await job.build()
    except ScanRequestError as exc:
        hint = " (set yes = true)" if str(exc).startswith("refusing") else ""
        raise ValueError(f"job {job.name}: {exc}{hint}") from None
    routes = [parse_route(f"{cidr}={queue}") for cidr, queue in fleet.routes.items()]
    plans = plan_parts(scope, options, routes, check_queue(fleet.queue), fleet.shards)
    task_options = {"rate": job.rate, "concurrency": job.concurrency,
                    "probe_timeout": job.probe_timeout}
    recorded = {"job": job.name, **job.recordable(),
                "fleet": {"broker": mask_url(broker), "parts": len(plans)}}
    scan_id = submit(make_app(broker), broker, store, scope, options, plans=plans,
                     probes_spec=job.probes, task_options=task_options, recorded=recorded,
                     max_attempts=3)
    deadline = time.monotonic() + fleet.wait
    while time.monotonic() < deadline:
        if state.maybe_finish_scan(store, scan_id):
            return scan_id
        await asyncio.sleep(1.0)
    waiting = [p for p in state.parts(store, scan_id) if p.state not in state.TERMINAL]
    log.warning("job %s: scan %s: %d parts unfinished after %gs (queues %s)", job.name, scan_id,
                len(waiting), fleet.wait, ", ".join(sorted({p.queue for p in waiting})))
    return scan_id
