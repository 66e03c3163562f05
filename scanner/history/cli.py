"""`nasscan history | show | diff | report | schedule`: the commands over the scan history."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from scanner.diff import Delta, diff_findings
from scanner.history.schedule import (
    ScheduleConfig,
    ScheduleConfigError,
    Scheduler,
    load_schedule,
    run_job,
)
from scanner.history.store import HistoryError, Store, open_store
from scanner.models import Report
from scanner.report.html import render_html

DB_OPTION = click.option(
    "--db",
    envvar="NASSCAN_DB",
    default=None,
    metavar="PATH|URL",
    help="History store: a SQLite file (default: under the user's data directory) or "
    "postgresql://...  [env: NASSCAN_DB]",
)


def _fail(message: str) -> None:
    click.echo(f"nasscan: {message}", err=True)
    sys.exit(2)


def _open(db: str | None) -> Store:
    try:
        return open_store(db)
    except HistoryError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from exc


def render_report(report: Report, fmt: str, store: Store | None = None,
                  scan_id: str | None = None) -> str:
    """Any output format of a stored or fresh report (all derived from the one model)."""
    if fmt in ("json", "jsonl", "sarif", "csv"):
        from scanner.outputs import render

        return render(report, fmt)
    if fmt == "html":
        delta: Delta | None = None
        trend: list[tuple[str, dict[str, int]]] = []
        if store is not None and scan_id is not None:
            previous = store.previous_of_same_scope(scan_id)
            if previous:
                delta = diff_findings(store.findings(previous), report.findings,
                                      report.services)
            chain = [scan_id]
            while len(chain) < 10:
                earlier = store.previous_of_same_scope(chain[-1])
                if earlier is None:
                    break
                chain.append(earlier)
            counts = store.severity_counts(chain)
            trend = [(sid, counts[sid]) for sid in reversed(chain)]
        return render_html(report, scan_id=scan_id, delta=delta, trend=trend)
    if fmt == "console":
        import io

        from rich.console import Console

        from scanner.report.console import render_console

        buf = io.StringIO()
        render_console(report, Console(file=buf, width=140))
        return buf.getvalue()
    raise click.BadParameter(f"unknown format {fmt!r}")


FORMATS = click.Choice(["console", "json", "jsonl", "sarif", "csv", "html"])


def _emit(text: str, output: str | None) -> None:
    if output:
        from scanner.report.output import write_private

        try:
            write_private(output, text)  # 0600, renamed into place
        except OSError as exc:
            _fail(f"cannot write output file {output!r}: {exc.strerror}")
    else:
        click.echo(text, nl=False)


@click.command("history")
@DB_OPTION
@click.option("-n", "--limit", default=20, show_default=True, help="How many scans to list.")
def history_cmd(db: str | None, limit: int) -> None:
    """List recorded scans, newest first."""
    store = _open(db)
    try:
        rows = store.list_scans(limit)
        if not rows:
            click.echo(f"no scans recorded in {store.url}")
            return
        for row in rows:
            targets = json.loads(row.scope_key).get("targets") or []
            click.echo(
                f"{row.id}  {row.status:<8}  {row.findings:>4} findings  "
                f"{' '.join(map(str, targets))}"
            )
    finally:
        store.close()


@click.command("show")
@click.argument("scan", default="last")
@DB_OPTION
@click.option("--format", "fmt", type=FORMATS, default="console", show_default=True)
@click.option("-o", "--output", default=None, help="Write to this file instead of stdout.")
def show_cmd(scan: str, db: str | None, fmt: str, output: str | None) -> None:
    """Print a recorded scan again, in any output format."""
    store = _open(db)
    try:
        scan_id = store.resolve(scan)
        _emit(render_report(store.load_report(scan_id), fmt, store, scan_id), output)
    except HistoryError as exc:
        _fail(str(exc))
    finally:
        store.close()


@click.command("report")
@click.argument("scan", default="last")
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["html", "sarif", "csv", "json"]),
              default="html", show_default=True)
@click.option("-o", "--output", default=None, help="Write to this file instead of stdout.")
def report_cmd(scan: str, db: str | None, fmt: str, output: str | None) -> None:
    """A report for people (self-contained HTML) or dashboards (SARIF, CSV)."""
    store = _open(db)
    try:
        scan_id = store.resolve(scan)
        _emit(render_report(store.load_report(scan_id), fmt, store, scan_id), output)
    except HistoryError as exc:
        _fail(str(exc))
    finally:
        store.close()


@click.command("diff")
@click.argument("old", required=False)
@click.argument("new", required=False)
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def diff_cmd(old: str | None, new: str | None, db: str | None, fmt: str) -> None:
    """What changed between two scans (default: the last two of the same scope)."""
    store = _open(db)
    try:
        if old is None:
            old_id, new_id = store.last_two_of_same_scope()
        else:
            old_id = store.resolve(old)
            new_id = store.resolve(new or "last")
        delta = diff_findings(store.findings(old_id), store.findings(new_id),
                              store.services(new_id))
    except HistoryError as exc:
        _fail(str(exc))
        return
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps({"old": old_id, "new": new_id, **delta.as_dict()}, indent=2))
        return
    click.echo(f"{old_id} -> {new_id}: {len(delta.new)} new, {len(delta.resolved)} resolved, "
               f"{len(delta.not_seen)} not seen, {len(delta.changed)} changed, "
               f"{len(delta.still_open)} still open")
    if not (delta.new or delta.resolved or delta.not_seen or delta.changed):
        click.echo("no change")
    for f in delta.new:
        click.echo(f"+ new       [{f.severity.value}] {f.host}:{f.port} {f.protocol}: {f.title}")
    for f in delta.resolved:
        click.echo(f"- resolved  [{f.severity.value}] {f.host}:{f.port} {f.protocol}: {f.title}")
    for f in delta.not_seen:
        click.echo(f"? not seen  [{f.severity.value}] {f.host}:{f.port} {f.protocol}: {f.title}"
                   " (the service did not answer)")
    for o, n in delta.changed:
        what = (f"{o.severity.value} -> {n.severity.value}" if o.severity != n.severity
                else "evidence changed")
        click.echo(f"~ changed   [{what}] {n.host}:{n.port} {n.protocol}: {n.title}")


@click.group("schedule")
def schedule_group() -> None:
    """Scheduled scans from a TOML file of named jobs (see README)."""


def _load(config: str) -> tuple[ScheduleConfig, Store]:
    import logging

    from scanner.redact import install_log_filter

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="nasscan: %(levelname)s: %(message)s",
                            stream=sys.stderr)
    install_log_filter()  # no webhook URL or secret reaches a log line
    try:
        cfg = load_schedule(Path(config))
    except ScheduleConfigError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from exc
    return cfg, _open(cfg.db or os.environ.get("NASSCAN_DB"))


def _say(line: str) -> None:
    """One log line of the scheduler: UTC timestamp, then the line (flushed: a service log)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    click.echo(f"{stamp} {line}")
    sys.stdout.flush()


@schedule_group.command("check")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-n", "count", type=click.IntRange(1, 50), default=5, show_default=True,
              help="How many fire times to show per job.")
def schedule_check(config: str, count: int) -> None:
    """Validate every job (options, probes, ports, targets) and show its next fire times."""
    from scanner.request import ScanRequestError

    try:
        cfg = load_schedule(Path(config))
    except ScheduleConfigError as exc:
        _fail(str(exc))
        return
    now = datetime.now(UTC)
    bad = 0
    for name, job in cfg.jobs.items():
        try:
            scope, options = asyncio.run(job.build())
        except ScanRequestError as exc:
            click.echo(f"job {name}: INVALID: {exc}")
            bad += 1
            continue
        probes = ", ".join(p.name for p in options.probes) or "none (discovery only)"
        click.echo(f"job {name}: {scope.size} hosts, ports {options.ports}, probes {probes}, "
                   f"{len(job.alerts)} alert(s); cron '{job.cron}' (UTC), next:")
        for when in job.next_fires(now, count):
            click.echo(f"  {when.isoformat().replace('+00:00', 'Z')}")
    if bad:
        click.echo(f"nasscan: {bad} invalid job(s) in {config}", err=True)
        sys.exit(2)


@schedule_group.command("run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--max-fires", type=int, default=None, help="Stop after this many fire times.")
def schedule_run(config: str, max_fires: int | None) -> None:
    """Run every job at its cron times, in the foreground, until stopped (a line per run)."""
    from scanner.history.jobs import scan_job

    cfg, store = _load(config)
    scheduler = Scheduler(cfg, store, scan_job, say=_say)
    try:
        asyncio.run(scheduler.serve(max_fires=max_fires))
    except KeyboardInterrupt:
        sys.exit(3)
    finally:
        store.close()


@schedule_group.command("once")
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("job")
def schedule_once(config: str, job: str) -> None:
    """Run one job now (recorded, compared with the previous scan, alerts sent)."""
    from scanner.history.jobs import scan_job

    cfg, store = _load(config)
    jobs = cfg.jobs
    if job not in jobs:
        _fail(f"no job {job!r} in {config} (jobs: {', '.join(sorted(jobs))})")
    from scanner.credentials import CredentialError

    try:
        outcome = asyncio.run(run_job(jobs[job], store, scan_job))
    except CredentialError as exc:
        _fail(str(exc))
        return
    finally:
        store.close()
    click.echo(f"job {job}: {outcome.describe()}")


COMMANDS = [history_cmd, show_cmd, report_cmd, diff_cmd, schedule_group]
