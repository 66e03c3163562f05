"""The ``nasscan`` command line.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 usage or input
error (one line on stderr naming the offending token, never a traceback); 3 aborted (Ctrl-C).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack, closing, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from scanner.cli_common import (
    EXIT_ABORTED,
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    InputError,
    fail,
    fails,
)
from scanner.outputs import OutputError, ReportWriter, apply_timing, output_specs
from scanner.scan_options import (
    baseline_ids,
    raw_probe_options,
    scan_options,
    typed_probe_options,
)

# The scan machinery (asyncio, pydantic models, the engine, probes, reports, history) is imported
# where it is used, so `nasscan --version` and `--help` start in a fraction of the time.
if TYPE_CHECKING:
    from scanner.engine import Engine, ResumeState
    from scanner.models import Finding, Report
    from scanner.request import ScanRequest

def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    import scanner

    click.echo(f"nasscan, version {scanner.__version__}")
    ctx.exit()


def version_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--version``, the version looked up only when asked for."""
    return click.option(
        "--version",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_show_version,
        help="Show the version and exit.",
    )(f)


LAZY_COMMANDS = {
    "diff": "What changed between two scans (default: the last two of the same scope).",
    "history": "List recorded scans, newest first.",
    "lab": "Real misconfigured storage servers (and secured twins) in a loopback-only namespace.",
    "report": "A report for people (self-contained HTML) or dashboards (SARIF, CSV).",
    "schedule": "Scheduled scans from a TOML file of named jobs (see README).",
    "show": "Print a recorded scan again, in any output format.",
}
"""Commands that live with their feature, with the first line of their help for `nasscan
--help` (a test keeps these equal to the real commands)."""


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
        return sorted({*self.commands, *LAZY_COMMANDS})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The help lists the feature commands without importing them.
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            cmd = self.commands.get(name) or click.Command(name, help=LAZY_COMMANDS[name])
            rows.append((name, cmd.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@version_option
def cli() -> None:
    """nasscan: find network storage that answers without authentication or encryption."""


# -- nasscan probes ---------------------------------------------------------------------------


@cli.command("probes")
@version_option
@click.option("--options", "show_options", is_flag=True,
              help="List every probe option: key, type, default, secret, description.")
def probes_cmd(show_options: bool) -> None:
    """List the installed probes: name, default ports, transport, intrusive, description."""
    from scanner.registry import load_probes

    probes = load_probes()
    if show_options:
        _print_probe_options(probes)
        return
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


def _print_probe_options(probes: dict[str, Any]) -> None:
    from scanner.probe import declared_options, is_secret_key

    rows = []
    for probe in probes.values():
        for key, option in declared_options(probe).items():
            default = option.default
            if isinstance(default, (list, tuple)):
                default = ",".join(map(str, default))
            rows.append((key, option.type, "-" if default in ("", None) else str(default),
                         "yes" if is_secret_key(key, option) else "no", option.help))
    header = ("KEY", "TYPE", "DEFAULT", "SECRET", "DESCRIPTION")
    widths = [min(max(len(r[i]) for r in [header, *rows]), 40) for i in range(4)]
    for row in [header, *rows]:
        cells = [c if len(c) <= w else c[: w - 3] + "..." for c, w in zip(row[:4], widths,
                                                                       strict=True)]
        click.echo("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
                   + "  " + row[4])


# -- nasscan scan -----------------------------------------------------------------------------


def scan_request(p: dict[str, Any]) -> ScanRequest:
    """The ``ScanRequest`` of ``nasscan scan``'s flags (timing templates already applied)."""
    from scanner.request import ScanRequest

    return ScanRequest(
        targets=list(p["targets"]),
        input_list=p["input_list"],
        exclude=list(p["excludes"]),
        exclude_file=p["exclude_file"],
        ports=p["ports"],
        probes=p["probes_spec"],
        timing=p.get("timing"),
        rate=p["rate"],
        concurrency=p["concurrency"],
        timeout=p["timeout"],
        retries=p["retries"],
        probe_timeout=p["probe_timeout"],
        per_host=p["per_host"],
        processes=p["processes"],
        seed=p["seed"],
        shard=p["shard"],
        sample_bytes=p["sample_bytes"],
        rules=p["rules"],
        probe_options=raw_probe_options(p["probe_option"]),
        yes=p["yes"],
        liveness=not p.get("no_liveness", False),
        connect=bool(p.get("connect_sweep", False)),
        max_depth=p["max_depth"],
        max_requests=p["max_requests"],
    )


def _recordable(params: dict[str, Any], secret_keys: Sequence[str]) -> dict[str, Any]:
    """The scan's options as recorded for --resume: never a secret value, only its name."""
    from scanner.redact import redact_url

    saved: dict[str, Any] = {}
    for key, value in params.items():
        if key in _NOT_RESUMED:
            continue
        saved[key] = list(value) if isinstance(value, tuple) else value
    saved["probe_option"] = [
        item for item in saved.get("probe_option") or []
        if item.partition("=")[0].strip() not in secret_keys
    ]
    saved["secret_options"] = list(secret_keys)
    for key in ("targets", "excludes"):  # a target written as a URL with a password
        saved[key] = [redact_url(str(v)) for v in saved.get(key) or []]
    return saved


async def _run_engine(engine: Engine, *, progress: bool, line_every: float | None = None) -> Report:
    import asyncio
    import signal

    from scanner.report.progress import ProgressSnapshot, progress_display

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

    def snapshot() -> ProgressSnapshot:
        p = engine.progress
        return ProgressSnapshot(done=engine.swept, total=p.pairs, open=p.open, handled=p.probed,
                                findings=p.findings, sweep_done=p.sweep_done)

    try:
        async with progress_display(snapshot, enabled=progress, line_every=line_every):
            return await engine.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


@cli.command("scan")
@version_option
@click.argument("targets", nargs=-1)
@scan_options
def scan_cmd(**params: Any) -> int:
    """Scan TARGET... (addresses, CIDRs, ranges, hostnames) for exposed storage."""
    ctx = click.get_current_context()
    explicit = {
        name for name in params
        if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
    }  # fmt: skip
    params = apply_timing(params, explicit)
    logging.basicConfig(
        level=logging.ERROR if params["quiet"] else logging.WARNING,
        format="nasscan: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    from scanner.redact import install_log_filter

    install_log_filter()
    with ExitStack() as stack:
        return _scan(params, stack)


# Options that belong to this invocation, not to the scan: never restored by --resume.
_NOT_RESUMED = ("db", "resume", "quiet", "no_history", "wide", "verbose", "secret_options")


def _history(db: str | None) -> Any:
    from scanner.history.store import HistoryError, open_store

    try:
        return open_store(db)
    except HistoryError as exc:
        fail(str(exc))


def _resume(params: dict[str, Any], store: Any) -> tuple[dict[str, Any], str, Any]:
    """The recorded options and finished work of the scan to continue."""
    from scanner.history.store import FINISHED, HistoryError

    try:
        scan_id = store.resolve(params["resume"])
        row = store.get_scan(scan_id)
    except HistoryError as exc:
        fail(str(exc))
    if row.status == FINISHED:
        fail(f"scan {scan_id} finished; nothing to resume")
    saved = row.options.get("cli")
    if not isinstance(saved, dict):
        fail(f"scan {scan_id} has no recorded options to resume from")
    restored = {**params, **{k: v for k, v in saved.items() if k not in _NOT_RESUMED}}
    # options given now (a secret, never recorded) win over the recorded ones
    restored["probe_option"] = (*(saved.get("probe_option") or ()), *params["probe_option"])
    restored["secret_options"] = tuple(saved.get("secret_options") or ())
    for key in ("targets", "excludes", "probe_option"):
        restored[key] = tuple(restored.get(key) or ())
    from scanner.engine import ResumeState
    from scanner.models import Transport

    state = ResumeState.of(
        store.services(scan_id),
        store.findings(scan_id),
        queued=[(h, p, Transport(t)) for h, p, t in store.queued(scan_id)],
        sweep_done=bool((row.checkpoint or {}).get("sweep_done")),
    )
    return restored, scan_id, state


def _scan(params: dict[str, Any], stack: ExitStack) -> int:
    import asyncio

    from scanner.engine import Engine

    store = None
    scan_id: str | None = None
    resume_state: ResumeState | None = None
    if params["resume"] is not None:
        store = stack.enter_context(closing(_history(params["db"])))
        params, scan_id, resume_state = _resume(params, store)
    p = params
    if p["fail_on_new"] and not p["baseline"]:
        fail("--fail-on-new needs --baseline")
    from scanner.request import ScanRequestError

    request = scan_request(p)
    stdin_text = sys.stdin.read() if p["input_list"] == "-" else None
    try:
        scope, options = asyncio.run(request.build(stdin_text))
    except ScanRequestError as exc:
        fail(str(exc))
    from dataclasses import replace

    probe_options, secret_keys = typed_probe_options(
        raw_probe_options(p["probe_option"]), p.get("secret_options") or (),
        f"scan {scan_id}")
    options = replace(options, probe_options=probe_options)
    record = not p["no_history"]
    if store is None and (record or (p["baseline"] and not Path(p["baseline"]).is_file())):
        store = stack.enter_context(closing(_history(p["db"])))
    baseline = baseline_ids(p["baseline"], store) if p["baseline"] else None

    try:
        writer = ReportWriter(
            output_specs(p), stack, wide=bool(p["wide"] or p["verbose"]),
            resumed=list(resume_state.findings) if resume_state is not None else None,
        )
    except OutputError as exc:
        fail(str(exc))
    sinks: list[Callable[[Finding], None]] = []
    if baseline is not None:

        def mark(finding: Finding) -> None:
            finding.baseline = "known" if finding.id in baseline else "new"

        sinks.append(mark)
    sinks += writer.sinks
    engine = Engine(scope, options, resume=resume_state)
    recorder = None
    if record and store is not None:
        from scanner.engine import provisional_scope
        from scanner.history.jobs import Recorder

        if scan_id is None:
            engine.report.scope = provisional_scope(scope, options)
            scan_id = store.begin_scan(engine.report, {"cli": _recordable(p, secret_keys)})
        else:
            store.reopen_scan(scan_id)
        recorder = Recorder(store, scan_id)
        sinks.append(recorder.on_finding)
        recorder.attach(engine)

    def on_finding(finding: Finding) -> None:
        for sink in sinks:
            sink(finding)

    engine.on_finding = on_finding
    tty = sys.stderr.isatty()
    show_progress = not p["quiet"] and (tty or bool(p["verbose"]))
    line_every = None if tty else 60.0  # not a terminal, -v: one line a minute
    # Everything imported and built so far lives as long as the process: out of the garbage
    # collector's sight, its collections during the scan look only at what the scan makes
    # (0.08 -> 0.03 s of the lab scan's collections; `gc.freeze`).
    import gc

    gc.freeze()
    report = asyncio.run(_run_engine(engine, progress=show_progress, line_every=line_every))
    if baseline is not None:  # findings carried over by --resume were not marked as found
        for finding in report.findings:
            finding.baseline = "known" if finding.id in baseline else "new"
    if recorder is not None:
        recorder.finish(report)
    writer.finish(report)
    if scan_id is not None and not p["quiet"]:
        click.echo(f"nasscan: recorded as scan {scan_id}", err=True)
    if report.aborted:
        hint = f"; continue with: nasscan scan --resume {scan_id}" if scan_id else ""
        click.echo(f"nasscan: scan aborted; partial results written{hint}", err=True)
        return EXIT_ABORTED
    judged = report.findings
    if p["fail_on_new"]:
        judged = [f for f in report.findings if f.baseline == "new"]
    return EXIT_FINDINGS if fails(judged, p["fail_on"]) else EXIT_OK


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
    # `python -m scanner.cli` runs this file as `__main__`, a copy of the module that no feature
    # command imports: they take InputError and the scan options from scanner.cli_common and
    # scanner.scan_options, so the error they raise is the class caught here.
    run()
