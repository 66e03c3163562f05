"""The ``nasscan`` command line.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 usage or input
error (one line on stderr naming the offending token, never a traceback); 3 aborted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click

from scanner import __version__
from scanner.engine import Engine, ScanOptions, default_ports
from scanner.models import Finding, Report, Severity
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


def _fails(report: Report, fail_on: str) -> bool:
    if fail_on == "none":
        return False
    threshold = Severity(fail_on).rank
    return any(f.severity.rank >= threshold for f in report.findings)


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
def scan_cmd(
    targets: tuple[str, ...],
    ports: str | None,
    excludes: tuple[str, ...],
    exclude_file: str | None,
    input_list: str | None,
    rate: float | None,
    concurrency: int | None,
    timeout: float,
    probe_timeout: float,
    retries: int,
    per_host: int,
    processes: int | None,
    probes_spec: str | None,
    fmt: str,
    output: str | None,
    fail_on: str,
    seed: int,
    shard: str,
    sample_bytes: int,
    rules: str | None,
    probe_option: tuple[str, ...],
    quiet: bool,
    yes: bool,
) -> int:
    """Scan TARGET... (addresses, CIDRs, ranges, hostnames) for exposed storage."""
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.WARNING,
        format="nasscan: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        discovery_only = probes_spec is not None and probes_spec.strip() == "none"
        probes = [] if discovery_only else select_probes(probes_spec)
    except UnknownProbeError as exc:
        _fail(str(exc))
    try:
        port_spec = parse_ports(ports) if ports is not None else default_ports(probes)
    except PortSpecError as exc:
        _fail(str(exc))
    if not port_spec:
        _fail("no ports to scan")
    try:
        shard_t = parse_shard(shard)
        scope = asyncio.run(_scope_from(targets, input_list, excludes, exclude_file))
    except TargetError as exc:
        _fail(str(exc))
    why = scope.needs_confirmation()
    if why and not yes:
        _fail(f"refusing to scan: {why}")
    options = ScanOptions(
        ports=port_spec,
        probes=probes,
        seed=seed,
        shard=shard_t,
        concurrency=concurrency,
        rate=rate,
        connect_timeout=timeout,
        read_timeout=max(5.0, timeout),
        retries=retries,
        probe_timeout=probe_timeout,
        per_host=per_host,
        processes=processes,
        sample_bytes=sample_bytes,
        probe_options=_probe_options(probe_option),
        rules=rules,
        rule_set=_load_rules(rules),
    )
    with ExitStack() as stack:
        out: TextIO = sys.stdout
        if output is not None:
            try:
                out = stack.enter_context(open(output, "w", encoding="utf-8"))
            except OSError as exc:
                _fail(f"cannot write output file {output!r}: {exc.strerror}")
        on_finding = None
        if fmt == "jsonl":
            from scanner.report.json_report import JsonlWriter

            writer = JsonlWriter(out)

            def on_finding(finding: Finding) -> None:
                writer.write(finding)

        engine = Engine(scope, options, on_finding=on_finding)
        show_progress = not quiet and sys.stderr.isatty()
        report = asyncio.run(_run_engine(engine, progress=show_progress))
        if fmt == "console":
            from rich.console import Console

            from scanner.report.console import render_console

            tty = output is None and out.isatty()
            console = Console(file=out) if tty else Console(file=out, width=140)
            render_console(report, console)
        elif fmt != "jsonl":
            out.write(_render(report, fmt))
            out.flush()
    if report.aborted:
        click.echo("nasscan: scan aborted; partial results written", err=True)
        return EXIT_ABORTED
    return EXIT_FINDINGS if _fails(report, fail_on) else EXIT_OK


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
    for command in [lab_group, *COMMANDS]:
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
