"""A self-contained HTML report for people: no external assets, no scripts.

Order follows the reader: the one-paragraph summary a manager reads first, what changed since
the previous scan, a trend chart, then one table per host with evidence and remediation.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from html import escape

from scanner.history.diff import Delta
from scanner.models import Finding, Kind, Report, Severity, host_order
from scanner.triage import summarise_service

_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
_COLOUR = {
    Severity.CRITICAL: "#8b0000",
    Severity.HIGH: "#d9480f",
    Severity.MEDIUM: "#e6a700",
    Severity.LOW: "#1c7ed6",
    Severity.INFO: "#868e96",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:72rem;color:#212529;padding:0 1rem}
h1{margin-bottom:.2rem}.meta{color:#666;margin-top:0}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.8rem 1.2rem;min-width:8rem}
.card b{display:block;font-size:1.8rem}
.sev{color:#fff;border-radius:.3rem;padding:.1rem .45rem;font-size:.8rem;font-weight:600}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}
th,td{border-bottom:1px solid #e5e5e5;text-align:left;padding:.35rem .5rem;vertical-align:top}
th{background:#f6f6f6}details pre{white-space:pre-wrap;background:#f8f9fa;padding:.5rem;
font-size:.8rem}
.new{color:#c92a2a;font-weight:600}.resolved{color:#2b8a3e;font-weight:600}
ul.summary li{margin:.2rem 0}
"""


def _badge(sev: Severity) -> str:
    return f'<span class="sev" style="background:{_COLOUR[sev]}">{escape(sev.value)}</span>'


def _headline(report: Report) -> list[str]:
    unauth = {(f.host, f.port) for f in report.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS}
    clear = {(f.host, f.port) for f in report.findings if f.kind == Kind.CLEARTEXT_TRANSPORT}
    counts = Counter(f.severity for f in report.findings)
    lines = [
        f"{len(report.services)} storage services answered; "
        f"{len(unauth)} hand out data with no credentials; "
        f"{len(clear)} carry credentials or data in plaintext.",
    ]
    worst = next((s for s in _ORDER if counts.get(s)), None)
    if worst is not None:
        lines.append(
            "Findings: "
            + ", ".join(f"{counts[s]} {s.value}" for s in _ORDER if counts.get(s))
            + "."
        )
    else:
        lines.append("No findings.")
    by_service: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_service[(f.host, f.port)].append(f)
    # The same one line per exposed service as the console: what a stranger could take.
    for (_host, _port), fs in sorted(by_service.items(), key=lambda kv: (
            host_order(kv[0][0]), kv[0][1])):
        if not any(f.kind == Kind.UNAUTHENTICATED_ACCESS for f in fs):
            continue
        line = summarise_service(fs)
        if line:
            lines.append(line)
    return lines


def _trend_svg(trend: list[tuple[str, dict[str, int]]]) -> str:
    """Stacked bars of findings by severity over the last scans (oldest left)."""
    if not trend:
        return "<p>No earlier scans of this scope.</p>"
    width, height, pad = 640, 220, 30
    bar_w = max(8, min(60, (width - 2 * pad) // max(1, len(trend)) - 10))
    top = max(1, max(sum(c.values()) for _, c in trend))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" '
        f'role="img" aria-label="Findings by severity over the last scans">'
    ]
    for i, (scan_id, counts) in enumerate(trend):
        x = pad + i * (bar_w + 10)
        y = height
        for sev in reversed(_ORDER):
            n = counts.get(sev.value, 0)
            if not n:
                continue
            h = int((height - pad) * n / top)
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y}" width="{bar_w}" height="{h}" fill="{_COLOUR[sev]}">'
                f"<title>{escape(scan_id)}: {n} {sev.value}</title></rect>"
            )
        total = sum(counts.values())
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{y - 4}" font-size="11" text-anchor="middle">'
            f"{total}</text>"
        )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{height + 14}" font-size="9" text-anchor="middle">'
            f"{escape(scan_id[:15])}</text>"
        )
    x = pad
    for sev in _ORDER:
        parts.append(f'<rect x="{x}" y="{height + 24}" width="10" height="10" '
                     f'fill="{_COLOUR[sev]}"/>')
        parts.append(f'<text x="{x + 14}" y="{height + 33}" font-size="11">{sev.value}</text>')
        x += 80
    parts.append("</svg>")
    return "".join(parts)


def _finding_rows(findings: list[Finding], new_ids: set[str]) -> str:
    rows = []
    for f in sorted(findings, key=lambda f: (_ORDER.index(f.severity), f.port, f.kind.value)):
        mark = ' <span class="new">new</span>' if f.id in new_ids else ""
        evidence = escape(json.dumps(f.evidence, indent=2, sort_keys=True, default=str))
        rows.append(
            "<tr>"
            f"<td>{_badge(f.severity)}{mark}</td>"
            f"<td>{f.port}/{escape(f.transport.value)}</td>"
            f"<td>{escape(f.protocol)}</td>"
            f"<td>{escape(f.kind.value)}</td>"
            f"<td>{escape(f.resource or '-')}</td>"
            f"<td>{escape(f.title)}<details><summary>evidence and remediation</summary>"
            f"<pre>{evidence}</pre><p><b>Remediation:</b> {escape(f.remediation or '-')}</p>"
            "</details></td></tr>"
        )
    return "".join(rows)


def render_html(
    report: Report,
    *,
    scan_id: str | None = None,
    delta: Delta | None = None,
    trend: list[tuple[str, dict[str, int]]] | None = None,
) -> str:
    from scanner.masking import mask_report  # personal identity numbers never leave unmasked

    report = mask_report(report)
    counts = Counter(f.severity for f in report.findings)
    new_ids = {f.id for f in delta.new} if delta else set()
    title = f"nasscan report {scan_id}" if scan_id else "nasscan report"
    targets = report.scope.get("targets", [])
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">Scope: {escape(", ".join(map(str, targets)) or "-")} &middot; '
        f"started {escape(report.started_at.isoformat())}"
        + (f" &middot; finished {escape(report.finished_at.isoformat())}" if report.finished_at
           else "")
        + (" &middot; <b>aborted</b>" if report.aborted else "")
        + f" &middot; {escape(report.scanner.name)} {escape(report.scanner.version)}</p>",
        '<h2 id="summary">Summary</h2><ul class="summary">',
        *[f"<li>{escape(line)}</li>" for line in _headline(report)],
        "</ul>",
        '<div class="cards">',
        *[
            f'<div class="card" data-severity="{s.value}"><b>{counts.get(s, 0)}</b>{s.value}</div>'
            for s in _ORDER
        ],
        "</div>",
    ]
    body.append('<h2 id="changes">Since the previous scan</h2>')
    if delta is None:
        body.append("<p>No previous scan of this scope to compare with.</p>")
    else:
        body.append(
            f'<p><span class="new">{len(delta.new)} new</span>, '
            f'<span class="resolved">{len(delta.resolved)} resolved</span>, '
            f"{len(delta.changed)} changed, {len(delta.still_open)} still open.</p>"
        )
        if delta.new or delta.resolved:
            body.append("<ul>")
            body += [f'<li class="new">new: {escape(f.host)}:{f.port} {escape(f.title)}</li>'
                     for f in delta.new]
            body += [f'<li class="resolved">resolved: {escape(f.host)}:{f.port} '
                     f"{escape(f.title)}</li>" for f in delta.resolved]
            body.append("</ul>")
    body.append('<h2 id="trend">Findings by severity over the last scans</h2>')
    body.append(_trend_svg(trend or []))
    body.append('<h2 id="hosts">Hosts</h2>')
    by_host: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_host[f.host].append(f)
    services_by_host: dict[str, int] = Counter(s.host for s in report.services)
    for host in sorted(set(by_host) | set(services_by_host), key=host_order):
        fs = by_host.get(host, [])
        body.append(f'<h3 class="host">{escape(host)}</h3>')
        if not fs:
            n = services_by_host.get(host, 0)
            body.append(f"<p>{n} service{'' if n == 1 else 's'}, no findings.</p>")
            continue
        body.append(
            "<table><thead><tr><th>severity</th><th>port</th><th>protocol</th><th>kind</th>"
            "<th>resource</th><th>finding</th></tr></thead><tbody>"
            + _finding_rows(fs, new_ids)
            + "</tbody></table>"
        )
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
