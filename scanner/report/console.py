"""Console output for people: what is exposed first, then a findings table that fits the
terminal, then the services and a one-line summary. (The progress line on stderr:
``scanner.report.progress``.)

Nothing here lets the terminal wrap a line: every line is built to fit ``console.width``, and
the tokens people search for (an address, a kind, a severity) are never split. Prose wraps at
spaces; table cells that do not fit are shortened with an ellipsis (``--wide`` wraps them
instead, within their column).
"""

from __future__ import annotations

import io
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from scanner.masking import mask_report
from scanner.models import Finding, Report, Severity, host_order

_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_GAP = "  "
_WIDE_AT = 120
"""From this width on, the compact table also shows protocol and resource."""


def _endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _service_of(f: Finding) -> str:
    return _endpoint(f.host, f.port) + ("" if f.transport == "tcp" else f"/{f.transport}")


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def _wrap(text: str, width: int, indent: str = "", subsequent: str = "") -> list[str]:
    """Word-wrapped lines; words (addresses, names) are never broken, only moved."""
    return textwrap.wrap(
        text,
        width=max(20, width),
        initial_indent=indent,
        subsequent_indent=subsequent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]


def severity_counts(report: Report) -> Counter[Severity]:
    return Counter(f.severity for f in report.findings)


def exposed_services(findings: list[Finding]) -> list[tuple[Severity, str]]:
    """One (worst severity, line) per service with something worse than info, worst first."""
    from scanner.triage import summarise_service

    by_service: dict[tuple[str, int, str], list[Finding]] = defaultdict(list)
    for f in findings:
        by_service[(f.host, f.port, f.transport.value)].append(f)
    rows: list[tuple[int, tuple[int, int], int, Severity, str]] = []
    for (host, port, _t), fs in by_service.items():
        line = summarise_service(fs)
        if not line:
            continue
        worst = max((f.severity for f in fs), key=lambda s: s.rank)
        rows.append((-worst.rank, host_order(host), port, worst, line))
    rows.sort(key=lambda r: r[:3])
    return [(r[3], r[4]) for r in rows]


def render_console(report: Report, console: Console | None = None, *, wide: bool = False) -> str:
    """Print the report to ``console`` (returns ""), or render it as plain text (returned).

    ``wide`` shows every column and every service, wrapping long cells instead of shortening.
    """
    report = mask_report(report)
    if console is None:
        buf = io.StringIO()
        _render(report, Console(file=buf, width=120, color_system=None), wide=wide)
        return buf.getvalue()
    _render(report, console, wide=wide)
    return ""


@dataclass
class _Column:
    name: str
    cells: list[str]
    fixed: bool
    """A column of tokens (severity, service, kind, protocol): always as wide as its widest."""
    width: int = 0


def _columns(
    findings: list[Finding], width: int, wide: bool
) -> tuple[list[_Column], list[_Column]]:
    """The table's columns, and those that did not fit beside them: those go on lines of their
    own under each row (only at narrow widths), so the token columns never have to shrink."""
    cols = [
        _Column("SEVERITY", [f.severity.value for f in findings], True),
        _Column("SERVICE", [_service_of(f) for f in findings], True),
    ]
    if wide or width >= _WIDE_AT:
        cols.append(_Column("PROTOCOL", [f.protocol for f in findings], True))
    cols.append(_Column("KIND", [f.kind.value for f in findings], True))
    if wide or width >= _WIDE_AT:
        cols.append(_Column("RESOURCE", [f.resource or "-" for f in findings], False))
    cols.append(_Column("TITLE", [f.title for f in findings], False))
    for c in cols:
        c.width = max(len(c.name), *(len(x) for x in c.cells))
    below: list[_Column] = []

    def free() -> int:
        fixed = [c for c in cols if c.fixed]
        return width - 3 - sum(c.width for c in fixed) - len(_GAP) * len(fixed)

    flexible = [c for c in cols if not c.fixed]
    if free() < (24 if len(flexible) > 1 else 12):  # too narrow: cells under the row
        below = flexible
        cols = [c for c in cols if c.fixed]
        for name in ("KIND", "PROTOCOL"):  # still too wide: these go under the row too
            col = next((c for c in cols if c.name == name), None)
            if col is not None and free() < 0:
                cols.remove(col)
                below.insert(0, col)
        return cols, below
    room = free()
    resource = next((c for c in flexible if c.name == "RESOURCE"), None)
    if resource is not None:
        resource.width = min(resource.width, max(8, room // 3))
        room -= resource.width + len(_GAP)
    flexible[-1].width = min(flexible[-1].width, room)
    return cols, below


def _cell_lines(text: str, width: int, wide: bool) -> list[str]:
    if len(text) <= width:
        return [text]
    if not wide:
        return [_fit(text, width)]
    return textwrap.wrap(text, width=max(1, width), break_on_hyphens=False) or [""]


def _table_lines(findings: list[Finding], width: int, wide: bool) -> list[Text]:
    cols, below = _columns(findings, width, wide)
    lines: list[Text] = []
    lines.append(Text("  " + _GAP.join(c.name.ljust(c.width) for c in cols).rstrip(), "bold"))
    indent = " " * 6
    for i, f in enumerate(findings):
        cells = [[c.cells[i]] if c.fixed else _cell_lines(c.cells[i], c.width, wide)
                 for c in cols]
        for row in range(max(len(x) for x in cells)):
            text = Text("  ")
            for j, (c, lines_of) in enumerate(zip(cols, cells, strict=True)):
                cell = lines_of[row] if row < len(lines_of) else ""
                if j:
                    text.append(_GAP)
                last = j == len(cols) - 1
                padded = cell if last else cell.ljust(c.width)
                text.append(padded, style=_STYLE[f.severity] if j == 0 and row == 0 else "")
            text.rstrip()
            lines.append(text)
        for c in below:
            label = f"{c.name.lower()}: "
            for k, part in enumerate(_cell_lines(c.cells[i], width - 1 - len(indent)
                                                 - len(label), wide)):
                lines.append(Text(indent + (label if k == 0 else " " * len(label)) + part))
    return lines


def _print(console: Console, line: Text | str) -> None:
    console.print(line, no_wrap=True, overflow="ignore", crop=False, markup=False,
                  highlight=False, soft_wrap=True)


def _render(report: Report, console: Console, *, wide: bool = False) -> None:
    width = console.width
    scope = report.scope
    probes = ", ".join(scope.get("probes", [])) or "none (discovery only)"
    head = (
        f"{report.scanner.name} {report.scanner.version}  scope: {scope.get('hosts', '?')} "
        f"hosts, {scope.get('pairs', '?')} host-port pairs, probes: {probes}"
    )
    for line in _wrap(head, width - 1, "", "  "):
        _print(console, line)
    if wide and scope.get("ports"):
        ports = ", ".join(str(scope["ports"]).split(","))
        for line in _wrap(f"ports: {ports}", width - 1, "", "  "):
            _print(console, line)

    exposed = exposed_services(report.findings)
    if exposed:
        _print(console, "")
        _print(console, Text("Exposed services, worst first:", "bold"))
        label = max(len(s.value) for s, _ in exposed)
        for sev, line in exposed:
            wrapped = _wrap(line, width - 1 - label - 3, "", "")
            for k, part in enumerate(wrapped):
                text = Text("  ")
                text.append(sev.value.ljust(label) if k == 0 else " " * label,
                            style=_STYLE[sev] if k == 0 else "")
                text.append(" " + part)
                _print(console, text)

    if report.findings:
        _print(console, "")
        more = "" if wide or width >= _WIDE_AT else " (--wide for every column)"
        _print(console, Text(f"Findings: {len(report.findings)}{more}", "bold"))
        for text in _table_lines(report.findings, width, wide):
            _print(console, text)

    discovery_only = not scope.get("probes")
    if report.services and (wide or discovery_only):
        _print(console, "")
        _print(console, Text("Services:", "bold"))
        rows = []
        for s in report.services:
            tls = "-" if s.tls is None else ("tls" if s.tls else "no tls")
            statuses = ", ".join(f"{k}={v.value}" for k, v in s.probes.items())
            rows.append((_endpoint(s.host, s.port) + f"/{s.transport.value}",
                         s.protocol or "?", tls, statuses))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        w2 = max(len(r[2]) for r in rows)
        for r in rows:
            lead = f"  {r[0].ljust(w0)}{_GAP}{r[1].ljust(w1)}{_GAP}{r[2].ljust(w2)}"
            if not r[3]:
                _print(console, lead.rstrip())
                continue
            pad = " " * (len(lead) + len(_GAP))
            for k, part in enumerate(_wrap(r[3], width - 1 - len(pad))):
                _print(console, (lead + _GAP if k == 0 else pad) + part)

    if report.errors:
        _print(console, "")
    shown = report.errors if wide else report.errors[:10]
    for err in shown:
        for line in _wrap(f"error: {err}", width - 1, "", "  "):
            _print(console, Text(line, "red"))
    if len(report.errors) > len(shown):
        _print(console, Text(f"... and {len(report.errors) - len(shown)} more errors (--wide)",
                             "red"))
    counts = severity_counts(report)
    parts = [f"{counts[s]} {s.value}" for s in _ORDER if counts[s]]
    summary = (
        f"{len(report.services)} open services, {len(report.findings)} findings"
        + (f" ({', '.join(parts)})" if parts else "")
        + (f", scanned in {scope['duration_s']} s" if "duration_s" in scope else "")
    )
    if report.aborted:
        summary += " - ABORTED, results incomplete"
    _print(console, "")
    for line in _wrap(summary, width - 1, "", "  "):
        _print(console, Text(line, "bold"))
