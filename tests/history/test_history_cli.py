"""History from the command line against the real lab: recorded scans, show/diff/report,
baselines with --fail-on-new, and --resume of a scan killed part-way through."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_fixtures import LineProbe, Listeners, claiming, options
from lab_fixtures import Lab

from scanner.engine import Engine, ResumeState
from scanner.history.store import open_store
from scanner.models import Transport
from scanner.ports import PortSpec
from scanner.targets import build_scope

LAB_TARGETS = ["127.0.10.0/26"]


def nasscan(*args: str, db: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NASSCAN_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def ids(path: Path) -> list[str]:
    return [f["id"] for f in json.loads(path.read_text())["findings"]]


async def test_resume_state_skips_finished_services(net: Listeners) -> None:
    scope = await build_scope(["127.0.55.0/28"])
    probe = claiming(LineProbe, net.greeter[1], net.claimed[1])
    full = await Engine(scope, options(PortSpec.of(net.tcp_ports), [probe])).run()
    assert len(full.findings) == 2
    done = [s for s in full.services if (s.host, s.port) == net.greeter]
    kept = [f for f in full.findings if f.host == net.greeter[0]]
    before = dict(net.accepts)
    resumed = await Engine(scope, options(PortSpec.of(net.tcp_ports), [probe]),
                           resume=ResumeState.of(done, kept)).run()
    # The finished service was swept again (one connect) but not probed again ...
    assert net.accepts[net.greeter] - before[net.greeter] == 1
    # ... the unfinished one was probed (sweep connect + probe connections).
    assert net.accepts[net.claimed] - before[net.claimed] > 1
    # and the union equals the uninterrupted scan, with no duplicates.
    assert sorted(f.id for f in resumed.findings) == sorted(f.id for f in full.findings)


async def test_resume_after_the_sweep_probes_the_queue_without_sweeping(
    net: Listeners,
) -> None:
    scope = await build_scope(["127.0.55.0/28"])
    probe = claiming(LineProbe, net.greeter[1], net.claimed[1])
    opts = options(PortSpec.of(net.tcp_ports), [probe])
    full = await Engine(scope, opts).run()
    done = [s for s in full.services if (s.host, s.port) == net.greeter]
    kept = [f for f in full.findings if f.host == net.greeter[0]]
    queued = [(h, p, Transport.TCP) for h, p in (net.greeter, net.claimed)]
    before = dict(net.accepts)
    engine = Engine(scope, opts, resume=ResumeState.of(done, kept, queued, sweep_done=True))
    resumed = await engine.run()
    assert engine.sweep_stats is None and resumed.scope["resumed_without_sweep"] is True
    assert net.accepts.get(net.greeter, 0) == before.get(net.greeter, 0)  # finished: untouched
    assert net.accepts.get(net.silent, 0) == before.get(net.silent, 0)  # not queued: no sweep
    assert net.accepts[net.claimed] > before[net.claimed]  # queued, unfinished: probed
    assert sorted(f.id for f in resumed.findings) == sorted(f.id for f in full.findings)


@pytest.mark.lab
def test_history_show_diff_report_and_baseline(lab: Lab, tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    first = tmp_path / "first.json"
    r = nasscan("scan", *LAB_TARGETS, "-q", "--format", "json", "-o", str(first), db=db)
    assert r.returncode == 1, r.stderr
    assert "recorded as scan" not in r.stderr  # --quiet
    listed = nasscan("history", db=db)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1
    shown = nasscan("show", "last", "--format", "json", db=db)
    assert shown.returncode == 0
    assert [f["id"] for f in json.loads(shown.stdout)["findings"]] == ids(first)

    # Nothing new against the first scan: --fail-on-new exits 0 though findings stand.
    again = tmp_path / "again.json"
    r = nasscan("scan", *LAB_TARGETS, "-q", "--format", "json", "-o", str(again),
                "--baseline", "last", "--fail-on-new", db=db)
    assert r.returncode == 0, r.stderr
    data = json.loads(again.read_text())
    assert data["findings"] and {f["baseline"] for f in data["findings"]} == {"known"}

    diff = nasscan("diff", "--format", "json", db=db)
    assert diff.returncode == 0, diff.stderr
    delta = json.loads(diff.stdout)
    assert delta["new"] == [] and delta["resolved"] == []
    assert len(delta["still_open"]) + len(delta["changed"]) == len(ids(first))

    # A baseline file that lacks some findings: those are new, and --fail-on-new exits 1.
    partial = json.loads(first.read_text())
    dropped = partial["findings"][:2]
    partial["findings"] = partial["findings"][2:]
    base = tmp_path / "base.json"
    base.write_text(json.dumps(partial))
    third = tmp_path / "third.json"
    r = nasscan("scan", *LAB_TARGETS, "-q", "--format", "json", "-o", str(third),
                "--baseline", str(base), "--fail-on-new", "--no-history", db=db)
    assert r.returncode == 1, r.stderr
    new = {f["id"] for f in json.loads(third.read_text())["findings"] if f["baseline"] == "new"}
    assert new == {f["id"] for f in dropped}

    html = tmp_path / "r.html"
    r = nasscan("report", "last", "--format", "html", "-o", str(html), db=db)
    assert r.returncode == 0 and "Since the previous scan" in html.read_text()
    sarif = nasscan("report", "last", "--format", "sarif", db=db)
    assert json.loads(sarif.stdout)["version"] == "2.1.0"
    assert len(nasscan("history", db=db).stdout.splitlines()) == 2  # --no-history kept out


@pytest.mark.lab
def test_bad_baseline_and_resume_references_are_one_line_errors(lab: Lab, tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    r = nasscan("scan", "127.0.10.1", "-p", "445", "--baseline", str(bad), db=db)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not JSON" in r.stderr
    r = nasscan("scan", "127.0.10.1", "-p", "445", "--baseline", "nope", db=db)
    assert r.returncode == 2 and "baseline 'nope'" in r.stderr
    r = nasscan("scan", "--resume", db=db)
    assert r.returncode == 2 and "no scans recorded" in r.stderr
    r = nasscan("scan", "127.0.10.1", "-p", "445", "-q", "--fail-on", "none", db=db)
    assert r.returncode == 0
    r = nasscan("scan", "--resume", db=db)
    assert r.returncode == 2 and "finished; nothing to resume" in r.stderr


@pytest.mark.lab
def test_killed_scan_resumes_to_the_uninterrupted_result(lab: Lab, tmp_path: Path) -> None:
    reference = tmp_path / "reference.json"
    r = nasscan("scan", *LAB_TARGETS, "-q", "--format", "json", "-o", str(reference),
                "--no-history", db=tmp_path / "unused.sqlite3")
    assert r.returncode == 1, r.stderr

    db = tmp_path / "h.sqlite3"
    partial_out = tmp_path / "partial.jsonl"
    env = {**os.environ, "NASSCAN_DB": str(db)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner.cli", "scan", *LAB_TARGETS, "-q", "--format", "jsonl",
         "-o", str(partial_out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    recorded = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                with sqlite3.connect(db) as conn, contextlib.suppress(sqlite3.OperationalError):
                    # (the tables may not exist yet)
                    recorded = conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0]
                if recorded >= 3:
                    break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, "the scan finished before it could be killed"
    with sqlite3.connect(db) as conn:
        status, saved = conn.execute("SELECT status, options FROM scans").fetchone()
        before = conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0]
    assert status == "running" and before >= 3
    assert json.loads(saved)["cli"]["fmt"] == "jsonl"
    with sqlite3.connect(db) as conn:
        checkpoint = conn.execute("SELECT checkpoint FROM scans").fetchone()[0]
        queued = conn.execute("SELECT COUNT(*) FROM queued").fetchone()[0]
    swept = checkpoint is not None and json.loads(checkpoint)["sweep_done"]

    before_kill = [json.loads(line)["id"] for line in partial_out.read_text().splitlines()]
    assert before_kill
    # Nothing given again: targets, ports, format and output come from the checkpoint.
    r = nasscan("scan", "--resume", db=db)
    assert r.returncode == 1, r.stderr
    streamed = [json.loads(line)["id"] for line in partial_out.read_text().splitlines()]
    with sqlite3.connect(db) as conn:
        status = conn.execute("SELECT status FROM scans").fetchone()[0]
        stored = [row[0] for row in conn.execute("SELECT finding_id FROM findings")]
    assert status == "finished"
    assert sorted(stored) == sorted(ids(reference))
    resumed_scope = json.loads(nasscan("show", "last", "--format", "json", db=db).stdout)["scope"]
    # After a finished sweep (the usual case: the sweep takes well under a second here) the
    # resumed run probes the recorded queue and sweeps nothing.
    assert resumed_scope.get("resumed_without_sweep", False) == bool(swept)
    if swept:
        assert queued >= len({(f["host"], f["port"]) for f in json.loads(
            reference.read_text())["services"]})
    assert len(stored) == len(set(stored))
    # --resume appends: every finding streamed before the kill is still there, exactly once,
    # and the file ends with the whole scan
    assert streamed[: len(before_kill)] == before_kill
    assert len(streamed) == len(set(streamed))
    assert sorted(streamed) == sorted(ids(reference))
    shown = nasscan("show", "last", "--format", "json", db=db)
    assert sorted(f["id"] for f in json.loads(shown.stdout)["findings"]) == sorted(
        ids(reference))


@pytest.mark.lab
async def test_schedule_once_scans_the_lab_and_alerts_a_real_receiver(
    lab: Lab, tmp_path: Path
) -> None:
    from aiohttp import web

    bodies: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    db = tmp_path / "h.sqlite3"
    config = tmp_path / "schedule.toml"
    config.write_text(
        f'db = "{db}"\n[jobs.web]\ntargets = ["127.0.10.21", "127.0.10.26"]\n'
        'ports = "80,443"\nprobes = "http"\ncron = "0 3 * * *"\n'
        f'[[jobs.web.alerts]]\nwebhook = "http://127.0.0.1:{port}/hook"\nthreshold = "high"\n'
    )
    try:
        outputs = []
        for _ in range(2):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "scanner.cli", "schedule", "once", str(config), "web",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()
            outputs.append(out.decode())
    finally:
        await runner.cleanup()
    assert "first run (baseline)" in outputs[0] and outputs[1].rstrip().endswith(", 0 new")
    # The first run sent one summary (by service) of the critical listing of the 1177-like
    # server; the second had nothing new, so nothing was posted again.
    assert len(bodies) == 1
    assert bodies[0]["first_run"] is True and bodies[0]["counts"] == {"critical": 1}
    services = bodies[0]["services"]
    assert isinstance(services, list) and len(services) == 1
    assert str(services[0]["summary"]).startswith("127.0.10.21:443 http")
    assert "first scan, 1 finding(s) (1 critical)" in str(bodies[0]["text"])
    store = open_store(str(db))
    try:
        assert len(store.list_scans()) == 2
    finally:
        store.close()
