"""``nasscan worker`` and ``nasscan fleet submit|status|wait``.

Errors are one line (exit 2); a broker or database URL appears only with its password masked.
``fleet wait`` exits like ``nasscan scan``: 0, 1 (``--fail-on`` / ``--fail-on-new``), 3 when the
scan is incomplete (a failed part, or still unfinished at ``--timeout``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from contextlib import closing
from typing import Any

import click

from scanner.cli_common import EXIT_ABORTED, EXIT_FINDINGS, EXIT_OK, FAIL_ON, InputError, fails
from scanner.fleet import state
from scanner.history.store import HistoryError, Store, open_store
from scanner.masking import mask_url
from scanner.scan_options import (
    baseline_ids,
    raw_probe_options,
    scan_params,
    typed_probe_options,
)

# Options of `nasscan scan` that `fleet submit` takes as they are (shared definitions).
_SCAN_OPTIONS = (
    "ports", "excludes", "exclude_file", "input_list", "rate", "concurrency", "timeout",
    "probe_timeout", "retries", "per_host", "processes", "probes_spec", "seed",
    "sample_bytes", "probe_option", "yes",
)
_TASK_OPTIONS = (
    "rate", "concurrency", "timeout", "probe_timeout", "retries", "per_host", "processes",
    "sample_bytes",
)

BROKER_OPTION = click.option(
    "--broker", envvar="NASSCAN_BROKER", required=True, metavar="URL",
    help="Redis broker, redis://[:PASSWORD@]HOST[:PORT]/DB  [env: NASSCAN_BROKER]",
)
SUBMIT_BROKER_OPTION = click.option(
    "--broker", envvar="NASSCAN_BROKER", default=None, metavar="URL",
    help="Redis broker, redis://[:PASSWORD@]HOST[:PORT]/DB  [env: NASSCAN_BROKER]",
)
DB_OPTION = click.option(
    "--db", envvar="NASSCAN_DB", default=None, metavar="PATH|URL",
    help="History store shared by the fleet: postgresql://...  [env: NASSCAN_DB]",
)


def _store(db: str | None) -> Store:
    try:
        return open_store(db)
    except HistoryError as exc:
        raise InputError(_one_line(exc)) from exc


def _one_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return mask_url(lines[0] if lines else type(exc).__name__)


def _need_celery() -> None:
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        raise InputError("the fleet needs Celery and redis: pip install 'nasscan[fleet]'") from exc


def _with_scan_options(cmd: click.Command) -> click.Command:
    by_name = {p.name: p for p in scan_params()}
    cmd.params.extend(by_name[n] for n in _SCAN_OPTIONS if n in by_name)
    return cmd


# -- nasscan worker ---------------------------------------------------------------------------


@click.command("worker")
@BROKER_OPTION
@DB_OPTION
@click.option("--queue", "queues", multiple=True, default=("default",), show_default=True,
              metavar="SEGMENT", help="Queue(s) to take parts from (repeatable).")
@click.option("--allowed", "allowed", multiple=True, metavar="CIDR,...",
              help="This worker's own scope: it refuses any part reaching outside it.")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parts run at once (processes).")
@click.option("--name", default=None, help="Worker name (default nasscan-QUEUE-PID@HOST).")
@click.option("--visibility-timeout", type=click.FloatRange(min=1), default=3600.0,
              show_default=True,
              help="Seconds before an unacknowledged part (dead worker) is delivered again.")
@click.option("--heartbeat", type=click.FloatRange(min=0.2), default=5.0, show_default=True,
              help="Seconds between a running part's heartbeats (3 missed: taken over).")
@click.option("--probe-option", "probe_option", multiple=True, metavar="KEY=VALUE",
              help="Probe option for every part, e.g. credentials (never sent by the broker).")
@click.option("-q", "--quiet", is_flag=True, help="Warnings only.")
def worker_cmd(
    broker: str, db: str | None, queues: tuple[str, ...], allowed: tuple[str, ...],
    concurrency: int, name: str | None, visibility_timeout: float, heartbeat: float,
    probe_option: tuple[str, ...], quiet: bool,
) -> int:
    """Run scan parts from the fleet's queue(s) in this network segment."""
    _need_celery()
    from scanner.fleet.submit import SubmitError, check_queue
    from scanner.fleet.worker import WorkerConfig, build_app, default_name, start

    logging.basicConfig(level=logging.WARNING,
                        format="nasscan worker: %(levelname)s: %(message)s", stream=sys.stderr)
    for logger in ("nasscan", "celery"):  # not the protocol libraries' chatter
        logging.getLogger(logger).setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        qs = [check_queue(q) for q in queues]
    except SubmitError as exc:
        raise InputError(str(exc)) from exc
    config = WorkerConfig(db=db, name=name or default_name(qs), concurrency=concurrency,
                          probe_options=_typed_options(probe_option), heartbeat=heartbeat)
    _allowed_scope(config, allowed)
    try:  # a database that is down now is retried per part; say so once
        open_store(db).close()
    except HistoryError as exc:
        click.echo(f"nasscan worker: warning: {_one_line(exc)}; parts wait for it",
                   err=True)
    app = build_app(broker, config, visibility_timeout=visibility_timeout)
    click.echo(f"nasscan worker {config.name}: queues {','.join(qs)}, broker "
               f"{mask_url(broker)}" + (f", allowed {config.allowed_text}" if allowed else ""),
               err=True)
    start(app, queues=qs, concurrency=concurrency, name=config.name,
          loglevel="WARNING" if quiet else "INFO")
    return EXIT_OK


# -- nasscan fleet ----------------------------------------------------------------------------


@click.group("fleet")
def fleet_group() -> None:
    """Scans run by workers in each network segment, recorded as one scan."""


def _typed_options(values: tuple[str, ...]) -> dict[str, Any]:
    """``--probe-option`` values typed and validated as ``nasscan scan`` does them (secret ones
    completed from this machine's environment or secrets file)."""
    return typed_probe_options(raw_probe_options(values))[0]


@_with_scan_options
@fleet_group.command("submit")
@click.argument("targets", nargs=-1)
@SUBMIT_BROKER_OPTION
@DB_OPTION
@click.option("--queue", default="default", show_default=True, metavar="SEGMENT",
              help="Queue of the targets no --route matches.")
@click.option("--route", "routes", multiple=True, metavar="CIDR=QUEUE",
              help="Send this range to this queue (repeatable; first match wins).")
@click.option("--shards", type=click.IntRange(min=1, max=4096), default=1, show_default=True,
              help="Parts per queue (shard I/N of the seed's permutation).")
@click.option("--max-attempts", type=click.IntRange(min=1), default=3, show_default=True,
              help="A part started this often without finishing is failed.")
@click.option("--no-enqueue", is_flag=True,
              help="Record the scan and its parts only; run them with `nasscan fleet part`.")
def submit_cmd(**p: Any) -> int:
    """Create a scan of TARGET... and enqueue its parts; prints the scan id."""
    if not p["no_enqueue"]:
        _need_celery()
        if not p["broker"]:
            raise InputError("fleet submit needs --broker URL (or NASSCAN_BROKER)")
    from scanner.engine import ScanOptions, default_ports
    from scanner.fleet.app import make_app
    from scanner.fleet.submit import (
        SubmitError,
        check_probe_options,
        check_queue,
        parse_route,
        plan_parts,
        submit,
    )
    from scanner.ports import PortSpecError, parse_ports
    from scanner.registry import UnknownProbeError, select_probes
    from scanner.request import ScanRequest, ScanRequestError
    from scanner.targets import TargetError

    try:
        queue = check_queue(p["queue"])
        routes = [parse_route(r) for r in p["routes"]]
        probe_options = _typed_options(p["probe_option"])
        check_probe_options(probe_options)
        spec = p["probes_spec"]
        probes = [] if spec is not None and spec.strip() == "none" else select_probes(spec)
        ports = parse_ports(p["ports"]) if p["ports"] is not None else default_ports(probes)
        stdin_text = sys.stdin.read() if p["input_list"] == "-" else None
        scope = asyncio.run(ScanRequest(  # --yes is checked below, with its own message
            targets=list(p["targets"]), input_list=p["input_list"], exclude=list(p["excludes"]),
            exclude_file=p["exclude_file"], yes=True).scope(stdin_text))
    except (SubmitError, UnknownProbeError, PortSpecError, TargetError, ScanRequestError) as exc:
        raise InputError(str(exc)) from exc
    why = scope.needs_confirmation()
    if why and not p["yes"]:
        raise InputError(f"refusing to scan: {why}")
    options = ScanOptions(ports=ports, probes=probes, seed=p["seed"])
    plans = plan_parts(scope, options, routes, queue, p["shards"])
    task_options = {k: p[k] for k in _TASK_OPTIONS}
    task_options["probe_options"] = probe_options
    recorded = {
        "cli": {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()
                if k not in ("db", "broker")},
        "fleet": {"broker": mask_url(p["broker"] or ""), "parts": len(plans)},
    }
    app = None if p["no_enqueue"] else make_app(p["broker"])
    with closing(_store(p["db"])) as store:
        try:
            scan_id = submit(app, p["broker"] or "", store, scope, options, plans=plans,
                             probes_spec=spec, task_options=task_options, recorded=recorded,
                             max_attempts=p["max_attempts"])
        except SubmitError as exc:
            raise InputError(str(exc)) from exc
    per_queue: dict[str, int] = {}
    for plan in plans:
        per_queue[plan.queue] = per_queue.get(plan.queue, 0) + 1
    click.echo(scan_id)
    verb = "recorded (run them with `nasscan fleet part`)" if app is None else "submitted"
    click.echo(f"nasscan: {verb} " + ", ".join(f"{n} part(s) for queue {q!r}"
                                                for q, n in per_queue.items()), err=True)
    return EXIT_OK


@fleet_group.command("part")
@click.argument("scan")
@click.argument("index", type=click.IntRange(min=0))
@DB_OPTION
@click.option("--allowed", "allowed", multiple=True, metavar="CIDR,...",
              help="This runner's own scope: a part reaching outside it is refused.")
@click.option("--name", default=None, help="Who runs the part (default: the host name).")
@click.option("--probe-option", "probe_option", multiple=True, metavar="KEY=VALUE",
              help="Probe option, e.g. credentials (never stored).")
@click.option("--heartbeat", type=click.FloatRange(min=0.2), default=5.0, show_default=True)
@click.option("--wait", "wait_limit", type=click.FloatRange(min=0), default=3600.0,
              show_default=True, help="Seconds to wait while another runner holds the part.")
def part_cmd(scan: str, index: int, db: str | None, allowed: tuple[str, ...], name: str | None,
             probe_option: tuple[str, ...], heartbeat: float, wait_limit: float) -> int:
    """Run one recorded part of SCAN here, without a broker.

    INDEX is 0-based (a Kubernetes Indexed Job's completion index). For scans recorded with
    `fleet submit --no-enqueue`: one pod per part, and the parts form the one scan. Exit 0 when
    the part is done, 3 otherwise.
    """
    import socket

    from scanner.fleet.submit import SubmitError, stored_payload
    from scanner.fleet.worker import WorkerConfig, run_part_here

    logging.basicConfig(level=logging.WARNING,
                        format="nasscan: %(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger("nasscan").setLevel(logging.INFO)
    config = WorkerConfig(db=db, name=name or socket.gethostname(), heartbeat=heartbeat,
                          probe_options=_typed_options(probe_option))
    _allowed_scope(config, allowed)
    with closing(_store(db)) as store:
        scan_id = _resolve(store, scan)
        try:
            payload = stored_payload(store, scan_id, index)
        except SubmitError as exc:
            raise InputError(str(exc)) from exc
    outcome = run_part_here(config, payload, limit=wait_limit)
    click.echo(f"nasscan: part {index} (shard {payload['shard']}) of scan {scan_id}: {outcome}",
               err=True)
    return EXIT_OK if outcome == state.DONE else EXIT_ABORTED


def _allowed_scope(config: Any, allowed: tuple[str, ...]) -> None:
    from scanner.targets import TargetError, build_scope, split_specs

    if not allowed:
        return
    tokens = split_specs(allowed)
    try:
        config.allowed = asyncio.run(build_scope(tokens))
    except TargetError as exc:
        raise InputError(f"bad --allowed: {exc}") from exc
    config.allowed_text = ",".join(tokens)


def _resolve(store: Store, ref: str) -> str:
    try:
        scan_id = store.resolve(ref)
    except HistoryError as exc:
        raise InputError(str(exc)) from exc
    if not state.parts(store, scan_id):
        raise InputError(f"scan {scan_id} is not a fleet scan (no parts recorded)")
    return scan_id


def _describe(part: state.Part) -> str:
    if part.state == state.QUEUED:
        return "queued" + (f" (retrying: {part.error})" if part.error else "")
    if part.state == state.STARTED:
        age = part.heartbeat_age()
        beat = f", heartbeat {age:.0f}s ago" if age is not None else ""
        return f"running on {part.worker} (attempt {part.attempts}{beat})"
    if part.state == state.DONE:
        return f"done on {part.worker}"
    return f"failed: {part.error}"


@fleet_group.command("status")
@click.argument("scan", default="last")
@DB_OPTION
def status_cmd(scan: str, db: str | None) -> int:
    """Per part: queue, shard, state (queued, running on which worker, done, failed), counts."""
    with closing(_store(db)) as store:
        scan_id = _resolve(store, scan)
        state.maybe_finish_scan(store, scan_id)
        parts = state.parts(store, scan_id)
        click.echo(f"scan {scan_id}: {state.scan_status(store, scan_id)}")
        for part in parts:
            click.echo(
                f"  part {part.part + 1:<3} queue {part.queue:<12} shard {part.shard:<7} "
                f"{part.services:>4} services {part.findings:>4} findings  {_describe(part)}"
            )
    return EXIT_OK


@fleet_group.command("wait")
@click.argument("scan", default="last")
@DB_OPTION
@click.option("--timeout", type=click.FloatRange(min=0), default=None, metavar="S",
              help="Give up after S seconds (exit 3).")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="low", show_default=True,
              help="Exit 1 when a finding is at least this severe.")
@click.option("--baseline", default=None, metavar="last|SCAN|FILE",
              help="Judge new findings against an earlier scan (last: the previous of this "
              "scope) or a JSON report.")
@click.option("--fail-on-new", is_flag=True, help="Exit code from new findings only.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def wait_cmd(scan: str, db: str | None, timeout: float | None, fail_on: str,
             baseline: str | None, fail_on_new: bool, quiet: bool) -> int:
    """Wait until every part of SCAN is done; exit codes as `nasscan scan`."""
    if fail_on_new and not baseline:
        raise InputError("--fail-on-new needs --baseline")
    with closing(_store(db)) as store:
        scan_id = _resolve(store, scan)
        parts = asyncio.run(_wait(store, scan_id, timeout,
                                  progress=not quiet and sys.stderr.isatty()))
        unfinished = [p for p in parts if p.state not in state.TERMINAL]
        if unfinished:
            waiting = "; ".join(f"part {p.part + 1} (shard {p.shard}) {_describe(p)} on queue "
                                f"{p.queue!r}" for p in unfinished[:5])
            hint = (" (no worker has taken it: is a worker running on that queue?)"
                    if any(p.state == state.QUEUED for p in unfinished) else "")
            click.echo(f"nasscan: scan {scan_id} incomplete after {timeout:g}s: "
                       f"{len(unfinished)} of {len(parts)} parts unfinished: {waiting}{hint}",
                       err=True)
            return EXIT_ABORTED
        findings = store.findings(scan_id)
        ref = baseline
        if ref == "last":
            ref = store.previous_of_same_scope(scan_id)
            if ref is None:
                raise InputError("--baseline last: no earlier scan of this scope")
        known = baseline_ids(ref, store) if ref else None
        new = [f for f in findings if known is not None and f.id not in known]
        failed = [p for p in parts if p.state == state.FAILED]
        summary = f"nasscan: scan {scan_id}: {len(findings)} findings"
        if known is not None:
            summary += f" ({len(new)} new)"
        click.echo(summary, err=True)
        if failed:
            for p in failed:
                click.echo(f"nasscan: part {p.part + 1} (shard {p.shard}, queue {p.queue!r}) "
                           f"failed: {p.error}", err=True)
            click.echo(f"nasscan: scan {scan_id} is incomplete", err=True)
            return EXIT_ABORTED
        judged = new if fail_on_new else findings
        return EXIT_FINDINGS if fails(judged, fail_on) else EXIT_OK


async def _wait(store: Store, scan_id: str, timeout: float | None, *,
                progress: bool) -> list[state.Part]:
    from scanner.report.progress import ProgressSnapshot, progress_display

    deadline = None if timeout is None else time.monotonic() + timeout
    parts = state.parts(store, scan_id)

    def describe() -> ProgressSnapshot:  # the scan's parts stand for its host-port pairs
        done = sum(p.state in state.TERMINAL for p in parts)
        return ProgressSnapshot(done=done, total=len(parts), open=0, handled=done,
                                findings=sum(p.findings for p in parts), sweep_done=False)

    async with progress_display(describe, enabled=progress):
        while True:
            state.maybe_finish_scan(store, scan_id)
            parts = state.parts(store, scan_id)
            store.commit()
            if all(p.state in state.TERMINAL for p in parts):
                return parts
            if deadline is not None and time.monotonic() >= deadline:
                return parts
            await asyncio.sleep(0.5)


COMMANDS = [worker_cmd, fleet_group]
