"""No unmasked personal identity number in any output: console, JSON, JSONL (and CSV, SARIF, HTML).

Two layers: triage masks each finding (title, resource, evidence, listing) and the models' own
serialisation plus the attribute-based writers mask the whole report as a final guard. The report
below deliberately carries numbers in places triage never sees (a banner, an error, an untriaged
finding), and one test runs the real CLI against a real HTTP server on loopback.
"""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Entry,
    Finding,
    Kind,
    Listing,
    Report,
    ScannerInfo,
    Service,
)
from scanner.personal import personnummer as pn
from scanner.report.console import render_console
from scanner.report.csv_report import render_csv
from scanner.report.html import render_html
from scanner.report.json_report import JsonlWriter, render_json
from scanner.report.sarif import render_sarif
from scanner.triage import triage_finding

# Real-looking (Luhn-valid) numbers in every written form, plus a dashed one with a typo.
NUMBERS = ["19790312-2393", "121212-1212", "198112189876", "8112189876", "701063-2391"]
TYPO = "19790312-2391"
SERIALS = re.compile(r"(?<!\d)(?:\d{6}|\d{8})[-+]?(?:2393|1212|9876|2391)(?!\d)")


def _assert_clean(text: str, where: str, *, names_shown: bool = True) -> None:
    assert pn.find(text) == [], f"{where}: unmasked {pn.find(text)[0].text}"
    assert not SERIALS.search(text), f"{where}: {SERIALS.search(text)}"
    assert TYPO not in text, where
    if names_shown:
        assert "XXXX" in text, f"{where}: nothing was masked, so nothing was tested"


def _report() -> Report:
    entries = [
        Entry(path=f"2019/03/{n}_0701234567_20190314T101500.wav", size=1000) for n in NUMBERS
    ]
    entries.append(Entry(path=f"notes/{TYPO}.txt", size=5))
    triaged = triage_finding(
        Finding(
            host="127.0.10.21",
            port=443,
            protocol="http",
            kind=Kind.UNAUTHENTICATED_ACCESS,
            authentication=Authentication.NONE,
            encryption=Encryption.NONE,
            resource=f"/home/{NUMBERS[0]}/",
            access=Access.READ,
            title=f"listing at /home/{NUMBERS[0]}/ readable without authentication",
            evidence={"sample": [e.path for e in entries], NUMBERS[1]: NUMBERS[2]},
            remediation=f"Remove /home/{NUMBERS[3]}/ from the web root.",
            listing=Listing(entries=entries),
        )
    )
    # As if triage had failed (the engine keeps the raw finding): only the final guard protects it.
    untriaged = Finding(
        host="127.0.10.22",
        port=80,
        protocol="http",
        kind=Kind.UNAUTHENTICATED_ACCESS,
        authentication=Authentication.NONE,
        resource=NUMBERS[4],
        title=f"open listing {NUMBERS[4]} and {TYPO}",
        evidence={"first": NUMBERS[0], "nested": {"list": [NUMBERS[3]]}},
    )
    return Report(
        scanner=ScannerInfo(version="test"),
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        scope={"targets": ["127.0.10.21"], "hosts": 1, "ports": "443"},
        services=[
            Service(
                host="127.0.10.21",
                port=443,
                protocol="http",
                banner=f"nginx for {NUMBERS[1]}",
                details={"http": f"saw {NUMBERS[2]}"},
                info={"http": {"title": f"Index of /{NUMBERS[0]}/"}},
            )
        ],
        findings=[triaged, untriaged],
        errors=[f"probe http failed on /{NUMBERS[3]}/x"],
    )


def test_triage_masks_the_finding_itself() -> None:
    f = _report().findings[0]
    assert f.resource == "/home/19790312-XXXX/"
    assert "121212-XXXX" in f.evidence  # keys too
    assert f.evidence["121212-XXXX"] == "19811218XXXX"
    assert f.listing is not None
    assert all("XXXX" in e.path for e in f.listing.entries)
    assert all("XXXX" in s for s in f.evidence["samples"])
    # Classification happened before masking.
    assert f.evidence["categories"]["personal-id"] == len(NUMBERS)


def test_console_output_is_masked() -> None:
    out = render_console(_report())
    _assert_clean(out, "console")
    assert "audio recordings named with personal identity numbers" in out


def test_json_output_is_masked() -> None:
    out = render_json(_report())
    _assert_clean(out, "json")
    data = json.loads(out)
    assert data["findings"][1]["resource"] == "701063-XXXX"
    assert data["services"][0]["banner"] == "nginx for 121212-XXXX"
    assert data["errors"] == ["probe http failed on /811218XXXX/x"]


def test_jsonl_output_is_masked() -> None:
    buf = io.StringIO()
    writer = JsonlWriter(buf)
    for f in _report().findings:
        writer.write(f)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2
    _assert_clean(buf.getvalue(), "jsonl")
    assert json.loads(lines[1])["evidence"]["nested"]["list"] == ["811218XXXX"]


@pytest.mark.parametrize("fmt", ["csv", "sarif", "html"])
def test_other_formats_are_masked(fmt: str) -> None:
    render = {"csv": render_csv, "sarif": render_sarif, "html": render_html}[fmt]
    _assert_clean(render(_report()), fmt)


def test_model_dump_is_masked_but_finding_id_is_stable() -> None:
    r = _report()
    f = r.findings[1]
    dumped = f.model_dump(mode="json")
    assert dumped["title"] == "open listing 701063-XXXX and 19790312-XXXX"
    assert dumped["id"] == f.id
    # The in-memory object is untouched by serialisation (only outputs are masked).
    assert f.resource == NUMBERS[4]


# --- end to end: the real CLI against a real HTTP server on loopback ---------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_tree(tmp_path: Path) -> Iterator[int]:
    root = tmp_path / "www"
    (root / "2019" / "03").mkdir(parents=True)
    for n in NUMBERS:
        (root / "2019" / "03" / f"{n}_0701234567_20190314T101500.wav").write_bytes(b"RIFF")
    (root / f"{TYPO}.txt").write_text("x")
    (root / "readme.txt").write_text("dull")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("http.server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("fmt", ["console", "json", "jsonl"])
def test_cli_scan_output_is_masked(http_tree: int, fmt: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "scanner.cli",
        "scan",
        "127.0.0.1",
        "-p",
        str(http_tree),
        "--probes",
        "http",
        "--format",
        fmt,
        "-q",
        "--fail-on",
        "none",
        "--probe-timeout",
        "30",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    # The console table shows resource and title only ('/' here): no names to mask.
    _assert_clean(out, f"cli {fmt}", names_shown=fmt != "console")
    if fmt == "json":
        findings = json.loads(done.stdout)["findings"]
        open_ = [f for f in findings if f["kind"] == "unauthenticated-access"]
        assert open_ and open_[0]["severity"] == "critical"
        assert open_[0]["evidence"]["categories"]["personal-id"] == len(NUMBERS)
        assert open_[0]["evidence"]["categories"]["recording"] == len(NUMBERS)
    if fmt == "console":
        assert f"127.0.0.1:{http_tree} http (no TLS): {len(NUMBERS)} audio recordings" in out


@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_console_lines_fit_the_width_and_keep_tokens_whole(width: int) -> None:
    """Summary first, one table line per finding with address, severity and kind whole, no
    line longer than the console (so the terminal never wraps one)."""
    import io

    from rich.console import Console

    from scanner.models import Finding, Kind, Report, ScannerInfo, Severity, utcnow

    def f(host: str, port: int, kind: Kind, sev: Severity, title: str) -> Finding:
        return Finding(host=host, port=port, protocol="http", kind=kind, severity=sev,
                       title=title, resource="/a/very/long/resource/path/" * 3)

    findings = [
        f("fd00:1234:5678::1", 8443, Kind.UNAUTHENTICATED_ACCESS, Severity.CRITICAL,
          "directory listing readable without authentication " * 3),
        f("127.0.10.21", 443, Kind.CLEARTEXT_TRANSPORT, Severity.MEDIUM, "Plain HTTP " * 10),
        f("127.0.10.9", 80, Kind.SIGNING_NOT_REQUIRED, Severity.INFO, "x"),
    ]
    report = Report(scanner=ScannerInfo(version="t"), started_at=utcnow(), findings=findings,
                    scope={"hosts": 3, "pairs": 9, "probes": ["http"]})
    buf = io.StringIO()
    render_console(report, Console(file=buf, width=width, color_system=None))
    lines = buf.getvalue().splitlines()
    assert all(len(line) < width for line in lines), max(lines, key=len)
    exposed = next(i for i, x in enumerate(lines) if x.startswith("Exposed services"))
    table = next(i for i, x in enumerate(lines) if x.startswith("Findings: 3"))
    assert exposed < table
    sevs = {s.value for s in Severity}
    rows = [x for x in lines[table + 2:] if x.split() and x.split()[0] in sevs]
    for row, finding in zip(rows, findings, strict=True):
        endpoint = (f"[{finding.host}]" if ":" in finding.host else finding.host) + \
            f":{finding.port}"
        assert row.split()[:2] == [finding.severity.value, endpoint], row
        assert finding.kind.value in row.split() or (
            f"kind: {finding.kind.value}" in [x.strip() for x in lines])
    wide = io.StringIO()
    render_console(report, Console(file=wide, width=width, color_system=None), wide=True)
    text = wide.getvalue()
    assert all(len(line) < width for line in text.splitlines())
    table_text = text.split("Findings:")[1]
    assert "…" not in table_text  # wide: wrapped, never shortened
    assert ("RESOURCE" in table_text) != ("resource: " in table_text)  # beside or under
