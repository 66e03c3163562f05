"""Where a scan's report goes, as nmap users expect, and how fast the scan runs.

- ``--format F`` with ``-o FILE`` (default: the console on stdout);
- ``-oN/-oJ/-oS/-oC/-oH/-oL FILE``: console text, JSON, SARIF, CSV, HTML, JSONL, several in one
  run (``-`` is stdout); ``-oA BASENAME`` writes all of them as ``BASENAME.txt/.json/...``;
- ``--wide``/``-v``: every column and service in the console (``-v`` also prints a progress
  line a minute when stderr is not a terminal);
- ``-T0``..``-T5``: timing templates (``TIMING``), overridden by any explicit flag.

Files are created owner-only (0600) before the scan starts, so a bad path fails at once and the
JSONL stream is on disk while the scan runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import click

if TYPE_CHECKING:  # the CLI imports this module at start-up: no scan machinery here
    from scanner.models import Finding, Report

# (flag, parameter, format, extension of -oA)
OUTPUT_FLAGS = [
    ("-oN", "out_normal", "console", ".txt"),
    ("-oJ", "out_json", "json", ".json"),
    ("-oS", "out_sarif", "sarif", ".sarif"),
    ("-oC", "out_csv", "csv", ".csv"),
    ("-oH", "out_html", "html", ".html"),
    ("-oL", "out_jsonl", "jsonl", ".jsonl"),
]
FILE_WIDTH = 160
"""Console text written to a file (``-oN``) is laid out for this many columns, every column."""
PIPE_WIDTH = 140
"""Console text on a stdout that is not a terminal."""


@dataclass(frozen=True)
class Timing:
    name: str
    timeout: float
    retries: int
    rate: float | None
    concurrency: int | None
    per_host: int


# -T0 .. -T5 as nmap names them. None: unlimited rate / concurrency sized from the fd limit.
TIMING: dict[str, Timing] = {
    "0": Timing("paranoid", 5.0, 3, 1.0, 1, 1),
    "1": Timing("sneaky", 3.0, 2, 10.0, 10, 1),
    "2": Timing("polite", 2.0, 2, 100.0, 100, 2),
    "3": Timing("normal", 1.0, 1, None, None, 8),
    "4": Timing("aggressive", 0.5, 1, None, None, 16),
    "5": Timing("insane", 0.25, 0, None, None, 32),
}
TIMING_CHOICES = [*TIMING, *(t.name for t in TIMING.values())]
_TIMED = ("timeout", "retries", "rate", "concurrency", "per_host")


class OutputError(ValueError):
    """An output option that cannot be used (the CLI reports it as a usage error)."""


def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The output, display and timing options of ``nasscan scan``."""
    for flag, param, fmt, _ext in reversed(OUTPUT_FLAGS):
        command = click.option(
            flag, param, metavar="FILE", default=None,
            help=f"Also write the {fmt} report to FILE ('-' = stdout).",
        )(command)  # fmt: skip
    decorators = [
        click.option("-oA", "out_all", metavar="BASENAME", default=None,
                     help="Write every format: BASENAME.txt/.json/.sarif/.csv/.html/.jsonl."),
        click.option("--wide", is_flag=True, help="Console: every column, nothing shortened."),
        click.option("-v", "--verbose", count=True,
                     help="Same as --wide; progress lines on a non-terminal stderr."),
        click.option("-T", "--timing", "timing", type=click.Choice(TIMING_CHOICES),
                     default=None, metavar="0-5",
                     help="Timing template -T0 (paranoid) .. -T5 (insane); flags win."),
    ]  # fmt: skip
    for deco in reversed(decorators):
        command = deco(command)
    return command


def apply_timing(params: dict[str, Any], explicit: set[str]) -> dict[str, Any]:
    """``params`` with the timing template's values for every option not given explicitly."""
    choice = params.get("timing")
    if choice is None:
        return params
    template = TIMING.get(choice) or next(t for t in TIMING.values() if t.name == choice)
    out = dict(params)
    for key in _TIMED:
        if key not in explicit:
            out[key] = getattr(template, key)
    return out


@dataclass(frozen=True)
class OutputSpec:
    fmt: str
    path: str | None
    """None: stdout."""


def output_specs(params: dict[str, Any]) -> list[OutputSpec]:
    """Every output of this run: ``--format``/``-o`` plus each ``-oX`` and ``-oA``."""
    extra: list[OutputSpec] = []
    for _flag, param, fmt, _ext in OUTPUT_FLAGS:
        path = params.get(param)
        if path:
            extra.append(OutputSpec(fmt, None if path == "-" else path))
    base = params.get("out_all")
    if base:
        extra += [OutputSpec(fmt, base + ext) for _f, _p, fmt, ext in OUTPUT_FLAGS]
    output = params.get("output")
    main = OutputSpec(params.get("fmt") or "console", None if output == "-" else output)
    specs = [main, *extra]
    if any(s.path is None for s in extra):
        if main.path is None and main.fmt != "console":
            raise OutputError("two reports to stdout: --format and an -o option with '-'")
        if main.path is None:
            specs = extra  # '-oJ -' replaces the console on stdout, as in nmap
    seen: set[str | None] = set()
    for spec in specs:
        key = None if spec.path is None else os.path.abspath(spec.path)
        if key in seen:
            raise OutputError(f"two reports to the same place: {spec.path or 'stdout'!r}")
        seen.add(key)
    return specs


def render(report: Report, fmt: str) -> str:
    """A non-console format as text (every format derives from the one model)."""
    if fmt == "json":
        from scanner.report.json_report import render_json

        return render_json(report)
    if fmt == "jsonl":
        return "".join(f.model_dump_json() + "\n" for f in report.findings)
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


class ReportWriter:
    """Opens every output before the scan, streams JSONL while it runs, writes the rest after."""

    def __init__(
        self,
        specs: list[OutputSpec],
        stack: ExitStack,
        *,
        wide: bool = False,
        resumed: list[Finding] | None = None,
    ) -> None:
        """``resumed``: the findings of an interrupted scan being resumed (JSONL files are then
        appended to, with what they lack from it first and nothing twice)."""
        from scanner.report.output import (
            AtomicOutput,
            is_special,
            jsonl_resume_ids,
            open_private,
        )

        self.wide = wide
        self.targets: list[tuple[OutputSpec, TextIO, AtomicOutput | None]] = []
        self.sinks: list[Callable[[Finding], None]] = []
        for spec in specs:
            whole: AtomicOutput | None = None
            already: set[str] = set()
            if spec.path is None:
                stream: TextIO = sys.stdout
            else:
                try:  # before the scan: an unwritable output is an input error, not a lost scan
                    if spec.fmt == "jsonl":
                        if resumed is not None:
                            already = jsonl_resume_ids(spec.path)
                        append = resumed is not None
                        stream = stack.enter_context(open_private(spec.path, append=append))
                    elif is_special(spec.path):  # /dev/stdout, a FIFO: written in place
                        stream = stack.enter_context(open_private(spec.path))
                    else:  # whole files: a temporary file renamed into place at the end
                        whole = AtomicOutput(spec.path)
                        stack.callback(whole.discard)
                        stream = whole.stream
                except OSError as exc:
                    raise OutputError(
                        f"cannot write output file {spec.path!r}: {exc.strerror}"
                    ) from None
            self.targets.append((spec, stream, whole))
            if spec.fmt == "jsonl":
                from scanner.report.json_report import JsonlWriter

                writer = JsonlWriter(stream)
                if resumed is not None and spec.path is not None:
                    writer.skip = already
                    for finding in resumed:
                        writer.write(finding)
                self.sinks.append(writer.write)

    def finish(self, report: Report) -> None:
        for spec, stream, whole in self.targets:
            if spec.fmt == "jsonl":
                continue  # streamed as found
            if spec.fmt == "console":
                self._console(report, spec, stream)
            else:
                stream.write(render(report, spec.fmt))
            stream.flush()
            if whole is not None:
                whole.commit()

    def _console(self, report: Report, spec: OutputSpec, stream: TextIO) -> None:
        from rich.console import Console

        from scanner.report.console import render_console

        if spec.path is None and stream.isatty():
            render_console(report, Console(file=stream), wide=self.wide)
        elif spec.path is None:
            render_console(report, Console(file=stream, width=PIPE_WIDTH), wide=self.wide)
        else:  # a file is read later, in any window: every column, no colour codes
            console = Console(file=stream, width=FILE_WIDTH, color_system=None)
            render_console(report, console, wide=True)
