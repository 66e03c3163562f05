"""The fleet against a real redis-server and PostgreSQL and three worker processes on two queues.

Runs inside the lab namespace (``nasscan lab exec``): Redis, PostgreSQL, the workers and the lab
daemons all live on its loopback. Queue ``lab`` has two workers (w-lab1, w-lab2) with a short
visibility timeout; queue ``seg-b`` has one worker (w-b) whose own scope is 127.0.10.0/28.
"""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet_fixtures import NASSCAN, Fleet, free_port, postgres_server, redis_server
from lab_fixtures import Lab

from scanner.fleet import state
from scanner.history.store import open_store

pytestmark = pytest.mark.lab

VISIBILITY = "8"
HEARTBEAT = "1"


@pytest.fixture(scope="module")
def fleet(lab: Lab) -> Iterator[Fleet]:
    with redis_server() as broker, postgres_server() as db:
        f = Fleet(broker, db, Path(tempfile.mkdtemp(prefix="nasscan-fleet-")))
        open_store(db).close()  # the schema, before anyone uses it
        # The single-machine scan of the lab, recorded in the same store, while workers start.
        local = subprocess.Popen(
            [NASSCAN, "scan", "127.0.10.0/24", "--db", db, "--format", "json", "-o", "/dev/null"],
            stderr=subprocess.PIPE, text=True,
        )
        try:
            common = ("--visibility-timeout", VISIBILITY, "--heartbeat", HEARTBEAT)
            workers = [
                f.start_worker("w-lab1", "lab", *common),
                f.start_worker("w-lab2", "lab", *common),
                f.start_worker("w-b", "seg-b", "--allowed", "127.0.10.0/28", *common),
            ]
            for w in workers:
                f.wait_ready(w)
            _, err = local.communicate(timeout=120)
            assert local.returncode == 1, err  # the lab has findings
            f.single = err.split("recorded as scan ")[1].split()[0]
            yield f
        finally:
            if local.poll() is None:
                local.kill()
                local.wait()
            f.stop()


def _submit(fleet: Fleet, *args: str) -> str:
    r = fleet.nasscan("fleet", "submit", *args)
    assert r.returncode == 0, r.stderr
    scan_id = r.stdout.strip()
    assert scan_id and "\n" not in scan_id
    return scan_id


def _parts(fleet: Fleet, scan_id: str) -> list[state.Part]:
    store = open_store(fleet.db)
    try:
        return state.parts(store, scan_id)
    finally:
        store.close()


def _findings(fleet: Fleet, scan_id: str) -> list[dict[str, Any]]:
    r = fleet.nasscan("show", scan_id, "--format", "json")
    assert r.returncode == 0, r.stderr
    findings: list[dict[str, Any]] = json.loads(r.stdout)["findings"]
    return findings


def _finding_ids(fleet: Fleet, scan_id: str) -> list[str]:
    return [f["id"] for f in _findings(fleet, scan_id)]


@pytest.fixture(scope="module")
def single(fleet: Fleet) -> tuple[str, list[str]]:
    """The single-machine scan of the lab: (scan id, finding ids)."""
    return fleet.single, _finding_ids(fleet, fleet.single)


def test_four_shards_give_the_single_machine_findings(
    fleet: Fleet, single: tuple[str, list[str]]
) -> None:
    local, local_ids = single
    assert len(local_ids) >= 10
    scan_id = _submit(fleet, "127.0.10.0/24", "--queue", "lab", "--shards", "4")
    r = fleet.nasscan("fleet", "wait", scan_id, "--timeout", "60", "--baseline", local,
                      "--fail-on-new")
    fleet_ids = _finding_ids(fleet, scan_id)
    differ = set(fleet_ids) ^ set(local_ids)
    assert r.returncode == 0, (r.stderr, differ)  # nothing new against the single-machine scan
    assert "(0 new)" in r.stderr
    assert len(fleet_ids) == len(set(fleet_ids))  # no duplicates
    assert set(fleet_ids) == set(local_ids)
    parts = _parts(fleet, scan_id)
    assert [p.shard for p in parts] == ["1/4", "2/4", "3/4", "4/4"]
    assert all(p.state == state.DONE for p in parts)
    # The parts' pairs are disjoint, but one finding can be reached from two ports that two
    # parts hold (an NFS export through rpcbind 111 and through 2049): each part counts it, the
    # store keeps it once (upsert by id).
    assert sum(p.findings for p in parts) >= len(fleet_ids)
    assert {p.worker for p in parts} <= {"w-lab1", "w-lab2"}
    # One scan of the same scope: `diff` compares it with the local scan like any two scans.
    d = fleet.nasscan("diff", local, scan_id, "--format", "json")
    assert d.returncode == 0, d.stderr
    delta = json.loads(d.stdout)
    assert not delta["new"] and not delta["resolved"]
    status = fleet.nasscan("fleet", "status", scan_id)
    assert status.stdout.startswith(f"scan {scan_id}: finished")
    assert status.stdout.count("done on w-lab") == 4


def test_a_worker_killed_holding_a_part_loses_and_duplicates_nothing(
    fleet: Fleet, single: tuple[str, list[str]]
) -> None:
    victim = next(w for w in fleet.workers if w.name == "w-lab1")
    scan_id = _submit(fleet, "127.0.10.0/24", "--queue", "lab", "--shards", "4")
    held = None
    deadline = time.monotonic() + 30
    while held is None and time.monotonic() < deadline:
        held = next((p for p in _parts(fleet, scan_id)
                     if p.state == state.STARTED and p.worker == victim.name), None)
        time.sleep(0.05)
    assert held is not None, "w-lab1 never took a part"
    victim.sigkill()
    assert _parts(fleet, scan_id)[held.part].state == state.STARTED  # killed mid-part
    r = fleet.nasscan("fleet", "wait", scan_id, "--timeout", "60")
    assert r.returncode == 1, r.stderr  # complete, with findings
    parts = _parts(fleet, scan_id)
    retaken = parts[held.part]
    assert retaken.state == state.DONE and retaken.worker == "w-lab2"
    assert retaken.attempts == 2
    ids = _finding_ids(fleet, scan_id)
    assert len(ids) == len(set(ids)) <= sum(p.findings for p in parts)  # upserted once
    assert set(ids) == set(single[1])
    fleet.workers.remove(victim)
    fleet.wait_ready(fleet.start_worker("w-lab3", "lab", "--visibility-timeout", VISIBILITY,
                                        "--heartbeat", HEARTBEAT))


def test_a_queue_without_worker_stays_queued_and_wait_names_it(fleet: Fleet) -> None:
    import redis

    scan_id = _submit(fleet, "127.0.10.21", "-p", "443", "--queue", "nobody",
                      "--probe-option", "http.paths=/files/")
    status = fleet.nasscan("fleet", "status", scan_id)
    assert "queued" in status.stdout and "nobody" in status.stdout
    started = time.monotonic()
    r = fleet.nasscan("fleet", "wait", scan_id, "--timeout", "5")
    assert r.returncode == 3
    assert 5 <= time.monotonic() - started < 20
    assert "'nobody'" in r.stderr and "incomplete" in r.stderr
    # The task message waiting in Redis: targets and options, no store or broker address.
    message = redis.Redis.from_url(fleet.broker).lindex("nobody", 0)
    assert message is not None
    envelope = json.loads(message)
    text = str(message) + base64.b64decode(envelope["body"]).decode()
    assert "127.0.10.21" in text and scan_id in text and "http.paths" in text
    assert fleet.db not in text and "postgresql" not in text and "redis://" not in text


class Recorder:
    """A listener that records who connected to it."""

    def __init__(self, ip: str, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(64)
        self.peers: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if ready:
                conn, peer = self.sock.accept()
                self.peers.append(peer)
                conn.close()

    def close(self) -> list[tuple[str, int]]:
        time.sleep(0.3)
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        return self.peers


def test_a_worker_refuses_parts_outside_its_allowed_scope(fleet: Fleet) -> None:
    port = free_port()
    inside, outside = Recorder("127.0.10.5", port), Recorder("127.0.10.200", port)
    try:
        refused = _submit(fleet, "127.0.10.0/24", "-p", str(port), "--probes", "none",
                          "--queue", "seg-b", "--shards", "2")
        r = fleet.nasscan("fleet", "wait", refused, "--timeout", "30")
        assert r.returncode == 3, r.stderr
        assert "outside its --allowed scope 127.0.10.0/28" in r.stderr
        assert "127.0.10.16-127.0.10.255" in r.stderr
        assert outside.peers == [] and inside.peers == []  # nothing was sent
        parts = _parts(fleet, refused)
        assert [p.state for p in parts] == [state.FAILED, state.FAILED]
        assert all(p.attempts == 1 for p in parts)  # refused, not retried
        # The same worker scans what is inside its scope (the listener does record that).
        ok = _submit(fleet, "127.0.10.0/28", "-p", str(port), "--probes", "none",
                     "--queue", "seg-b")
        r = fleet.nasscan("fleet", "wait", ok, "--timeout", "30")
        assert r.returncode == 0, r.stderr
    finally:
        in_peers, out_peers = inside.close(), outside.close()
    assert out_peers == []  # nothing reached the out-of-scope address
    assert in_peers  # the in-scope scan's connection: the recorder does record
    assert _parts(fleet, ok)[0].services == 1


def test_a_schedule_job_submits_to_the_fleet(fleet: Fleet, tmp_path: Path) -> None:
    config = tmp_path / "schedule.toml"
    config.write_text(
        '[jobs.web]\ntargets = ["127.0.10.20-127.0.10.29"]\nports = "80,443,8080"\n'
        'cron = "0 3 * * *"\n\n[jobs.web.fleet]\nqueue = "lab"\nshards = 2\nwait = 60\n'
    )
    r = fleet.nasscan("schedule", "once", str(config), "web")
    assert r.returncode == 0, r.stderr
    scan_id = r.stdout.split("scan ")[1].split(",")[0]
    parts = _parts(fleet, scan_id)
    assert [(p.queue, p.shard, p.state) for p in parts] == [
        ("lab", "1/2", state.DONE), ("lab", "2/2", state.DONE)]
    ids = _finding_ids(fleet, scan_id)
    assert ids and len(ids) == sum(p.findings for p in parts)
    assert fleet.nasscan("fleet", "status", scan_id).stdout.startswith(
        f"scan {scan_id}: finished")


def test_parts_run_without_a_broker_form_one_scan(
    fleet: Fleet, single: tuple[str, list[str]]
) -> None:
    """`fleet submit --no-enqueue` + one `fleet part SCAN I` per part, as Indexed Job pods."""
    r = subprocess.run([NASSCAN, "fleet", "submit", "127.0.10.20-29", "--shards", "2",
                        "--no-enqueue", "--db", fleet.db], capture_output=True, text=True,
                       timeout=60, env={k: v for k, v in os.environ.items()
                                        if k != "NASSCAN_BROKER"})
    assert r.returncode == 0, r.stderr
    scan_id = r.stdout.strip()
    assert [p.state for p in _parts(fleet, scan_id)] == [state.QUEUED, state.QUEUED]
    pods = [subprocess.Popen([NASSCAN, "fleet", "part", scan_id, str(i), "--db", fleet.db,
                              "--name", f"pod-{i}"], stderr=subprocess.PIPE, text=True)
            for i in (0, 1)]
    for pod in pods:
        _, err = pod.communicate(timeout=120)
        assert pod.returncode == 0, err
    parts = _parts(fleet, scan_id)
    assert [(p.state, p.worker) for p in parts] == [(state.DONE, "pod-0"), (state.DONE, "pod-1")]
    ids = _finding_ids(fleet, scan_id)
    hosts = {f"127.0.10.{i}" for i in range(20, 30)}
    web = {f["id"] for f in _findings(fleet, single[0]) if f["host"] in hosts}
    assert web and len(ids) == len(set(ids)) and set(ids) == web  # the HTTP hosts' findings
    again = fleet.nasscan("fleet", "part", scan_id, "0")  # a pod retried after the part is done
    assert again.returncode == 0 and "done" in again.stderr
    assert _parts(fleet, scan_id)[0].attempts == 1
