"""History store (SQLite and a real PostgreSQL on loopback), deltas, baselines, people's reports."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from scanner.history.diff import BaselineError, diff_findings, load_baseline_file
from scanner.history.store import MIGRATIONS, HistoryError, Store, open_store
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Finding,
    Kind,
    Report,
    ScannerInfo,
    Service,
    Severity,
)
from scanner.report.csv_report import render_csv
from scanner.report.html import render_html
from scanner.report.sarif import to_sarif

DATA = Path(__file__).parent / "data"


def finding(host: str, resource: str | None, kind: Kind, sev: Severity, **ev: object) -> Finding:
    return Finding(
        host=host,
        port=445,
        protocol="smb",
        kind=kind,
        authentication=Authentication.GUEST,
        encryption=Encryption.NONE,
        resource=resource,
        access=Access.READ if kind == Kind.UNAUTHENTICATED_ACCESS else None,
        severity=sev,
        title=f"{kind.value} on {resource}",
        evidence=dict(ev),
        remediation="Disable guest access.",
    )


def report(findings: list[Finding], start: datetime, targets: list[str] | None = None) -> Report:
    return Report(
        scanner=ScannerInfo(version="0.1.0"),
        started_at=start,
        finished_at=start + timedelta(seconds=3),
        scope={"targets": targets or ["127.0.10.0/24"], "exclusions": [], "ports": "445"},
        services=[Service(host=f.host, port=f.port, protocol=f.protocol) for f in findings],
        findings=findings,
    )


T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
A = finding("127.0.10.1", "recordings", Kind.UNAUTHENTICATED_ACCESS, Severity.CRITICAL, files=10)
B = finding("127.0.10.1", None, Kind.CLEARTEXT_TRANSPORT, Severity.MEDIUM)
C = finding("127.0.10.2", "public", Kind.UNAUTHENTICATED_ACCESS, Severity.HIGH, files=1)


def record(store: Store, rep: Report) -> str:
    scan_id = store.begin_scan(rep, {"rate": 100})
    for s in rep.services:
        store.record_service(scan_id, s)
    for f in rep.findings:
        store.record_finding(scan_id, f)
    store.finish_scan(scan_id, rep)
    return scan_id


# -- PostgreSQL: a real server that the test starts on loopback --------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert found, "PostgreSQL server binaries missing: scripts/setup.sh installs 'postgresql'"
    return found[-1].parent


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bindir = _pg_bin()
    # pytest's tmp dirs are private to root; the server runs as 'postgres'.
    base = Path(tempfile.mkdtemp(prefix="nasscan-pg-"))
    data = base / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(base, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*run_as, str(bindir / "initdb"), "-A", "trust", "-U", "nasscan", "-D",
                    str(data)], check=True, capture_output=True, timeout=120)
    subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-t",
         "60", "-o", f"-h 127.0.0.1 -p {port} -k {base}", "start"],
        check=True, capture_output=True, timeout=120,
    )
    try:
        yield f"postgresql://nasscan@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(str(tmp_path / "h.sqlite3"))
    else:
        url = request.getfixturevalue("postgres_url")
        s = open_store(url)
        for table in ("findings", "services", "scans"):
            s._exec(f"DELETE FROM {table}")
        s._conn.commit()
    yield s
    s.close()


def test_scans_are_recorded_listed_and_reloaded(store: Store) -> None:
    first = record(store, report([A, B], T0))
    second = record(store, report([A, C], T0 + timedelta(days=1)))
    assert [s.id for s in store.list_scans()] == [second, first]
    assert store.resolve("last") == second
    assert store.resolve(first[:15]) == first  # a unique prefix
    with pytest.raises(HistoryError, match="ambiguous"):
        store.resolve("2026")
    assert store.resolve(first) == first
    again = store.load_report(first)
    assert {f.id for f in again.findings} == {A.id, B.id}
    assert again.findings[0].model_dump(mode="json") in (
        A.model_dump(mode="json"), B.model_dump(mode="json"))
    assert store.previous_of_same_scope(second) == first
    assert store.last_two_of_same_scope() == (first, second)
    assert store.schema_version == len(MIGRATIONS) == 3


def test_unknown_reference_is_a_clear_error(store: Store) -> None:
    with pytest.raises(HistoryError, match="no scans"):
        store.resolve("last")
    record(store, report([A], T0))
    with pytest.raises(HistoryError, match="no scan matches"):
        store.resolve("19990101")


def test_finding_is_committed_as_found(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    store = open_store(str(db))
    scan_id = store.begin_scan(report([A], T0), {})
    store.record_finding(scan_id, A)
    # Another connection (as after a crash) sees it before the scan finishes.
    other = sqlite3.connect(db)
    rows = other.execute("SELECT finding_id FROM findings WHERE scan_id = ?", (scan_id,))
    assert [r[0] for r in rows] == [A.id]
    assert other.execute("SELECT status FROM scans").fetchone()[0] == "running"
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    store.close()


def test_migrations_run_once(tmp_path: Path) -> None:
    db = str(tmp_path / "h.sqlite3")
    open_store(db).close()
    s = open_store(db)
    rows = s._exec("SELECT version FROM schema_version").fetchall()
    assert [r[0] for r in rows] == [1, 2, 3]
    s.close()


def test_a_version_1_store_is_migrated_keeping_its_scans(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)  # a store as version 1 of nasscan left it
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute(
        "INSERT INTO scans VALUES ('20260101-000000-aaaa', '2026-01-01T00:00:00+00:00', NULL,"
        " 'finished', '{}', '{}', '{}', '0.0.1', NULL)"
    )
    conn.commit()
    conn.close()
    store = open_store(str(db))
    assert store.schema_version == 3
    assert [s.id for s in store.list_scans()] == ["20260101-000000-aaaa"]
    store.record_queued("20260101-000000-aaaa", [("127.0.10.1", 445, "tcp")])
    assert store.queued("20260101-000000-aaaa") == [("127.0.10.1", 445, "tcp")]
    store.close()


def test_diff_new_resolved_still_open_changed() -> None:
    a_changed = A.model_copy(update={"evidence": {"files": 12}})
    delta = diff_findings([A, B], [a_changed, C])
    assert [f.id for f in delta.new] == [C.id]
    assert [f.id for f in delta.resolved] == [B.id]
    assert [(o.id, n.evidence) for o, n in delta.changed] == [(A.id, {"files": 12})]
    assert delta.still_open == []
    same = diff_findings([A], [A])
    assert [f.id for f in same.still_open] == [A.id] and not same.new and not same.changed


def test_baseline_file_good_and_malformed(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(report([A, C], T0).to_json())
    assert load_baseline_file(good) == {A.id, C.id}
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(BaselineError, match="not JSON"):
        load_baseline_file(bad_json)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"hello": 1}))
    with pytest.raises(BaselineError, match="not a nasscan JSON report"):
        load_baseline_file(wrong)
    with pytest.raises(BaselineError, match="cannot read"):
        load_baseline_file(tmp_path / "missing.json")


def test_sarif_is_valid_sarif_2_1_0() -> None:
    schema = json.loads((DATA / "sarif-2.1.0.json").read_text())
    doc = to_sarif(report([A, B, C], T0))
    jsonschema.validate(doc, schema)
    results = doc["runs"][0]["results"]
    assert [r["partialFingerprints"]["nasscanFindingId/v1"] for r in results] == [A.id, B.id, C.id]
    assert results[0]["level"] == "error" and results[1]["level"] == "warning"
    broken = json.loads(json.dumps(doc))
    broken["runs"][0]["results"][0]["level"] = "catastrophic"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_csv_has_one_row_per_finding() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(report([A, B, C], T0)))))
    assert [r["id"] for r in rows] == [A.id, B.id, C.id]
    assert rows[0]["severity"] == "critical" and rows[1]["resource"] == ""
    assert json.loads(rows[0]["evidence"]) == {"files": 10}


def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    old, new = report([A, B], T0), report([A, C], T0 + timedelta(days=1))
    delta = diff_findings(old.findings, new.findings)
    trend = [("scan-1", {"critical": 1, "medium": 1}), ("scan-2", {"critical": 1, "high": 1})]
    page = render_html(new, scan_id="scan-2", delta=delta, trend=trend)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "<script" not in page and "<link" not in page
    path = tmp_path / "report.html"
    path.write_text(page)
    chromium = shutil.which("chromium")
    assert chromium, "chromium missing: scripts/setup.sh installs Debian's chromium"
    # No network for the browser at all (it renders a file:// page): nothing can leave.
    isolate = ["unshare", "-n"] if os.geteuid() == 0 and shutil.which("unshare") else []
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*isolate, chromium, *flags, "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=90, check=True).stdout
    assert "1 new" in dom and "1 resolved" in dom
    assert dom.count('class="host"') == 2
    assert 'data-severity="critical"><b>1</b>' in dom
    assert "Findings by severity over the last scans" in dom and "<svg" in dom
    shot = tmp_path / "report.png"
    subprocess.run([*isolate, chromium, *flags, f"--screenshot={shot}",
                    "--window-size=1200,1600", path.as_uri()],
                   capture_output=True, timeout=90, check=True)
    deadline = time.monotonic() + 10
    while not shot.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shot.stat().st_size > 10_000
