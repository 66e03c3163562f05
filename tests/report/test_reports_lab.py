"""Reports people read, from real scans of the lab: the console in a real terminal (tmux) at
80 and 160 columns, and ``nasscan diff`` between scans of an unchanged lab and of a lab with
one daemon stopped."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_fixtures import Lab

from scanner.lab import supervisor

LAB = "127.0.10.0/24"


def nasscan(*args: str, db: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NASSCAN_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def _tmux_console(tmp_path: Path, columns: int, db: Path) -> tuple[list[str], list[dict]]:
    """Run a lab scan in a detached tmux pane of ``columns`` columns; return the pane's lines
    (as the terminal wrapped them) and the findings of the same scan (-oJ)."""
    tmux = shutil.which("tmux")
    assert tmux, "tmux missing: scripts/setup.sh installs it"
    out = tmp_path / f"c{columns}.json"
    done = tmp_path / f"c{columns}.done"
    sock = str(tmp_path / "tmux.sock")
    cmd = (f"env -u COLUMNS -u LINES NASSCAN_DB={db} {sys.executable} -m scanner.cli scan {LAB} "
           f"-oJ {out}; "
           f"touch {done}; sleep 600")
    subprocess.run([tmux, "-S", sock, "-f", "/dev/null", "new-session", "-d", "-x",
                    str(columns), "-y", "50", "-s", f"c{columns}", cmd], check=True, timeout=30)
    try:
        subprocess.run([tmux, "-S", sock, "set-option", "-g", "history-limit", "5000"],
                       check=True, timeout=30)
        deadline = time.monotonic() + 180
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done.exists(), "the scan in tmux did not finish"
        time.sleep(0.3)
        pane = subprocess.run([tmux, "-S", sock, "capture-pane", "-p", "-S", "-5000", "-t",
                               f"c{columns}"], check=True, timeout=30, capture_output=True,
                              text=True).stdout
    finally:
        subprocess.run([tmux, "-S", sock, "kill-server"], timeout=30, check=False)
    return pane.splitlines(), json.loads(out.read_text())["findings"]


@pytest.mark.lab
@pytest.mark.parametrize("columns", [80, 100, 160])
def test_console_fits_the_terminal_and_leads_with_the_summary(
    lab: Lab, tmp_path: Path, columns: int
) -> None:
    lines, findings = _tmux_console(tmp_path, columns, tmp_path / "h.sqlite3")
    assert len(findings) >= 20
    # Every line is shorter than the terminal: the terminal itself never wrapped one (a line
    # it wrapped would show up here as a full-width line), so no token was cut by it.
    assert all(len(line) < columns for line in lines), max(lines, key=len)
    text = "\n".join(lines)
    exposed = next(i for i, line in enumerate(lines) if line.startswith("Exposed services"))
    table = next(i for i, line in enumerate(lines) if line.startswith("Findings: "))
    assert exposed < table  # the summary comes first
    # Every finding is one table line with its address, severity and kind whole.
    rows = lines[table + 2: table + 2 + len(findings)]
    for f in findings:
        endpoint = f"{f['host']}:{f['port']}" + ("/udp" if f["transport"] == "udp" else "")
        pattern = re.compile(rf"^\s+{f['severity']}\s+{re.escape(endpoint)}\s.*\b{f['kind']}\b")
        assert any(pattern.search(row) for row in rows), (f["severity"], endpoint, f["kind"])
    # Exposed services sorted worst first.
    order = ["critical", "high", "medium", "low", "info"]
    sev = [line.split()[0] for line in lines[exposed + 1: table]
           if line.startswith("  ") and line.split() and line.split()[0] in order]
    assert sev and sev == sorted(sev, key=order.index)
    if columns >= 120:
        assert "RESOURCE" in text and "PROTOCOL" in text
    else:
        assert "RESOURCE" not in text and "…" in text


def _rsync_record(lab: Lab) -> supervisor.Record:
    (rec,) = [r for r in supervisor.load_records(lab.ctx) if r.name == "rsync"]
    return rec


@pytest.mark.lab
def test_diff_unchanged_lab_and_a_stopped_daemon(lab: Lab, tmp_path: Path) -> None:
    if "rsync" not in lab.services:
        pytest.fail("this test needs the rsync lab service (NASSCAN_LAB_ONLY)")
    db = tmp_path / "h.sqlite3"
    for _ in range(2):
        r = nasscan("scan", LAB, "-q", db=db)
        assert r.returncode == 1, r.stderr
    diff = nasscan("diff", db=db)
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines()[1:] == ["no change"], diff.stdout
    assert " 0 new, 0 resolved, 0 not seen, 0 changed," in diff.stdout

    rec = _rsync_record(lab)
    os.kill(rec.pid, signal.SIGTERM)
    try:
        deadline = time.monotonic() + 10
        while supervisor.proc_starttime(rec.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        r = nasscan("scan", LAB, "-q", db=db)
        assert r.returncode == 1, r.stderr
    finally:
        supervisor.up(lab.ns, lab.services)  # restart what was stopped
    assert _rsync_record(lab).pid != rec.pid
    delta = json.loads(nasscan("diff", "--format", "json", db=db).stdout)
    gone = {(f["host"], f["port"]) for f in delta["not_seen"]}
    assert gone == {("127.0.10.41", 873)}
    assert delta["resolved"] == [] and delta["new"] == [] and delta["changed"] == []
    text = nasscan("diff", db=db).stdout
    assert "not seen" in text and "resolved  [" not in text
    assert "? not seen  [critical] 127.0.10.41:873 rsync" in text


@pytest.mark.lab
def test_html_report_of_the_lab_on_screen_and_on_paper(lab: Lab, tmp_path: Path) -> None:
    """The lab scan's HTML report in headless Chromium: headline counts services (not
    findings), every remediation is in the printed PDF, the printout stays short."""
    from collections import Counter

    from browser import dump_dom, pdf_pages, pdf_text, print_pdf, screenshot

    html, js = tmp_path / "lab.html", tmp_path / "lab.json"
    r = nasscan("scan", LAB, "-q", "--no-history", "-oH", str(html), "-oJ", str(js),
                db=tmp_path / "h.sqlite3")
    assert r.returncode == 1, r.stderr
    data = json.loads(js.read_text())
    by_service: dict[tuple[str, int, str], list[dict]] = {}
    for f in data["findings"]:
        by_service.setdefault((f["host"], f["port"], f["transport"]), []).append(f)
    order = ["info", "low", "medium", "high", "critical"]
    worst = Counter(max((f["severity"] for f in fs), key=order.index)
                    for fs in by_service.values())
    assert len(by_service) < len(data["findings"])  # nested resources exist in the lab
    dom = dump_dom(html, tmp_path)
    assert f'<b id="h-services">{len(data["services"])}</b>' in dom
    for sev in order:
        assert f'data-severity="{sev}"><b>{worst.get(sev, 0)}</b>' in dom, sev
    assert f"{len(by_service)} of {len(by_service)} services shown" in dom
    webdav = [f for f in data["findings"] if f["host"] == "127.0.10.25"]
    assert len(webdav) >= 4 and dom.count('id="svc-127-0-10-25-80-tcp"') == 1

    pdf = tmp_path / "lab.pdf"
    print_pdf(html, pdf, tmp_path)
    text = pdf_text(pdf)
    assert pdf_pages(pdf) <= 2 + len(by_service)  # not one page per finding plus evidence
    assert f"{len(data['services'])} storage services answered" in text
    open_ = {k for k, fs in by_service.items()
             if any(f["kind"] == "unauthenticated-access" for f in fs)}
    assert f"; {len(open_)} hand out data with no credentials;" in text
    for f in data["findings"]:
        assert " ".join(f["remediation"].split()) in text, f["remediation"]
    assert "How to fix" in text
    shot = tmp_path / "lab.png"
    screenshot(html, shot, tmp_path)
    assert shot.stat().st_size > 50_000
