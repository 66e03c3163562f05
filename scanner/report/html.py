"""A self-contained HTML report for people: no external assets, works from a file offline.

Order follows the reader: the headline a manager reads first (exposed *services*, a WebDAV tree
with four open collections is one service), what changed since the previous scan, then one card
per exposed service (what, where, how much, how bad, how to fix; evidence as tables), sorted
worst first, with a small inline script to filter and sort by severity, protocol and host; the
other services that answered; the trend over the last scans. A print stylesheet hides the
controls and keeps cards whole; remediation is never folded away.

Evidence is rendered generically (scalars, lists, small tables from dicts) so new evidence keys
from probes show up without changes here.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from html import escape
from typing import Any

from scanner.diff import Delta
from scanner.masking import mask_report
from scanner.models import Finding, Kind, Report, Severity, host_order
from scanner.report.sarif import finding_uri
from scanner.triage import human_size, summarise_service

_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
_COLOUR = {
    Severity.CRITICAL: "#8b0000",
    Severity.HIGH: "#d9480f",
    Severity.MEDIUM: "#b07d00",
    Severity.LOW: "#1c7ed6",
    Severity.INFO: "#868e96",
}
_LIST_MAX = 12
"""Items of a list shown in evidence (the rest counted)."""

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:74rem;color:#212529;padding:0 1rem;line-height:1.4}
h1{margin-bottom:.2rem}.meta{color:#555;margin-top:0}
.tiles{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.tile{border:1px solid #ddd;border-radius:.5rem;padding:.6rem 1.1rem;min-width:8rem}
.tile b{display:block;font-size:1.8rem}
.sev{color:#fff;border-radius:.3rem;padding:.1rem .45rem;font-size:.8rem;font-weight:600;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
table{border-collapse:collapse;margin:.4rem 0 .8rem}
th,td{border-bottom:1px solid #e5e5e5;text-align:left;padding:.25rem .5rem;vertical-align:top}
th{background:#f6f6f6;font-weight:600}
.card{border:1px solid #ccc;border-left:.5rem solid #999;border-radius:.4rem;
padding:.6rem 1rem;margin:1rem 0;break-inside:avoid}
.card h3{margin:.2rem 0 .4rem}.card .what{font-size:1.05rem;margin:.3rem 0}
.card table.facts th{width:8rem;background:none}
.fix{background:#ebfbee;border:1px solid #b2f2bb;border-radius:.3rem;padding:.4rem .8rem}
.fix h4{margin:.2rem 0}.fix ul{margin:.2rem 0}
.controls{background:#f8f9fa;border:1px solid #ddd;border-radius:.4rem;padding:.5rem .8rem;
display:flex;gap:1rem;flex-wrap:wrap;align-items:center}
.controls label{font-size:.9rem}
.new{color:#c92a2a;font-weight:600}.resolved{color:#2b8a3e;font-weight:600}
.notseen{color:#5c5f66;font-weight:600}
details summary{cursor:pointer;color:#1c5d99}
.ev td,.ev th{font-size:.85rem}.ev ul{margin:0;padding-left:1.1rem}
code{font-size:.85rem;word-break:break-all}
ul.exposed li{margin:.2rem 0}ul.exposed a{color:inherit}
.cols{display:flex;gap:2rem;flex-wrap:wrap;align-items:flex-start}.cols ul{margin:.3rem 0}
@media print{
@page{margin:1.2cm}
body{margin:0;max-width:none;font-size:9pt}
.controls,.noprint,details{display:none!important}
.card{border-left-width:.3rem;margin:.5rem 0;padding:.3rem .6rem;break-inside:auto}
.card h3,.fix,.facts,.cols,tr{break-inside:avoid}
.card h3{break-after:avoid}
.card[hidden]{display:block!important}
th,td{padding:.1rem .35rem}
a{color:inherit;text-decoration:none}
h2{page-break-after:avoid}
}
"""

_SCRIPT = """
(function(){
var box=document.getElementById('cards');if(!box)return;
var cards=Array.prototype.slice.call(box.querySelectorAll('.card'));
var sev=document.getElementById('f-sev'),proto=document.getElementById('f-proto'),
host=document.getElementById('f-host'),sort=document.getElementById('f-sort'),
shown=document.getElementById('f-shown');
function apply(){
var min=+sev.value,p=proto.value,h=host.value.trim().toLowerCase(),n=0;
cards.forEach(function(c){
var ok=(+c.dataset.rank>=min)&&(!p||c.dataset.protocols.split(' ').indexOf(p)>=0)&&
(!h||c.dataset.host.toLowerCase().indexOf(h)>=0);
c.hidden=!ok;if(ok)n++;});
var key=sort.value;
cards.slice().sort(function(a,b){
if(key==='host')return (+a.dataset.order-b.dataset.order)||(a.dataset.host<b.dataset.host?-1:
a.dataset.host>b.dataset.host?1:0)||(+a.dataset.port-b.dataset.port);
if(key==='protocol')return a.dataset.protocols<b.dataset.protocols?-1:
a.dataset.protocols>b.dataset.protocols?1:(+b.dataset.rank-a.dataset.rank);
return (+b.dataset.rank-a.dataset.rank)||(+a.dataset.index-b.dataset.index);
}).forEach(function(c){box.appendChild(c);});
shown.textContent=n+' of '+cards.length+' services shown';
var q=[];if(min>0)q.push('severity='+sev.options[sev.selectedIndex].text);
if(p)q.push('protocol='+p);if(h)q.push('host='+encodeURIComponent(h));
if(key!=='severity')q.push('sort='+key);
if(history.replaceState)history.replaceState(null,'',q.length?'#'+q.join('&'):'#');}
function fromHash(){
location.hash.replace(/^#/,'').split('&').forEach(function(kv){
var i=kv.indexOf('='),k=kv.slice(0,i),v=decodeURIComponent(kv.slice(i+1));
if(k==='severity'){for(var j=0;j<sev.options.length;j++)
if(sev.options[j].text===v)sev.selectedIndex=j;}
if(k==='protocol')proto.value=v;if(k==='host')host.value=v;if(k==='sort')sort.value=v;});}
[sev,proto,sort].forEach(function(e){e.addEventListener('change',apply);});
host.addEventListener('input',apply);
fromHash();apply();
})();
"""


def _badge(sev: Severity) -> str:
    return f'<span class="sev" style="background:{_COLOUR[sev]}">{escape(sev.value)}</span>'


def _endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _worst(findings: list[Finding]) -> Severity:
    return max((f.severity for f in findings), key=lambda s: s.rank)


ServiceKey = tuple[str, int, str]


def _anchor(key: ServiceKey) -> str:
    host, port, transport = key
    return "svc-" + "".join(c if c.isalnum() else "-" for c in f"{host}-{port}-{transport}")


def _by_service(findings: list[Finding]) -> dict[ServiceKey, list[Finding]]:
    out: dict[ServiceKey, list[Finding]] = defaultdict(list)
    for f in findings:
        out[(f.host, f.port, f.transport.value)].append(f)
    return out


def _service_order(item: tuple[ServiceKey, list[Finding]]) -> tuple[int, tuple[int, int], int]:
    (host, port, _t), fs = item
    return (-_worst(fs).rank, host_order(host), port)


# -- the headline --------------------------------------------------------------------------------


def _headline(report: Report, groups: dict[ServiceKey, list[Finding]]) -> tuple[str, str]:
    """The sentence a manager reads first and the tiles of services by their worst severity.

    Counts are of services, not findings: one exposed share with four open folders is one."""
    open_ = {k for k, fs in groups.items() if any(
        f.kind == Kind.UNAUTHENTICATED_ACCESS for f in fs)}
    clear = {k for k, fs in groups.items() if any(
        f.kind == Kind.CLEARTEXT_TRANSPORT for f in fs)}
    worst = Counter(_worst(fs) for fs in groups.values())
    answered = len(report.services)
    sentence = (
        f'<p class="headline"><b id="h-services">{answered}</b> storage service'
        f"{'' if answered == 1 else 's'} answered; "
        f'<b id="h-open">{len(open_)}</b> hand out data with no credentials; '
        f'<b id="h-clear">{len(clear)}</b> carry logins or data in plaintext. '
        f'{len(report.findings)} finding{"" if len(report.findings) == 1 else "s"} in all.</p>'
    )
    tiles = ['<div class="tiles">']
    for s in _ORDER:
        tiles.append(
            f'<div class="tile" data-severity="{s.value}"><b>{worst.get(s, 0)}</b>'
            f"{s.value} service{'' if worst.get(s, 0) == 1 else 's'}</div>"
        )
    tiles.append("</div>")
    return sentence, "".join(tiles)


def _exposed_list(groups: dict[ServiceKey, list[Finding]]) -> str:
    items = []
    for key, fs in sorted(groups.items(), key=_service_order):
        line = summarise_service(fs)
        if line:
            items.append(f'<li>{_badge(_worst(fs))} <a href="#{_anchor(key)}">{escape(line)}</a>'
                         "</li>")
    if not items:
        return "<p>Nothing exposed.</p>"
    return '<ul class="exposed">' + "".join(items) + "</ul>"


# -- evidence as tables ----------------------------------------------------------------------------


def _label(key: str) -> str:
    return key.replace("_", " ")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _value_html(value: Any, depth: int = 0) -> str:
    if _is_scalar(value):
        return _scalar(value)
    if isinstance(value, list):
        if all(_is_scalar(v) for v in value):
            items = "".join(f"<li>{_scalar(v)}</li>" for v in value[:_LIST_MAX])
            more = (f"<li>… {len(value) - _LIST_MAX} more</li>"
                    if len(value) > _LIST_MAX else "")
            return f"<ul>{items}{more}</ul>" if value else "-"
        if depth < 2 and all(isinstance(v, dict) for v in value):
            return "".join(_table(v, depth + 1) for v in value[:_LIST_MAX])
    if isinstance(value, dict) and depth < 2:
        return _table(value, depth + 1) if value else "-"
    text = json.dumps(value, sort_keys=True, default=str)
    return f"<code>{escape(text[:400])}{'…' if len(text) > 400 else ''}</code>"


def _table(data: dict[str, Any], depth: int = 0) -> str:
    rows = "".join(
        f"<tr><th>{escape(_label(str(k)))}</th><td>{_value_html(v, depth)}</td></tr>"
        for k, v in data.items()
    )
    return f'<table class="ev">{rows}</table>'


def _content_table(f: Finding) -> str:
    """Counts per content category, with sizes: what the listing holds."""
    ev = f.evidence
    cats = ev.get("categories")
    if not isinstance(cats, dict) or not cats:
        return ""
    sizes = ev.get("category_sizes") if isinstance(ev.get("category_sizes"), dict) else {}
    at_least = "at least " if ev.get("truncated") else ""
    rows = []
    for cat, n in sorted(cats.items(), key=lambda kv: (-int(kv[1] or 0), kv[0])):
        size = sizes.get(cat) if sizes else None
        size_text = at_least + human_size(size) if isinstance(size, int) else "-"
        count = f"{at_least}{n:,}" if isinstance(n, int) else escape(str(n))
        rows.append(f"<tr><td>{escape(str(cat))}</td><td>{count}</td><td>{size_text}</td></tr>")
    return ('<table class="content"><thead><tr><th>content</th><th>files</th><th>size</th>'
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _samples(f: Finding) -> list[str]:
    for key in ("samples", "sample"):
        value = f.evidence.get(key)
        if isinstance(value, list) and value:
            return [str(v) for v in value]
    return []


# -- one card per exposed service ------------------------------------------------------------------


def _amount(ev: dict[str, Any]) -> list[str]:
    """What the evidence says about quantity, in its own words: prepared texts first, else
    counts seen (an estimate is labelled as one, never shown as a count)."""
    bits = [str(ev[k]) for k in ("files_text", "total_size_text") if isinstance(ev.get(k), str)]
    if bits:
        return bits
    at_least = "at least " if ev.get("truncated") else ""
    for key in ("files_seen", "files", "objects"):
        if isinstance(ev.get(key), int):
            bits.append(f"{at_least}{ev[key]:,} files seen")
            break
    if isinstance(ev.get("files_estimated"), int):
        basis = f" ({ev['estimate_basis']})" if isinstance(ev.get("estimate_basis"), str) else ""
        bits.append(f"about {ev['files_estimated']:,} estimated{basis}")
    if isinstance(ev.get("total_size"), int) and ev["total_size"] > 0:
        bits.append(at_least + human_size(ev["total_size"]))
    return bits


def _how_much(fs: list[Finding]) -> str:
    parts = []
    for f in fs:
        bits = _amount(f.evidence)
        if bits:
            where = f" in {f.resource}" if f.resource and f.resource.strip("/") else ""
            parts.append(escape(", ".join(bits) + where))
    return "; ".join(dict.fromkeys(parts)) or "-"


def _card(index: int, key: ServiceKey, fs: list[Finding], new_ids: set[str],
          host_rank: int) -> str:
    host, port, transport = key
    fs = sorted(fs, key=lambda f: (-f.severity.rank, f.kind.value, f.resource or ""))
    worst = _worst(fs)
    protocols = sorted({f.protocol for f in fs})
    hostname = fs[0].hostname
    what = summarise_service(fs) or fs[0].title
    where = sorted({finding_uri(f) for f in fs})
    sev_counts = Counter(f.severity for f in fs)
    how_bad = ", ".join(f"{sev_counts[s]} {s.value}" for s in _ORDER if sev_counts.get(s))
    fixes = list(dict.fromkeys(f.remediation for f in fs if f.remediation))
    best = next((f for f in fs if f.evidence.get("categories")), None)
    samples = _samples(best) if best else []
    rows = []
    for f in fs:
        mark = ' <span class="new">new</span>' if f.id in new_ids else ""
        rows.append(
            f"<tr><td>{_badge(f.severity)}{mark}</td><td>{escape(f.kind.value)}</td>"
            f"<td>{escape(f.protocol)}</td><td>{escape(f.resource or '-')}</td>"
            f"<td>{escape(f.title)}</td></tr>"
        )
    evidence = "".join(
        f"<h5>{escape(f.kind.value)} {escape(f.resource or '')}</h5>{_table(f.evidence)}"
        for f in fs if f.evidence
    )
    title_bits = f"{_badge(worst)} {escape(_endpoint(host, port))}"
    if transport != "tcp":
        title_bits += f"/{escape(transport)}"
    title_bits += f" {escape(', '.join(protocols))}"
    if hostname:
        title_bits += f" <small>{escape(hostname)}</small>"
    return "".join([
        f'<section class="card" id="{escape(_anchor(key))}" '
        f'style="border-left-color:{_COLOUR[worst]}" '
        f'data-rank="{worst.rank}" data-severity="{worst.value}" '
        f'data-protocols="{escape(" ".join(protocols))}" data-host="{escape(host)}" '
        f'data-order="{host_rank}" data-port="{port}" data-index="{index}">',
        f"<h3>{title_bits}</h3>",
        f'<p class="what">{escape(what)}</p>',
        '<table class="facts">',
        "<tr><th>Where</th><td>" + "<br>".join(f"<code>{escape(u)}</code>" for u in where)
        + "</td></tr>",
        f"<tr><th>How much</th><td>{_how_much(fs)}</td></tr>",
        f"<tr><th>How bad</th><td>{_badge(worst)} {escape(how_bad)} "
        f"finding{'' if len(fs) == 1 else 's'}</td></tr>",
        "</table>",
        '<div class="fix"><h4>How to fix</h4><ul>'
        + "".join(f"<li>{escape(x)}</li>" for x in fixes or ["Restrict access to it."])
        + "</ul></div>",
        '<div class="cols">',
        f"<div>{_content_table(best)}</div>" if best else "",
        ("<div><b>Sample names</b> (masked)" + _value_html(samples) + "</div>")
        if samples else "",
        "</div>",
        '<table class="findings"><thead><tr><th>severity</th><th>kind</th><th>protocol</th>'
        "<th>resource</th><th>finding</th></tr></thead><tbody>" + "".join(rows)
        + "</tbody></table>",
        f"<details><summary>Evidence ({len(fs)} finding{'' if len(fs) == 1 else 's'})</summary>"
        f"{evidence or '<p>none recorded</p>'}</details>",
        "</section>",
    ])


def _controls(protocols: list[str], total: int) -> str:
    sev_options = '<option value="0">any</option>' + "".join(
        f'<option value="{s.rank}">{s.value}</option>'
        for s in reversed(_ORDER) if s != Severity.INFO
    )
    proto_options = '<option value="">any</option>' + "".join(
        f'<option value="{escape(p)}">{escape(p)}</option>' for p in protocols
    )
    return (
        '<div class="controls" role="search">'
        f'<label>at least <select id="f-sev">{sev_options}</select></label>'
        f'<label>protocol <select id="f-proto">{proto_options}</select></label>'
        '<label>host <input id="f-host" type="search" placeholder="address or part"></label>'
        '<label>sort by <select id="f-sort"><option value="severity">severity</option>'
        '<option value="host">host</option><option value="protocol">protocol</option>'
        "</select></label>"
        f'<span id="f-shown">{total} of {total} services shown</span></div>'
    )


# -- the rest --------------------------------------------------------------------------------------


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


def _changes(delta: Delta | None) -> list[str]:
    out = ['<h2 id="changes">Since the previous scan</h2>']
    if delta is None:
        out.append("<p>No previous scan of this scope to compare with.</p>")
        return out
    out.append(
        f'<p><span class="new">{len(delta.new)} new</span>, '
        f'<span class="resolved">{len(delta.resolved)} resolved</span>, '
        f'<span class="notseen">{len(delta.not_seen)} not seen</span> (the service did not '
        f"answer), {len(delta.changed)} changed, {len(delta.still_open)} still open.</p>"
    )
    items = (
        [("new", "new", f) for f in delta.new]
        + [("resolved", "resolved", f) for f in delta.resolved]
        + [("notseen", "not seen", f) for f in delta.not_seen]
    )
    if items:
        out.append("<ul>")
        out += [f'<li class="{cls}">{word}: {escape(_endpoint(f.host, f.port))} '
                f"{escape(f.title)}</li>" for cls, word, f in items]
        out.append("</ul>")
    return out


def _other_services(report: Report, exposed: set[ServiceKey]) -> list[str]:
    rest = [s for s in report.services if (s.host, s.port, s.transport.value) not in exposed]
    if not rest:
        return []
    rows = "".join(
        f"<tr><td>{escape(_endpoint(s.host, s.port))}/{escape(s.transport.value)}</td>"
        f"<td>{escape(s.protocol or '?')}</td>"
        f"<td>{'-' if s.tls is None else ('yes' if s.tls else 'no')}</td>"
        f"<td>{escape(', '.join(f'{k}: {v.value}' for k, v in s.probes.items()) or '-')}</td>"
        "</tr>"
        for s in sorted(rest, key=lambda s: (host_order(s.host), s.port))
    )
    return [
        f'<h2 id="others">Other services that answered ({len(rest)})</h2>',
        "<p>Nothing found on these (secured, or not storage).</p>",
        "<table><thead><tr><th>service</th><th>protocol</th><th>TLS</th><th>probes</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>",
    ]


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_html(
    report: Report,
    *,
    scan_id: str | None = None,
    delta: Delta | None = None,
    trend: list[tuple[str, dict[str, int]]] | None = None,
) -> str:
    report = mask_report(report)
    new_ids = {f.id for f in delta.new} if delta else set()
    title = f"nasscan report {scan_id}" if scan_id else "nasscan report"
    targets = report.scope.get("targets", [])
    groups = _by_service(report.findings)
    sentence, tiles = _headline(report, groups)
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">Scope: {escape(", ".join(map(str, targets)) or "-")} &middot; '
        f"started {escape(_when(report.started_at))}"
        + (f" &middot; finished {escape(_when(report.finished_at))}" if report.finished_at
           else "")
        + (" &middot; <b>aborted</b>" if report.aborted else "")
        + f" &middot; {escape(report.scanner.name)} {escape(report.scanner.version)}</p>",
        '<h2 id="summary">Summary</h2>',
        sentence,
        tiles,
        _exposed_list(groups),
        *_changes(delta),
        f'<h2 id="services">Exposed services ({len(groups)})</h2>',
    ]
    if groups:
        protocols = sorted({f.protocol for f in report.findings})
        body.append(_controls(protocols, len(groups)))
        body.append('<div id="cards">')
        hosts = sorted({key[0] for key in groups}, key=lambda h: (host_order(h), h))
        rank = {h: i for i, h in enumerate(hosts)}
        for i, (key, fs) in enumerate(sorted(groups.items(), key=_service_order)):
            body.append(_card(i, key, fs, new_ids, rank[key[0]]))
        body.append("</div>")
    else:
        body.append("<p>No exposed service.</p>")
    body += _other_services(report, set(groups))
    if report.errors:
        body.append(f'<h2 id="errors">Scan errors ({len(report.errors)})</h2><ul>')
        body += [f"<li>{escape(e)}</li>" for e in report.errors[:100]]
        body.append("</ul>")
    body.append('<h2 id="trend" class="noprint">Findings by severity over the last scans</h2>')
    body.append(f'<div class="noprint">{_trend_svg(trend or [])}</div>')
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + f"<script>{_SCRIPT}</script></body></html>\n"
    )
