"""Fleet pieces that need no server: URL masking, credential refusal, routing and shards."""

from __future__ import annotations

import subprocess

import pytest
from fleet_fixtures import NASSCAN, free_port

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
    from pathlib import Path

    import yaml

    docker = Path(__file__).resolve().parent.parent / "docker"
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
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parent.parent / "docker" / "k8s-indexed-job.yaml"
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
