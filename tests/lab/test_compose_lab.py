"""The compose lab's mapping back to the manifest (scanner/lab/compose.py) and its compose file.

The real run (images built, lab started, scanned, torn down) is scripts/compose-lab-test.sh,
a CI step of its own; these tests hold the pieces it relies on without an engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from repo_paths import REPO_ROOT

from scanner.lab import compose
from scanner.lab import manifest as lab_manifest

COMPOSE_FILE = REPO_ROOT / "docker" / "docker-compose.yml"
MANIFEST = lab_manifest.load()
SERVERS = {n: s for n, s in yaml.safe_load(COMPOSE_FILE.read_text())["services"].items()
           if n not in ("content", "scan")}


def _container(service: str, ports: dict[str, list[tuple[str, str]]], ip: str) -> dict[str, Any]:
    """The parts of one `docker inspect` entry that compose.containers reads."""
    return {
        "Config": {"Labels": {"com.docker.compose.service": service,
                              "com.docker.compose.project": "p"}},
        "NetworkSettings": {
            "Ports": {k: [{"HostIp": h, "HostPort": p} for h, p in v] or None
                      for k, v in ports.items()},
            "Networks": {"p_default": {"IPAddress": ip}},
        },
    }


def _inspect_of_the_compose_file() -> list[dict[str, Any]]:
    """What `docker inspect` says of the compose file's servers once up (ports as declared)."""
    out = []
    for i, (name, svc) in enumerate(sorted(SERVERS.items())):
        ports: dict[str, list[tuple[str, str]]] = {}
        for spec in svc.get("ports", []):
            host_ip, host, inside = str(spec).split(":")
            inside, _, proto = inside.partition("/")
            lo, _, hi = host.partition("-")
            ilo = inside.partition("-")[0]
            for off in range(int(hi or lo) - int(lo) + 1):
                ports.setdefault(f"{int(ilo) + off}/{proto or 'tcp'}", []).append(
                    (host_ip, str(int(lo) + off)))
        out.append(_container(name, ports, f"172.31.240.{i + 2}"))
    out.append({"Config": {"Labels": {}}, "NetworkSettings": {}})  # not a compose container
    return out


def test_containers_reads_services_published_ports_and_addresses() -> None:
    running = compose.containers([
        _container("ftp-anon", {"21/tcp": [("127.0.0.1", "12111")],
                                "30000/tcp": [("127.0.0.1", "30000")]}, "172.31.240.5"),
        _container("tftp", {"69/udp": [("127.0.0.1", "16971")], "80/tcp": []}, "172.31.240.6"),
        {"Config": {"Labels": None}, "NetworkSettings": None},
    ])
    assert set(running) == {"ftp-anon", "tftp"}
    assert running["ftp-anon"].published == {(21, "tcp"): ("127.0.0.1", 12111),
                                             (30000, "tcp"): ("127.0.0.1", 30000)}
    assert running["tftp"].published == {(69, "udp"): ("127.0.0.1", 16971)}
    assert running["tftp"].addresses == ["172.31.240.6"]
    with pytest.raises(compose.ComposeLabError, match="two containers"):
        compose.containers([_container("tftp", {}, "a"), _container("tftp", {}, "b")])


def test_every_manifest_target_but_the_namespace_only_ones_is_a_compose_server() -> None:
    running = compose.containers(_inspect_of_the_compose_file())
    carried = compose.carried(MANIFEST, running)
    left = {t.service for t in MANIFEST.targets} - {t.service for t in carried.targets}
    assert left == set(compose.NAMESPACE_ONLY)
    assert {"smb", "ftp", "http", "nfs", "rsync", "s3", "iscsi", "tftp", "dlna"} <= {
        t.service for t in carried.targets}
    # the crawl shapes' NFS exports are the namespace lab's: only their patterns are left out
    nfs, full = carried.by_name("nfs"), MANIFEST.by_name("nfs")
    gone = [p for p in full.must if p not in nfs.must]
    assert sorted(p["resource"] for p in gone) == ["/export/deep", "/export/flat", "/export/wide"]
    assert any(p.get("resource") == "/export/open" for p in nfs.must)
    assert nfs.must_not == full.must_not
    # a server missing from the running lab is an error, not a smaller check
    del running["smb-secure"]
    with pytest.raises(compose.ComposeLabError, match="smb-secure"):
        compose.carried(MANIFEST, running)


def test_published_and_network_mappings() -> None:
    running = compose.containers(_inspect_of_the_compose_file())
    pub = compose.published(MANIFEST, running)
    net = compose.network(MANIFEST, running)
    assert len(net.targets) == len(compose.carried(MANIFEST, running).targets)
    # TFTP cannot pass Docker's UDP proxy: left out of the published check, and said so
    assert {t.name for t in net.targets} - {t.name for t in pub.targets} == {"tftp"}
    assert set(compose.PUBLISHED_UNREACHABLE) == {"tftp"}
    assert net.by_name("tftp").transport == "udp" and net.by_name("tftp").port == 69
    web = pub.by_name("http-nginx-443")
    assert (web.host, web.port) == ("127.0.0.1", 18021)
    assert (pub.by_name("nfs").port, pub.by_name("ftp-anon-2121").port) == (2049, 12121)
    assert net.by_name("smb-guest").port == 445
    assert net.by_name("smb-guest").host == running["smb-guest"].addresses[0]
    assert len({t.host for t in net.targets}) == len(net.targets)  # one container each
    # the must/must_not patterns travel unchanged
    assert pub.by_name("smb-secure").must_not == MANIFEST.by_name("smb-secure").must_not
    # a target whose port the compose file does not publish cannot be checked: an error
    running["rsync"].published.clear()
    with pytest.raises(compose.ComposeLabError, match="rsync: 873/tcp is not published"):
        compose.published(MANIFEST, running)
    running["rsync"].published[(873, "tcp")] = ("0.0.0.0", 18741)
    with pytest.raises(compose.ComposeLabError, match=r"published on 0\.0\.0\.0"):
        compose.published(MANIFEST, running)


def test_scan_ports_are_the_published_default_ports_only() -> None:
    running = compose.containers(_inspect_of_the_compose_file())
    ports = compose.scan_ports(MANIFEST, running, compose.probe_default_ports()).split(",")
    assert "T:18021" in ports and "T:14401" in ports and "U:16971" in ports
    assert "T:111" in ports and "T:2049" in ports  # rpcbind is a default port of the nfs probe
    # FTP passive, TFTP data and MOUNT's fixed port are not scanned
    assert not {"T:30000", "T:30039", "U:6900", "T:20048"} & set(ports)
    pub = compose.published(MANIFEST, running)
    want = {f"{'U' if t.transport == 'udp' else 'T'}:{t.port}" for t in pub.targets}
    assert want <= set(ports)


def _finding(t: lab_manifest.Target, **kw: Any) -> dict[str, Any]:
    return {"host": t.host, "port": t.port, "protocol": t.protocol[0], "resource": "/", **kw}


def test_check_judges_a_scan_at_the_mapped_places(tmp_path: Path, capsys: Any) -> None:
    """The manifest's must and must_not hold at the mapped address: a twin's finding at its
    published port fails; the same finding at an unmapped port is not the twin's."""
    inspect = tmp_path / "inspect.json"
    inspect.write_text(json.dumps(_inspect_of_the_compose_file()))
    running = compose.containers(json.loads(inspect.read_text()))
    pub = compose.published(MANIFEST, running)
    findings = []
    for t in pub.targets:
        for p in t.must:
            f = _finding(t, **{k: (v[0] if isinstance(v, list) else v) for k, v in p.items()
                               if k != "listing_includes"})
            if "listing_includes" in p:
                f["listing"] = {"entries": [{"path": x} for x in p["listing_includes"]]}
            findings.append(f)
    services = [{"host": t.host, "port": t.port, "protocol": t.protocol[0]} for t in pub.targets]
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps({"findings": findings, "services": services}))
    assert compose.main(["check", "published", str(inspect), str(scan)]) == 0
    out = capsys.readouterr().out
    assert f"{len(pub.targets)} of {len(MANIFEST.targets)} manifest targets checked" in out
    assert "namespace lab only: crawl" in out and ": 0 problems" in out
    assert "not checked here: tftp:" in out

    twin = pub.by_name("smb-secure")
    scan.write_text(json.dumps({"findings": [*findings, _finding(
        twin, kind="unauthenticated-access", resource="secure")], "services": services}))
    assert compose.main(["check", "published", str(inspect), str(scan)]) == 1
    assert f"smb-secure 127.0.0.1:{twin.port}: forbidden finding" in capsys.readouterr().out

    # the same report judged at the container addresses: nothing is where it should be
    scan.write_text(json.dumps({"findings": findings, "services": services}))
    assert compose.main(["check", "network", str(inspect), str(scan)]) == 1
    assert "missing finding" in capsys.readouterr().out


def test_every_server_has_a_health_check_and_the_scan_waits_for_all() -> None:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    for name, svc in SERVERS.items():
        check = svc.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check["retries"] * int(check["interval"].rstrip("s")) <= 180, name
    scan = doc["services"]["scan"]
    assert scan["profiles"] == ["scan"]
    assert {n: d["condition"] for n, d in scan["depends_on"].items()} == {
        n: "service_healthy" for n in SERVERS}
    # the scan's targets are the servers' names, on the probes' default ports
    targets = scan["command"][1:scan["command"].index("-oJ")]
    assert set(targets) == set(SERVERS) and "-p" not in scan["command"]
    assert scan["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}


def test_dockerfiles_take_the_base_as_an_argument_and_skip_installed_packages() -> None:
    for df in sorted((REPO_ROOT / "docker").glob("*/Dockerfile*")):
        text = df.read_text()
        assert "ARG BASE=debian:bookworm-slim\nFROM ${BASE}\n" in text, df
        assert "dpkg -s " in text and ">/dev/null 2>&1 || (" in text, df
    nasscan = (REPO_ROOT / "docker" / "Dockerfile").read_text()
    assert "ARG BASE=python:3.11-slim-bookworm\nFROM ${BASE}\n" in nasscan
