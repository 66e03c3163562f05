"""Console output for people (rich): findings table, services, summary; progress on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from scanner.models import Finding, Report, Severity

_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _summaries(findings: list[Finding]) -> list[str]:
    try:
        from scanner.triage import summarise_service
    except ImportError:  # pragma: no cover - triage is part of the package
        return []
    by_service: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    for f in findings:
        by_service[(f.host, f.port)].append(f)
    lines = []
    for fs in by_service.values():
        line = summarise_service(fs)
        if line:
            lines.append(line)
    return lines


def severity_counts(report: Report) -> Counter[Severity]:
    return Counter(f.severity for f in report.findings)


def render_console(report: Report, console: Console | None = None) -> str:
    """A readable table of findings, the services seen and a one-line summary.

    Printed to ``console`` when given (returns ""), else rendered as plain text and returned.
    """
    from scanner.masking import mask_report  # personal identity numbers never reach the screen

    report = mask_report(report)
    if console is None:
        buf = io.StringIO()
        _render(report, Console(file=buf, width=120, color_system=None, soft_wrap=False))
        return buf.getvalue()
    _render(report, console)
    return ""


def _render(report: Report, console: Console) -> None:
    scope = report.scope
    console.print(
        Text.assemble(
            (f"{report.scanner.name} {report.scanner.version}", "bold"),
            f"  scope: {scope.get('hosts', '?')} hosts, ports {scope.get('ports', '?')}, "
            f"probes: {', '.join(scope.get('probes', [])) or 'none (discovery only)'}",
        )
    )
    if report.findings:
        table = Table(title="Findings", show_lines=False, expand=False)
        for col in ("severity", "service", "protocol", "kind", "resource", "title"):
            table.add_column(col, overflow="fold")
        for f in report.findings:
            table.add_row(
                Text(f.severity.value, style=_STYLE[f.severity]),
                _endpoint(f.host, f.port) + ("" if f.transport == "tcp" else f"/{f.transport}"),
                f.protocol,
                f.kind.value,
                f.resource or "-",
                f.title,
            )
        console.print(table)
        summaries = _summaries(report.findings)
        if summaries:
            console.print(Text("Exposed:", style="bold"))
            for line in summaries:
                console.print(f"  {line}", markup=False, highlight=False)
    if report.services:
        table = Table(title="Services", expand=False)
        for col in ("service", "transport", "protocol", "tls", "probes"):
            table.add_column(col, overflow="fold")
        for s in report.services:
            statuses = ", ".join(f"{k}={v.value}" for k, v in s.probes.items()) or "-"
            table.add_row(
                _endpoint(s.host, s.port),
                s.transport.value,
                s.protocol or "?",
                "-" if s.tls is None else ("yes" if s.tls else "no"),
                statuses,
            )
        console.print(table)
    for err in report.errors[:10]:
        console.print(Text(f"error: {err}", style="red"), markup=False)
    if len(report.errors) > 10:
        console.print(Text(f"... and {len(report.errors) - 10} more errors", style="red"))
    counts = severity_counts(report)
    parts = [f"{counts[s]} {s.value}" for s in _ORDER if counts[s]]
    summary = (
        f"{len(report.services)} open services, {len(report.findings)} findings"
        + (f" ({', '.join(parts)})" if parts else "")
        + (f", scanned in {scope['duration_s']} s" if "duration_s" in scope else "")
    )
    if report.aborted:
        summary += " - ABORTED, results incomplete"
    console.print(Text(summary, style="bold"))


@contextlib.asynccontextmanager
async def progress_display(
    describe: Callable[[], str], *, enabled: bool, console: Console | None = None
) -> AsyncIterator[None]:
    """A spinner line on stderr refreshed from ``describe()`` while the scan runs."""
    if not enabled:
        yield
        return
    out = console or Console(stderr=True)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    )
    task = progress.add_task(describe(), total=None)

    async def refresh() -> None:
        while True:
            progress.update(task, description=describe())
            await asyncio.sleep(0.2)

    with progress:
        updater = asyncio.create_task(refresh())
        try:
            yield
        finally:
            updater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await updater
