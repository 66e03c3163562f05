"""Schedules and alerts: config validation, cron firing, no overlapping runs, webhook delivery
to a real HTTP receiver on loopback (with a failing first answer and a hanging one)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from scanner.history.alerts import alert_payload, post_alert
from scanner.history.schedule import (
    JobConfig,
    ScheduleConfigError,
    Scheduler,
    load_schedule,
    run_job,
)
from scanner.history.store import Store, open_store
from scanner.models import Finding, Kind, Report, ScannerInfo, Severity


class Receiver:
    """A real webhook receiver: answers 500 to the first ``fail_first`` posts, then 200."""

    def __init__(self, fail_first: int = 0, hang: bool = False) -> None:
        self.fail_first = fail_first
        self.hang = hang
        self.bodies: list[dict[str, Any]] = []
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(2)
        if self.calls <= self.fail_first:
            return web.Response(status=500)
        self.bodies.append(await request.json())
        return web.Response(text="ok")


@pytest.fixture
async def receiver_url() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver(fail_first=1)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield receiver, f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "schedule.toml"
    p.write_text(text)
    return p


GOOD = """
[jobs.lab]
targets = ["127.0.10.0/24"]
ports = "445"
cron = "0 3 * * *"

[[jobs.lab.alerts]]
webhook = "{url}"
threshold = "high"
"""


def test_config_errors_name_file_and_problem(tmp_path: Path) -> None:
    with pytest.raises(ScheduleConfigError, match=r"schedule\.toml: not valid TOML"):
        load_schedule(write(tmp_path, "[jobs.x\n"))
    with pytest.raises(ScheduleConfigError, match=r"jobs\.x\.cron: .*not a cron expression"):
        load_schedule(write(tmp_path, '[jobs.x]\ntargets=["127.0.0.1"]\ncron="every day a b c"\n'))
    with pytest.raises(ScheduleConfigError, match=r"jobs\.x\.targets"):
        load_schedule(write(tmp_path, '[jobs.x]\ntargets=[]\ncron="0 3 * * *"\n'))
    with pytest.raises(ScheduleConfigError, match=r"jobs\.x\.colour"):
        load_schedule(write(tmp_path, '[jobs.x]\ntargets=["a"]\ncron="0 3 * * *"\ncolour=1\n'))
    config = load_schedule(write(tmp_path, GOOD.format(url="http://127.0.0.1:1/hook")))
    assert config.jobs["lab"].name == "lab"
    assert config.jobs["lab"].alerts[0].threshold == Severity.HIGH


def _finding(resource: str, sev: Severity) -> Finding:
    return Finding(host="127.0.10.1", port=445, protocol="smb", resource=resource, severity=sev,
                   kind=Kind.UNAUTHENTICATED_ACCESS, title=f"share {resource} readable")


class RecordingScan:
    """Records successive scans with the given findings into the store (stands in for the
    engine, which has its own tests against real servers)."""

    def __init__(self, rounds: list[list[Finding]], seconds: float = 0.0) -> None:
        self.rounds = rounds
        self.seconds = seconds
        self.calls = 0

    async def __call__(self, job: JobConfig, store: Store) -> str:
        findings = self.rounds[min(self.calls, len(self.rounds) - 1)]
        start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=self.calls)
        self.calls += 1
        await asyncio.sleep(self.seconds)
        rep = Report(scanner=ScannerInfo(version="t"), started_at=start,
                     scope={"targets": job.targets, "exclusions": job.exclude,
                            "ports": job.ports})
        scan_id = store.begin_scan(rep, {})
        for f in findings:
            store.record_finding(scan_id, f)
        store.finish_scan(scan_id, rep)
        return scan_id


async def test_only_new_findings_at_threshold_are_alerted(
    tmp_path: Path, receiver_url: tuple[Receiver, str]
) -> None:
    receiver, url = receiver_url
    config = load_schedule(write(tmp_path, GOOD.format(url=url)))
    store = open_store(str(tmp_path / "h.sqlite3"))
    old = _finding("recordings", Severity.CRITICAL)
    scan = RecordingScan([[old], [old, _finding("public", Severity.HIGH),
                                  _finding("misc", Severity.LOW)]])
    job = config.jobs["lab"]
    first = await run_job(job, store, scan)
    assert [f.resource for f in first.new] == ["recordings"]
    second = await run_job(job, store, scan)
    assert sorted(f.resource or "" for f in second.new) == ["misc", "public"]
    assert second.alerted == [True]
    # First delivery of each alert got a 500 and was retried.
    assert receiver.calls == 3
    last = receiver.bodies[-1]
    assert [f["resource"] for f in last["findings"]] == ["public"]  # low is under the threshold
    assert "1 new finding(s), worst high" in last["text"]
    store.close()


async def test_alert_failure_is_reported_not_raised() -> None:
    receiver = Receiver(hang=True)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        ok = await post_alert(f"http://127.0.0.1:{port}/hook", alert_payload("j", "s", []),
                              attempts=2, timeout=0.3, backoff=0.05)
    finally:
        await runner.cleanup()
    assert ok is False
    assert receiver.calls == 2


class EverySecond(Scheduler):
    """Fires every second (cron lines are minutes at best; seconds are refused in files)."""

    def next_fire(self, job: JobConfig, after: datetime) -> datetime:
        return after.replace(microsecond=0) + timedelta(seconds=1)


async def test_scheduler_fires_and_never_overlaps_a_job(tmp_path: Path) -> None:
    config = load_schedule(write(tmp_path, '[jobs.j]\ntargets=["127.0.10.1"]\n'
                                           'cron="*/20 * * * *"\n'))
    store = open_store(str(tmp_path / "h.sqlite3"))
    scan = RecordingScan([[]], seconds=1.6)
    lines: list[str] = []
    scheduler = EverySecond(config, store, scan, say=lines.append)
    await asyncio.wait_for(scheduler.serve(max_fires=4), 20)
    # Every second a fire; each run lasts 1.6 s, so some fires find the job still running.
    assert scheduler.skipped, "an overlapping fire must be skipped"
    assert scan.calls == len(scheduler.outcomes) == 4 - len(scheduler.skipped)
    assert len(store.list_scans()) == scan.calls
    # One line per fired job: scan id, counts, next fire time; and one per skipped fire.
    ran = [line for line in lines if " findings" in line]
    assert len(ran) == scan.calls
    assert all(line.startswith("job j: scan ") and "; next 20" in line for line in ran), ran
    assert sum("this run skipped" in line for line in lines) == len(scheduler.skipped)
    assert lines[0].startswith("job j: first run 20")
    store.close()


def test_six_field_cron_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScheduleConfigError, match=r"jobs\.x\.cron: .*6 fields; use five.*seconds"):
        load_schedule(write(tmp_path, '[jobs.x]\ntargets=["127.0.0.1"]\ncron="*/20 * * * * *"\n'))
    with pytest.raises(ScheduleConfigError, match=r"jobs\.x\.cron: .*4 fields"):
        load_schedule(write(tmp_path, '[jobs.x]\ntargets=["127.0.0.1"]\ncron="0 3 * *"\n'))


async def test_first_run_sends_one_summary_then_new_findings_worst_first(
    tmp_path: Path, receiver_url: tuple[Receiver, str]
) -> None:
    receiver, url = receiver_url
    receiver.fail_first = 0
    config = load_schedule(write(tmp_path, GOOD.format(url=url)))
    store = open_store(str(tmp_path / "h.sqlite3"))
    first = [_finding(f"share{i}", Severity.CRITICAL) for i in range(30)]
    later = [*first, _finding("b-high", Severity.HIGH), _finding("a-crit", Severity.CRITICAL)]
    scan = RecordingScan([first, later])
    job = config.jobs["lab"]
    outcome = await run_job(job, store, scan)
    assert outcome.first_run and outcome.alerted == [True]
    (summary,) = receiver.bodies
    assert summary["first_run"] is True and "findings" not in summary
    assert summary["counts"] == {"critical": 30}
    assert len(summary["services"]) == 1  # one service (host, port), not 30 lines
    assert "first scan, 30 finding(s)" in summary["text"]
    assert len(summary["text"].splitlines()) == 2
    outcome = await run_job(job, store, scan)
    assert not outcome.first_run and len(outcome.new) == 2
    body = receiver.bodies[-1]
    assert [f["severity"] for f in body["findings"]] == ["critical", "high"]  # worst first
    assert body["text"].splitlines()[1].startswith("- [critical]")
    store.close()


def test_schedule_check_validates_and_shows_the_next_five_fire_times(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = write(tmp_path, '[jobs.nightly]\ntargets = ["127.0.10.0/24"]\nports = "445"\n'
                          'cron = "30 2 * * 1-5"\n'
                          '[jobs.often]\ntargets = ["127.0.10.1"]\ncron = "*/20 * * * *"\n')
    proc = subprocess.run([sys.executable, "-m", "scanner.cli", "schedule", "check", str(cfg)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    head = lines.index(next(x for x in lines if x.startswith("job nightly: 256 hosts, ports")))
    times = [datetime.fromisoformat(x.strip().replace("Z", "+00:00"))
             for x in lines[head + 1: head + 6]]
    assert len(times) == 5 and times == sorted(times)
    assert all((t.hour, t.minute, t.weekday() < 5) == (2, 30, True) for t in times)
    often = lines[lines.index(next(x for x in lines if x.startswith("job often:"))) + 1:][:5]
    gaps = {(datetime.fromisoformat(b.strip().replace("Z", "+00:00"))
             - datetime.fromisoformat(a.strip().replace("Z", "+00:00"))).total_seconds()
            for a, b in itertools.pairwise(often)}
    assert gaps == {1200.0}
    bad = write(tmp_path, '[jobs.x]\ntargets = ["127.0.10.1"]\ncron = "*/20 * * * * *"\n')
    proc = subprocess.run([sys.executable, "-m", "scanner.cli", "schedule", "check", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "6 fields; use five" in proc.stderr
    bad.write_text('[jobs.x]\ntargets = ["127.0.10.1"]\ncron = "0 3 * * *"\nprobes = "nope"\n')
    proc = subprocess.run([sys.executable, "-m", "scanner.cli", "schedule", "check", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "job x: INVALID:" in proc.stdout and "nope" in proc.stdout
