"""Fleet pieces that need no server: URL masking, credential refusal, routing and shards."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fleet_fixtures import NASSCAN, free_port
from repo_paths import REPO_ROOT

from scanner.fleet.state import Part
from scanner.fleet.submit import Route, SubmitError, check_probe_options, parse_route, plan_parts
from scanner.masking import mask_url


def test_mask_url() -> None:
    assert mask_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("host=h password=x user=u") == "host=h password=*** user=u"
    assert mask_url("see redis://a:b@c/0, postgres://d:e@f/g") == (
        "see redis://a:***@c/0, postgres://d:***@f/g")


def test_credentials_are_refused_in_task_options() -> None:
    check_probe_options({"nfs.uid": 1000, "http.paths": "/a/"})
    for key in ("smb.password", "smb.user_password", "s3.secret_key", "api.token"):
        with pytest.raises(SubmitError, match="worker --probe-option"):
            check_probe_options({key: "x"})


async def test_routes_split_the_scope_and_shards_cover_each_group() -> None:
    from scanner.engine import ScanOptions
    from scanner.ports import parse_ports
    from scanner.targets import build_scope

    scope = await build_scope(["10.20.0.0/24", "10.30.0.0/24", "10.40.0.1-10.40.0.9"])
    routes = [parse_route("10.20.0.0/16=site-a"), parse_route("10.30.0.128/25=site-b")]
    options = ScanOptions(ports=parse_ports("445"), probes=[])
    plans = plan_parts(scope, options, routes, "default", 3)
    by_queue: dict[str, list[str]] = {}
    for plan in plans:
        by_queue.setdefault(plan.queue, []).append(plan.shard)
        assert plan.targets
    assert by_queue == {"site-a": ["1/3", "2/3", "3/3"], "site-b": ["1/3", "2/3", "3/3"],
                        "default": ["1/3", "2/3", "3/3"]}
    targets = {p.queue: p.targets for p in plans}
    assert targets["site-a"] == ["10.20.0.0-10.20.0.255"]
    assert targets["site-b"] == ["10.30.0.128-10.30.0.255"]
    assert targets["default"] == ["10.30.0.0-10.30.0.127", "10.40.0.1-10.40.0.9"]
    small = plan_parts(await build_scope(["10.0.0.1"]), options, [], "q", 8)
    assert [p.shard for p in small] == ["1/1"]  # never more parts than pairs
    for bad in ("10.20.0.0/16", "=q", "name.lan=q", "10.0.0.0/8=bad queue!"):
        with pytest.raises(SubmitError):
            parse_route(bad)
    assert isinstance(parse_route("fd00::/64=v6"), Route)


def _nasscan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NASSCAN, *args], capture_output=True, text=True, timeout=60)


def test_broker_and_database_down_are_one_line_with_masked_passwords() -> None:
    closed = free_port()
    r = _nasscan("fleet", "submit", "127.0.10.21", "-p", "443", "--broker",
                      f"redis://:s3cret@127.0.0.1:{closed}/0")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert f"cannot reach the broker redis://:***@127.0.0.1:{closed}/0" in r.stderr
    assert "s3cret" not in r.stderr
    r = _nasscan("fleet", "status", "last", "--db",
                      f"postgresql://nasscan:pw0rd@127.0.0.1:{closed}/x")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "cannot open history database postgresql://nasscan:***@" in r.stderr
    assert "pw0rd" not in r.stderr


def test_fleet_compose_profile_and_dockerfile() -> None:
    """docker-compose validates the fleet profile next to the lab (no engine needed)."""
    import shutil

    import yaml

    docker = REPO_ROOT / "docker"
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose missing: scripts/setup.sh installs it"
    r = subprocess.run(
        [compose, "-f", str(docker / "docker-compose.yml"), "-f", str(docker / "fleet-compose.yml"),
         "--profile", "fleet", "config"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    services = yaml.safe_load(r.stdout)["services"]
    assert {"redis", "postgres", "worker-1", "worker-2", "submit", "smb-guest"} <= set(services)
    workers = [s for n, s in services.items() if n.startswith("worker-")]
    assert len(workers) == 2
    for svc in workers:
        assert svc["command"][:3] == ["worker", "--queue", "lab"]
        assert svc["build"]["dockerfile"] == "docker/Dockerfile"
        assert svc["environment"]["NASSCAN_BROKER"].startswith("redis://")
        assert svc["environment"]["NASSCAN_DB"].startswith("postgresql://")
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    submitted = services["submit"]["command"]
    assert submitted[:2] == ["fleet", "submit"]
    assert set(submitted[2:submitted.index("--queue")]) <= set(services)  # lab service names
    dockerfile = (docker / "Dockerfile").read_text()
    assert "pip install --no-cache-dir '.[fleet]'" in dockerfile
    assert 'ENTRYPOINT ["nasscan"]' in dockerfile
    assert "\nUSER nasscan\n" in dockerfile


def test_kubernetes_indexed_job_manifest() -> None:
    """The Indexed Job runs part $(index) of one recorded scan per pod (no cluster here)."""
    import re

    import yaml

    path = REPO_ROOT / "docker" / "k8s-indexed-job.yaml"
    text = path.read_text()
    job = yaml.safe_load(text)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    shards = re.search(r"fleet submit .* --shards (\d+) --no-enqueue", text)
    assert shards and int(shards.group(1)) == spec["completions"] == spec["parallelism"]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    args = container["args"]
    assert args[:3] == ["fleet", "part", "SCAN_ID"]
    env = {e["name"]: e["valueFrom"] for e in container["env"]}
    index_var = args[3].removeprefix("$(").removesuffix(")")
    assert env[index_var]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']")
    assert env["NASSCAN_DB"]["secretKeyRef"]["key"] == "url"  # no database URL in the file
    assert "postgresql://" not in yaml.safe_dump(job)
    assert "--allowed" in args
    # The same arguments parse as `nasscan fleet part`.
    from scanner.fleet.cli import part_cmd

    ctx = part_cmd.make_context("part", [a.replace("$(PART_INDEX)", "2") for a in args[2:]])
    assert ctx.params["index"] == 2 and ctx.params["allowed"] == ("10.20.0.0/16",)


# -- part claims, deferral, takeover and give-up, on a real SQLite store (no broker) ----------


def _recorded_part(db: str, port: int) -> tuple[str, dict[str, object]]:
    """A one-part scan of 127.0.0.1:PORT (discovery only) recorded without a broker."""
    import asyncio

    from scanner.engine import ScanOptions
    from scanner.fleet.submit import stored_payload, submit
    from scanner.history.store import open_store
    from scanner.ports import parse_ports
    from scanner.targets import build_scope

    scope = asyncio.run(build_scope(["127.0.0.1"]))
    options = ScanOptions(ports=parse_ports(str(port)), probes=[])
    store = open_store(db)
    try:
        plans = plan_parts(scope, options, [], "q", 1)
        scan_id = submit(None, "", store, scope, options, plans=plans, probes_spec="none",
                         task_options={"timeout": 0.5}, recorded={}, max_attempts=3)
        return scan_id, stored_payload(store, scan_id, 0)
    finally:
        store.close()


def _set_part(db: str, scan_id: str, **values: object) -> None:
    from scanner.history.store import open_store

    store = open_store(db)
    try:
        for key, value in values.items():
            store.execute(f"UPDATE fleet_shards SET {key} = ? WHERE scan_id = ?", (value, scan_id))
        store.commit()
    finally:
        store.close()


def _part(db: str, scan_id: str) -> Part:
    from scanner.fleet import state
    from scanner.history.store import open_store

    store = open_store(db)
    try:
        return state.parts(store, scan_id)[0]
    finally:
        store.close()


def test_a_part_held_by_a_live_runner_waits_a_silent_one_is_taken_over(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from scanner.fleet import state
    from scanner.fleet.worker import WorkerConfig, run_part_here

    db = str(tmp_path / "h.sqlite3")
    port = free_port()
    scan_id, payload = _recorded_part(db, port)
    fresh = datetime.now(UTC).isoformat()
    _set_part(db, scan_id, state=state.STARTED, worker="other", attempts=1, heartbeat_at=fresh)
    config = WorkerConfig(db=db, name="me", heartbeat=1.0)
    assert run_part_here(config, payload, limit=0.5) == "unfinished"  # deferred, not run
    part = _part(db, scan_id)
    assert (part.state, part.worker, part.attempts) == (state.STARTED, "other", 1)
    stale = (datetime.now(UTC) - timedelta(seconds=10)).isoformat()
    _set_part(db, scan_id, heartbeat_at=stale)
    assert run_part_here(config, payload, limit=30) == state.DONE  # taken over
    part = _part(db, scan_id)
    assert (part.state, part.worker, part.attempts) == (state.DONE, "me", 2)
    assert run_part_here(config, payload, limit=30) == state.DONE  # a late duplicate: ignored
    assert _part(db, scan_id).attempts == 2


def test_a_part_started_max_attempts_times_fails_and_the_scan_is_incomplete(
    tmp_path: Path,
) -> None:
    from scanner.fleet import state
    from scanner.fleet.worker import WorkerConfig, run_part_here
    from scanner.history.store import open_store

    db = str(tmp_path / "h.sqlite3")
    scan_id, payload = _recorded_part(db, free_port())
    _set_part(db, scan_id, state=state.STARTED, worker="dead", attempts=3,
              heartbeat_at="2026-01-01T00:00:00+00:00")
    assert run_part_here(WorkerConfig(db=db, name="me"), payload, limit=5) == state.FAILED
    part = _part(db, scan_id)
    assert part.state == state.FAILED and "gave up after 3 attempts" in (part.error or "")
    store = open_store(db)
    try:
        assert state.scan_status(store, scan_id) == "incomplete"
        failed = store.load_report(scan_id).scope["fleet"]["failed"]
        assert [f["part"] for f in failed] == [0]
    finally:
        store.close()


def test_a_part_waits_for_postgresql_to_come_back_and_resumes() -> None:
    """The database goes down before a part starts: the part retries with back-off (the
    message is kept) and finishes once PostgreSQL is back."""
    import threading
    import time

    from fleet_fixtures import pg_cluster

    from scanner.fleet import state
    from scanner.fleet.worker import WorkerConfig, run_part_here

    with pg_cluster() as pg:
        scan_id, payload = _recorded_part(pg.url, free_port())
        pg.stop()
        back = threading.Timer(2.0, pg.start)
        started = time.monotonic()
        back.start()
        try:
            outcome = run_part_here(WorkerConfig(db=pg.url, name="me"), payload, limit=60)
        finally:
            back.join()
        assert outcome == state.DONE
        assert time.monotonic() - started >= 2.0  # it did wait for the database
        part = _part(pg.url, scan_id)
        assert (part.state, part.attempts) == (state.DONE, 1)
