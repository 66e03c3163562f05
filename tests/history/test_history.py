"""History store (SQLite and a real PostgreSQL on loopback), deltas, baselines, people's reports."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from repo_paths import DATA

from scanner.diff import BaselineError, diff_findings, load_baseline_file
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


def test_finish_writes_the_final_rows_in_one_transaction(tmp_path: Path) -> None:
    """The end of a scan re-records every service and finding: one COMMIT (one fsync) for all
    of them and the "finished" mark, not one per row; a crash before it loses nothing, because
    each row was committed when it was found."""
    from scanner.history.jobs import Recorder

    db = tmp_path / "h.sqlite3"
    store = open_store(str(db))
    # 26 findings on 26 services: per-row commits would be 52 COMMITs and the mark
    many = [finding(f"127.0.10.{i}", "r", Kind.UNAUTHENTICATED_ACCESS, Severity.HIGH)
            for i in range(1, 26)]
    rep = report([*many, C], T0)
    scan_id = store.begin_scan(rep, {})
    for f in rep.findings[:3]:
        store.record_finding(scan_id, f)  # as found: committed one by one
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    Recorder(store, scan_id).finish(rep)
    store._conn.set_trace_callback(None)  # type: ignore[attr-defined]
    assert sum(1 for s in statements if s.strip().upper() == "COMMIT") == 1
    other = sqlite3.connect(db)
    assert other.execute("SELECT COUNT(*) FROM findings").fetchone()[0] == len(rep.findings)
    assert other.execute("SELECT status FROM scans").fetchone()[0] == "finished"
    other.close()
    # WAL with synchronous=NORMAL: no fsync per commit, a killed process still loses nothing
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
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
    """Cards per exposed service, headline counting services (a tree of open folders on one
    service is one), remediation outside any folded section, the filter script working from a
    file with no network, nothing loaded from elsewhere."""
    from browser import dump_dom, screenshot

    dav = [finding("127.0.10.25", r, Kind.UNAUTHENTICATED_ACCESS, Severity.CRITICAL, files=3)
           for r in ("/", "/dav/", "/dav/a/")]
    old, new = report([A, B], T0), report([A, C, *dav], T0 + timedelta(days=1))
    delta = diff_findings(old.findings, new.findings, new.services)
    trend = [("scan-1", {"critical": 1, "medium": 1}), ("scan-2", {"critical": 4, "high": 1})]
    page = render_html(new, scan_id="scan-2", delta=delta, trend=trend)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "<link" not in page and " src=" not in page
    assert page.count('<section class="card"') == 3  # .1:445, .2:445, .25:445
    assert "Disable guest access." in page.split("<details>")[0]  # remediation not folded
    path = tmp_path / "report.html"
    path.write_text(page)
    dom = dump_dom(path, tmp_path)
    assert "4 new" in dom and "1 resolved" in dom
    assert 'data-severity="critical"><b>2</b>critical services' in dom  # not 4 findings
    assert 'data-severity="high"><b>1</b>high service<' in dom
    assert '<b id="h-open">3</b>' in dom
    assert "3 of 3 services shown" in dom  # written by the script
    assert "Findings by severity over the last scans" in dom and "<svg" in dom
    filtered = dump_dom(path, tmp_path, "#severity=high&sort=host")
    assert "3 of 3 services shown" in filtered  # critical and high are both at least high
    only_crit = dump_dom(path, tmp_path, "#severity=critical")
    assert "2 of 3 services shown" in only_crit
    hidden = re.findall(r'<section class="card"[^>]*data-severity="(\w+)"[^>]*hidden', only_crit)
    assert hidden == ["high"]
    by_proto = dump_dom(path, tmp_path, "#host=127.0.10.25")
    assert "1 of 3 services shown" in by_proto
    # sorted by host: .1, .2, .25 in DOM order
    order = re.findall(r'<section class="card" id="svc-([\d-]+?)-445', filtered)
    assert order == ["127-0-10-1", "127-0-10-2", "127-0-10-25"], order
    shot = tmp_path / "report.png"
    screenshot(path, shot, tmp_path, "1200,1600")
    assert shot.stat().st_size > 10_000


def test_diff_compares_stable_facts_and_tells_not_seen_from_resolved() -> None:
    from scanner.models import Status

    a1 = finding("127.0.10.1", "/", Kind.CLEARTEXT_TRANSPORT, Severity.MEDIUM,
                 auth_paths=["/", "/nasscan-4fd7122c0472/"], elapsed_ms=12)
    a2 = finding("127.0.10.1", "/", Kind.CLEARTEXT_TRANSPORT, Severity.MEDIUM,
                 auth_paths=["/", "/nasscan-cf65fb95eb2f/"], elapsed_ms=40)
    delta = diff_findings([a1], [a2])
    assert delta.still_open == [a2] and not delta.changed  # random path, timing: no change
    more = finding("127.0.10.1", "/", Kind.CLEARTEXT_TRANSPORT, Severity.MEDIUM,
                   auth_paths=["/", "/private/"], elapsed_ms=40)
    assert diff_findings([a1], [more]).changed == [(a1, more)]  # a real difference is seen
    # Gone findings: resolved only where the service answered this time.
    answered = Service(host="127.0.10.1", port=445, protocol="smb",
                       probes={"smb": Status.SUCCESS})
    timed_out = Service(host="127.0.10.2", port=445, probes={"smb": Status.TIMEOUT})
    delta = diff_findings([A, C], [], [answered, timed_out])
    assert delta.resolved == [A] and delta.not_seen == [C]
    delta = diff_findings([A, C], [], [])  # nothing answered (a daemon down, a port closed)
    assert delta.resolved == [] and delta.not_seen == [A, C]
    assert diff_findings([A, C], []).resolved == [A, C]  # no services known: as before


def test_sarif_has_what_code_scanning_dashboards_require() -> None:
    """The fields GitHub code scanning (and other SARIF consumers) read: a rule per kind and
    protocol with help text and a numeric security-severity, results pointing at their rule,
    fingerprints from the finding id, the service URL as artifact location."""
    schema = json.loads((DATA / "sarif-2.1.0.json").read_text())
    ftp = A.model_copy(update={"protocol": "ftp", "port": 21, "severity": Severity.HIGH,
                               "remediation": "Disable anonymous FTP."})
    low = A.model_copy(update={"resource": "other", "severity": Severity.LOW})
    doc = to_sarif(report([A, B, C, ftp, low], T0))
    jsonschema.validate(doc, schema)
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "nasscan" and driver["version"]
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert ids == sorted({"unauthenticated-access/smb", "cleartext-transport/smb",
                          "unauthenticated-access/ftp"})
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert "How to fix:" in rule["help"]["text"] and rule["help"]["markdown"]
        score = float(rule["properties"]["security-severity"])
        assert 0.0 <= score <= 10.0
        assert "security" in rule["properties"]["tags"]
    smb_open = rules[ids.index("unauthenticated-access/smb")]
    assert smb_open["properties"]["security-severity"] == "9.5"  # worst of critical/high/low
    assert "Disable guest access." in smb_open["help"]["text"]
    assert rules[ids.index("unauthenticated-access/ftp")]["properties"][
        "security-severity"] == "8.0"
    results = run["results"]
    assert len(results) == 5
    for res, f in zip(results, [A, B, C, ftp, low], strict=True):
        assert res["ruleId"] == ids[res["ruleIndex"]]
        assert res["partialFingerprints"]["nasscanFindingId/v1"] == f.id
        assert res["message"]["text"].startswith(f.title)
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == f"{f.protocol}://{f.host}:{f.port}/"
    assert len({r["partialFingerprints"]["nasscanFindingId/v1"] for r in results}) == 5


def test_html_evidence_is_generic_and_estimates_are_labelled() -> None:
    """Evidence keys the report does not know (e.g. from a newer probe) still show, as tables;
    an estimate is never shown as a count."""
    f = finding("127.0.10.9", "/", Kind.UNAUTHENTICATED_ACCESS, Severity.HIGH,
                files_seen=120, files_estimated=5000, estimate_basis="sampled 3 of 40 folders",
                truncated=True, samples=["a.wav", "b.wav"], nested={"depth": 3, "x": [1, 2]},
                categories={"recording": 120})
    page = render_html(report([f], T0))
    card = page.split('<section class="card"')[1]
    assert "at least 120 files seen; " not in card  # one service, one line
    assert "at least 120 files seen" in card and "about 5,000 estimated (sampled 3 of 40" in card
    assert "<th>files estimated</th><td>5,000</td>" in card  # the raw evidence, labelled
    assert "<th>depth</th><td>3</td>" in card and "<li>a.wav</li>" in card
    assert "<td>recording</td><td>at least 120</td>" in card
