"""Schedules and alerts: config validation, cron firing, no overlapping runs, webhook delivery
to a real HTTP receiver on loopback (with a failing first answer and a hanging one)."""

from __future__ import annotations

import asyncio
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
cron = "* * * * * *"

[[jobs.lab.alerts]]
webhook = "{url}"
threshold = "high"
"""


def test_config_errors_name_file_and_problem(tmp_path: Path) -> None:
    with pytest.raises(ScheduleConfigError, match=r"schedule\.toml: not valid TOML"):
        load_schedule(write(tmp_path, "[jobs.x\n"))
    with pytest.raises(ScheduleConfigError, match=r"jobs\.x\.cron: .*not a cron expression"):
        load_schedule(write(tmp_path, '[jobs.x]\ntargets=["127.0.0.1"]\ncron="every day"\n'))
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


async def test_scheduler_fires_and_never_overlaps_a_job(tmp_path: Path) -> None:
    config = load_schedule(write(tmp_path, '[jobs.j]\ntargets=["127.0.10.1"]\n'
                                           'cron="* * * * * *"\n'))
    store = open_store(str(tmp_path / "h.sqlite3"))
    scan = RecordingScan([[]], seconds=1.6)
    scheduler = Scheduler(config, store, scan)
    await asyncio.wait_for(scheduler.serve(max_fires=4), 20)
    # Every second a fire; each run lasts 1.6 s, so some fires find the job still running.
    assert scheduler.skipped, "an overlapping fire must be skipped"
    assert scan.calls == len(scheduler.outcomes) == 4 - len(scheduler.skipped)
    assert len(store.list_scans()) == scan.calls
    store.close()
