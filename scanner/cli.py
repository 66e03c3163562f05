"""The ``nasscan`` command line.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 usage or input
error (one line on stderr naming the offending token, never a traceback); 3 aborted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack, closing, suppress
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click

from scanner import __version__
from scanner.engine import Engine, ResumeState, ScanOptions, default_ports
from scanner.models import Finding, Report, Severity, Transport
from scanner.ports import PortSpecError, parse_ports
from scanner.registry import UnknownProbeError, load_probes, select_probes
from scanner.targets import (
    Scope,
    TargetError,
    build_scope,
    parse_shard,
    read_target_file,
    split_specs,
)

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3
FORMATS = ["console", "json", "jsonl", "csv", "sarif", "html"]
FAIL_ON = [s.value for s in Severity] + ["none"]


class InputError(Exception):
    """Bad user input: reported as one line, exit 2."""


def _fail(message: str) -> NoReturn:
    raise InputError(message)


class _Group(click.Group):
    """The top-level group; feature commands (lab, history) are loaded on first use."""

    _extended = False

    def _extend(self) -> None:
        if not self._extended:
            type(self)._extended = True
            _load_extensions()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._extend()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._extend()
        return super().list_commands(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="nasscan")
def cli() -> None:
    """nasscan: find network storage that answers without authentication or encryption."""


# -- nasscan probes ---------------------------------------------------------------------------


@cli.command("probes")
@click.version_option(__version__, "--version", prog_name="nasscan")
def probes_cmd() -> None:
    """List the installed probes: name, default ports, transport, intrusive, description."""
    probes = load_probes()
    rows = [
        (
            p.name,
            ",".join(str(x) for x in p.default_ports),
            p.transport.value,
            "yes" if p.intrusive else "no",
            p.description,
        )
        for p in probes.values()
    ]
    header = ("NAME", "PORTS", "TRANSPORT", "INTRUSIVE", "DESCRIPTION")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        )


# -- nasscan scan -----------------------------------------------------------------------------


def _probe_options(values: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"bad --probe-option {item!r}: use key=value, e.g. nfs.uid=1000")
        v: Any = value
        if value.lstrip("-").isdigit():
            v = int(value)
        elif value.lower() in ("true", "yes", "on"):
            v = True
        elif value.lower() in ("false", "no", "off"):
            v = False
        out[key.strip()] = v
    return out


def _fails(findings: list[Finding], fail_on: str) -> bool:
    if fail_on == "none":
        return False
    threshold = Severity(fail_on).rank
    return any(f.severity.rank >= threshold for f in findings)


def _render(report: Report, fmt: str) -> str:
    if fmt == "json":
        from scanner.report.json_report import render_json

        return render_json(report)
    if fmt == "csv":
        from scanner.report.csv_report import render_csv

        return render_csv(report)
    if fmt == "sarif":
        from scanner.report.sarif import render_sarif

        return render_sarif(report) + "\n"
    if fmt == "html":
        from scanner.report.html import render_html

        return render_html(report)
    raise AssertionError(fmt)


def _load_rules(path: str | None) -> Any:
    if path is None:
        return None
    if not Path(path).is_file():
        _fail(f"cannot read rules file: {path!r}")
    try:
        from scanner.classify.rules import load_rules

        return load_rules([path])
    except ImportError:  # pragma: no cover - classify is part of the package
        return None
    except ValueError as exc:  # RuleError: its message names the file, the rule and the problem
        _fail(f"bad rules file: {exc}")
    except Exception as exc:
        _fail(f"bad rules file {path!r}: {str(exc).splitlines()[0] if str(exc) else exc!r}")


async def _scope_from(
    targets: Sequence[str],
    input_list: str | None,
    excludes: Sequence[str],
    exclude_file: str | None,
) -> Scope:
    tokens = split_specs(targets)
    if input_list is not None:
        stdin_text = sys.stdin.read() if input_list == "-" else None
        tokens += read_target_file(input_list, stdin_text)
    if not tokens:
        _fail("no targets given (TARGET... or -iL FILE)")
    ex_tokens = split_specs(excludes)
    if exclude_file is not None:
        ex_tokens += read_target_file(exclude_file)
    return await build_scope(tokens, ex_tokens)


async def _run_engine(engine: Engine, *, progress: bool) -> Report:
    from scanner.report.console import progress_display

    loop = asyncio.get_running_loop()
    interrupts = [0]

    def on_signal() -> None:
        interrupts[0] += 1
        engine.abort()
        if interrupts[0] >= 2:  # a second Ctrl-C: stop waiting for cleanup
            loop.remove_signal_handler(signal.SIGINT)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(sig, on_signal)

    def describe() -> str:
        p = engine.progress
        stage = "probing" if p.sweep_done else "sweeping"
        return (
            f"{stage} {p.pairs} host-port pairs: {p.open} open, {p.probed} handled, "
            f"{p.findings} findings"
        )

    try:
        async with progress_display(describe, enabled=progress):
            return await engine.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


@cli.command("scan")
@click.version_option(__version__, "--version", prog_name="nasscan")
@click.argument("targets", nargs=-1)
@click.option(
    "-p",
    "--ports",
    "ports",
    metavar="PORTS",
    help="nmap syntax: 21,80,8000-8100,T:445,U:69 (default: the probes' ports).",
)
@click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="SPEC,...",
    help="Addresses, CIDRs, ranges or names never to touch (always win).",
)
@click.option(
    "--exclude-file",
    "--excludefile",
    "exclude_file",
    metavar="FILE",
    help="Exclusions from a file.",
)
@click.option(
    "-iL", "--input-list", "input_list", metavar="FILE|-", help="Targets from a file ('-' = stdin)."
)
@click.option(
    "--rate",
    "--max-rate",
    "rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="New connections per second, sweep and probes together.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Sweep connections in flight (default: sized from the fd limit).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Connect timeout in seconds.",
)
@click.option(
    "--probe-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Budget of one probe on one service, seconds.",
)
@click.option(
    "--retries",
    "--max-retries",
    "retries",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Extra connect attempts for ports that did not answer.",
)
@click.option(
    "--per-host",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Probe connections at once to one host.",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    help="Sweep processes (default: one per core for big scans).",
)
@click.option(
    "--probes",
    "probes_spec",
    default=None,
    metavar="NAME,...|all|none",
    help="Probes to run; 'none' = discovery only.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="console", show_default=True)
@click.option("-o", "--output", metavar="FILE", help="Write the report here (default stdout).")
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default="low",
    show_default=True,
    help="Exit 1 when a finding is at least this severe.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the scan order (give every shard the same seed).",
)
@click.option(
    "--shard",
    default="1/1",
    show_default=True,
    metavar="I/N",
    help="Scan only part I of N (1-based, as masscan).",
)
@click.option(
    "--sample-bytes",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="INTRUSIVE: read the first N bytes of a few files to classify them.",
)
@click.option("--rules", metavar="FILE", default=None, help="Extra triage rules (TOML).")
@click.option(
    "--probe-option",
    "probe_option",
    multiple=True,
    metavar="KEY=VALUE",
    help="Probe option, repeatable (e.g. nfs.uid=1000).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display, warnings only.")
@click.option("--yes", is_flag=True, help="Confirm a large or public scope.")
@click.option(
    "--db",
    envvar="NASSCAN_DB",
    default=None,
    metavar="PATH|URL",
    help="History store: SQLite file (default: user data dir) or postgresql://...",
)
@click.option("--no-history", is_flag=True, help="Do not record this scan in the history.")
@click.option(
    "--baseline",
    default=None,
    metavar="last|SCAN|FILE",
    help="Mark each finding new or known against an earlier scan or a JSON report.",
)
@click.option(
    "--fail-on-new",
    is_flag=True,
    help="Exit code from new findings only (with --baseline).",
)
@click.option(
    "--resume",
    is_flag=False,
    flag_value="last",
    default=None,
    metavar="[SCAN]",
    help="Continue an interrupted scan (default: the last) with its recorded options.",
)
def scan_cmd(**params: Any) -> int:
    """Scan TARGET... (addresses, CIDRs, ranges, hostnames) for exposed storage."""
    logging.basicConfig(
        level=logging.ERROR if params["quiet"] else logging.WARNING,
        format="nasscan: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    with ExitStack() as stack:
        return _scan(params, stack)


# Options that belong to this invocation, not to the scan: never restored by --resume.
_NOT_RESUMED = ("db", "resume", "quiet", "no_history")


def _history(db: str | None) -> Any:
    from scanner.history.store import HistoryError, open_store

    try:
        return open_store(db)
    except HistoryError as exc:
        _fail(str(exc))


def _resume(params: dict[str, Any], store: Any) -> tuple[dict[str, Any], str, Any]:
    """The recorded options and finished work of the scan to continue."""
    from scanner.history.store import FINISHED, HistoryError

    try:
        scan_id = store.resolve(params["resume"])
        row = store.get_scan(scan_id)
    except HistoryError as exc:
        _fail(str(exc))
    if row.status == FINISHED:
        _fail(f"scan {scan_id} finished; nothing to resume")
    saved = row.options.get("cli")
    if not isinstance(saved, dict):
        _fail(f"scan {scan_id} has no recorded options to resume from")
    restored = {**params, **{k: v for k, v in saved.items() if k not in _NOT_RESUMED}}
    for key in ("targets", "excludes", "probe_option"):
        restored[key] = tuple(restored.get(key) or ())
    state = ResumeState.of(
        store.services(scan_id),
        store.findings(scan_id),
        queued=[(h, p, Transport(t)) for h, p, t in store.queued(scan_id)],
        sweep_done=bool((row.checkpoint or {}).get("sweep_done")),
    )
    return restored, scan_id, state


def _baseline_ids(ref: str, store: Any) -> set[str]:
    from scanner.history.diff import BaselineError, load_baseline_file
    from scanner.history.store import HistoryError

    if Path(ref).is_file():
        try:
            return load_baseline_file(Path(ref))
        except BaselineError as exc:
            _fail(str(exc))
    try:
        ids = {f.id for f in store.findings(store.resolve(ref))}
    except HistoryError as exc:
        _fail(f"baseline {ref!r}: {exc} (give last, a scan id, or a JSON report file)")
    return ids


def _scan(params: dict[str, Any], stack: ExitStack) -> int:
    store = None
    scan_id: str | None = None
    resume_state: ResumeState | None = None
    if params["resume"] is not None:
        store = stack.enter_context(closing(_history(params["db"])))
        params, scan_id, resume_state = _resume(params, store)
    p = params
    try:
        discovery_only = p["probes_spec"] is not None and p["probes_spec"].strip() == "none"
        probes = [] if discovery_only else select_probes(p["probes_spec"])
    except UnknownProbeError as exc:
        _fail(str(exc))
    try:
        port_spec = parse_ports(p["ports"]) if p["ports"] is not None else default_ports(probes)
    except PortSpecError as exc:
        _fail(str(exc))
    if not port_spec:
        _fail("no ports to scan")
    if p["fail_on_new"] and not p["baseline"]:
        _fail("--fail-on-new needs --baseline")
    try:
        shard_t = parse_shard(p["shard"])
        scope = asyncio.run(
            _scope_from(p["targets"], p["input_list"], p["excludes"], p["exclude_file"])
        )
    except TargetError as exc:
        _fail(str(exc))
    why = scope.needs_confirmation()
    if why and not p["yes"]:
        _fail(f"refusing to scan: {why}")
    options = ScanOptions(
        ports=port_spec,
        probes=probes,
        seed=p["seed"],
        shard=shard_t,
        concurrency=p["concurrency"],
        rate=p["rate"],
        connect_timeout=p["timeout"],
        read_timeout=max(5.0, p["timeout"]),
        retries=p["retries"],
        probe_timeout=p["probe_timeout"],
        per_host=p["per_host"],
        processes=p["processes"],
        sample_bytes=p["sample_bytes"],
        probe_options=_probe_options(p["probe_option"]),
        rules=p["rules"],
        rule_set=_load_rules(p["rules"]),
    )
    record = not p["no_history"]
    if store is None and (record or (p["baseline"] and not Path(p["baseline"]).is_file())):
        store = stack.enter_context(closing(_history(p["db"])))
    baseline = _baseline_ids(p["baseline"], store) if p["baseline"] else None

    out: TextIO = sys.stdout
    if p["output"] is not None:
        try:
            out = stack.enter_context(open(p["output"], "w", encoding="utf-8"))  # noqa: SIM115
        except OSError as exc:
            _fail(f"cannot write output file {p['output']!r}: {exc.strerror}")
    fmt = p["fmt"]
    sinks: list[Callable[[Finding], None]] = []
    if baseline is not None:

        def mark(finding: Finding) -> None:
            finding.baseline = "known" if finding.id in baseline else "new"

        sinks.append(mark)
    if fmt == "jsonl":
        from scanner.report.json_report import JsonlWriter

        sinks.append(JsonlWriter(out).write)
    engine = Engine(scope, options, resume=resume_state)
    recorder = None
    if record and store is not None:
        from scanner.history.jobs import Recorder, provisional_scope

        if scan_id is None:
            engine.report.scope = provisional_scope(scope, options)
            saved = {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()
                     if k not in _NOT_RESUMED}
            scan_id = store.begin_scan(engine.report, {"cli": saved})
        else:
            store.reopen_scan(scan_id)
        recorder = Recorder(store, scan_id)
        sinks.append(recorder.on_finding)
        recorder.attach(engine)

    def on_finding(finding: Finding) -> None:
        for sink in sinks:
            sink(finding)

    engine.on_finding = on_finding
    show_progress = not p["quiet"] and sys.stderr.isatty()
    report = asyncio.run(_run_engine(engine, progress=show_progress))
    if baseline is not None:  # findings carried over by --resume were not marked as found
        for finding in report.findings:
            finding.baseline = "known" if finding.id in baseline else "new"
    if recorder is not None:
        recorder.finish(report)
    if fmt == "console":
        from rich.console import Console

        from scanner.report.console import render_console

        tty = p["output"] is None and out.isatty()
        console = Console(file=out) if tty else Console(file=out, width=140)
        render_console(report, console)
    elif fmt != "jsonl":
        out.write(_render(report, fmt))
        out.flush()
    if scan_id is not None and not p["quiet"]:
        click.echo(f"nasscan: recorded as scan {scan_id}", err=True)
    if report.aborted:
        hint = f"; continue with: nasscan scan --resume {scan_id}" if scan_id else ""
        click.echo(f"nasscan: scan aborted; partial results written{hint}", err=True)
        return EXIT_ABORTED
    judged = report.findings
    if p["fail_on_new"]:
        judged = [f for f in report.findings if f.baseline == "new"]
    return EXIT_FINDINGS if _fails(judged, p["fail_on"]) else EXIT_OK


def _load_extensions() -> None:
    """Register the commands that live with their feature: the lab and the scan history.

    Imported only when a command other than ``scan``/``probes`` is asked for (or for --help):
    they pull in heavy libraries that a scan does not need at start-up.
    """
    from scanner.lab.cli import lab as lab_group

    try:
        from scanner.history.cli import COMMANDS
    except ImportError:  # pragma: no cover - until the history package is committed
        COMMANDS = []
    from scanner.fleet.cli import COMMANDS as FLEET  # nasscan worker, nasscan fleet

    for command in [lab_group, *COMMANDS, *FLEET]:
        if command.name and command.name not in cli.commands:
            cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: click in non-standalone mode so every error is one line and exit 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = cli.main(args=args, prog_name="nasscan", standalone_mode=False)
    except InputError as exc:
        click.echo(f"nasscan: error: {exc}", err=True)
        return EXIT_USAGE
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # click >= 8.2: bare `nasscan`
            click.echo(exc.format_message())
            return EXIT_USAGE
        click.echo(f"nasscan: error: {exc.format_message().splitlines()[0]}", err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        click.echo(f"nasscan: error: {exc.format_message().splitlines()[0]}", err=True)
        return EXIT_USAGE
    except (click.Abort, KeyboardInterrupt):
        click.echo("nasscan: aborted", err=True)
        return EXIT_ABORTED
    except BrokenPipeError:
        return EXIT_OK
    return rv if isinstance(rv, int) else EXIT_OK


def run() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    run()
