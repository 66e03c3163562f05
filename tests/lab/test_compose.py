"""The lab as docker compose services (no lab needed): the compose file is valid, mounts and
builds from the lab's own config files, and renders them like the namespace lab."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from repo_paths import REPO_ROOT

from scanner.lab import content, netns, supervisor
from scanner.lab.service import LAB_CONFIG_DIR, render_text
from scanner.lab.services import nfs


def run(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


COMPOSE = REPO_ROOT / "docker" / "docker-compose.yml"


def _compose_cmd() -> list[str]:
    if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed: run scripts/setup.sh")


def test_compose_config_is_valid() -> None:
    r = run([*_compose_cmd(), "-f", str(COMPOSE), "config", "-q"], timeout=60)
    assert r.returncode == 0, r.stderr


def test_compose_mounts_the_lab_config_files() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    mounted: set[Path] = set()
    for name, svc in doc["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0] if isinstance(vol, str) else vol["source"]
            if src in doc.get("volumes", {}):
                continue  # a named volume (the lab state), not a file of ours
            path = (COMPOSE.parent / src).resolve()
            assert path.exists(), (name, src)
            mounted.add(path)
        build = svc.get("build")
        if build:
            ctx_dir = COMPOSE.parent / (build if isinstance(build, str) else build["context"])
            df = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            assert (ctx_dir / df).is_file(), name
    # the content generator and every SMB/FTP/HTTP config template the namespace lab renders
    # are what compose mounts
    assert (REPO_ROOT / "scanner" / "lab" / "content.py").resolve() in mounted
    for sub in ("smb", "ftp", "http"):
        for f in (LAB_CONFIG_DIR / sub).iterdir():
            assert any(f.resolve() == m or m in f.resolve().parents for m in mounted), f


EXAMPLE = Path(content.RECORDING_EXAMPLE).name


def test_render_sh_matches_python_renderer(tmp_path: Path) -> None:
    """scanner/lab/data/render.sh (the images) renders templates as the namespace lab does."""
    templates = [p for sub in ("smb", "ftp", "http") for p in (LAB_CONFIG_DIR / sub).iterdir()]
    assert len(templates) >= 12
    for t in templates:
        text = t.read_text()
        names = set(re.findall(r"@@([A-Z0-9_]+)@@", text))
        values = {n: f"/v/{n.lower()}|&x" for n in names}
        r = subprocess.run([str(LAB_CONFIG_DIR / "render.sh"), str(t), str(tmp_path / "out")],
                           env={"PATH": os.environ["PATH"], **values}, capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 0, (t, r.stderr)
        assert (tmp_path / "out").read_text() == render_text(text, values), t
        if names:  # a missing variable is an error there too
            r = subprocess.run([str(LAB_CONFIG_DIR / "render.sh"), str(t), str(tmp_path / "o2")],
                               env={"PATH": os.environ["PATH"]}, capture_output=True,
                               text=True, timeout=10)
            assert r.returncode != 0, t


def _compose_names_of_smb_ftp_http() -> set[str]:
    from scanner.lab.services import ftp, http, smb

    return {*smb.INSTANCES, *ftp.INSTANCES, *http.NGINX_SITES, *http.EXTRA_AUTOINDEX,
            "http-apache", "http-lighttpd", "http-python"}


def test_compose_services_are_the_lab_daemons() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert _compose_names_of_smb_ftp_http() <= set(doc["services"])


def test_compose_entrypoints_serve_the_lab_configs(tmp_path: Path) -> None:
    """Run every compose service's entrypoint (same script, same config files as the images) in
    a fresh loopback-only namespace, with CFG/LAB pointing at the repo and a temp dir: each must
    come up on its container port; one real client check per protocol. (No Docker engine here;
    the binaries are the same Debian 12 packages the images install.)"""
    if os.geteuid() != 0:
        pytest.fail("needs root (a network namespace): run the test suite via scripts/test.sh")
    doc = yaml.safe_load(COMPOSE.read_text())
    ns = f"nasscan-dk{os.getpid()}"
    ctx = supervisor.LabContext(ns=ns, state=tmp_path)
    # like the image's volume: readable by the daemons' unprivileged users (pytest's tmp_path
    # is 0700)
    lab_dir = Path(tempfile.mkdtemp(prefix="nasscan-dk-", dir="/var/tmp"))
    lab_dir.chmod(0o755)
    env = {
        "PATH": supervisor.BASE_PATH, "LANG": "C", "CFG": str(LAB_CONFIG_DIR),
        "LAB": str(lab_dir), "SMB_INTERFACES": "lo",
        "CONTENT_PY_DIR": str(REPO_ROOT / "scanner" / "lab"),
    }

    def entry(name: str) -> list[str]:
        svc = doc["services"][name]
        df_dir = Path(svc["build"]["dockerfile"]).parent
        return ["sh", str(COMPOSE.parent / df_dir / "entrypoint.sh"), *svc["command"]]

    def in_ns(*argv: str) -> subprocess.CompletedProcess[str]:
        return run(["ip", "netns", "exec", ns, *argv])

    netns.create(ns)
    try:
        r = subprocess.run(ctx.ns_argv(entry("content")), env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert (lab_dir / "content" / content.RECORDING_EXAMPLE).is_file()
        checked = 0
        mine = _compose_names_of_smb_ftp_http()
        for name, svc in doc["services"].items():
            if name not in mine:
                continue  # lab B's services have their own test
            port = int(str(svc["ports"][0]).rsplit(":", 1)[1].split("/")[0])
            log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed below
            p = subprocess.Popen(ctx.ns_argv(entry(name)), env=env, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            try:
                v = supervisor.check_ready(
                    ctx, [(name, p.pid, [supervisor.Ready.tcp("127.0.0.1", port)])], 15.0)
                assert v[name]["ready"], (name, (tmp_path / f"{name}.log").read_text()[-2000:])
                if name == "smb-guest":
                    r = in_ns("smbclient", "//127.0.0.1/recordings", "-N", "-c", "ls 2019/03/*")
                    assert EXAMPLE in r.stdout, r.stdout + r.stderr
                elif name == "ftp-anon":
                    r = in_ns("curl", "-s", "--max-time", "5", "ftp://127.0.0.1/2019/03/")
                    assert EXAMPLE in r.stdout, r.stderr
                elif name == "http-nginx-443":
                    r = in_ns("curl", "-s", "--max-time", "5", "http://127.0.0.1:443/2019/03/")
                    assert EXAMPLE in r.stdout and "Index of" in r.stdout
                elif name == "http-webfs":
                    r = in_ns("curl", "-s", "--max-time", "5", "http://127.0.0.1/2019/03/")
                    assert EXAMPLE in r.stdout, r.stdout + r.stderr
                elif name == "http-https-auth":
                    r = in_ns("curl", "-sk", "--max-time", "5", "-o", "/dev/null", "-w",
                              "%{http_code}", "https://127.0.0.1/")
                    assert r.stdout == "401"
                checked += 1
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
                log.close()
        assert checked == len(mine) >= 15
    finally:
        for pid in netns.pids_in(ns):  # only processes inside the namespace this test made
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        netns.delete(ns)
        shutil.rmtree(lab_dir, ignore_errors=True)
    assert not netns.exists(ns)


IMAGE_DIRS = ("nfs", "rsync", "s3", "iscsi", "tftp")
IMAGE_SERVICES = {"nfs": "nfs", "rsync": "rsync", "s3-open": "s3", "s3-twin": "s3",
                  "iscsi": "iscsi", "tftp": "tftp"}


def _templates() -> list[Path]:
    return [p for d in IMAGE_DIRS for p in (LAB_CONFIG_DIR / d).rglob("*")
            if p.is_file() and "@@" in p.read_text(errors="replace")]


def test_render_sh_renders_image_templates_like_the_namespace_lab(tmp_path: Path) -> None:
    templates = _templates()
    names = {t.relative_to(LAB_CONFIG_DIR).as_posix() for t in templates}
    assert {"nfs/ganesha.conf", "nfs/only-addr.nft", "rsync/rsyncd.conf",
            "s3/nginx-twin.conf", "iscsi/targets.conf"} <= names
    for t in templates:
        text = t.read_text()
        variables = {n: f"/v/{n.lower()}" for n in set(re.findall(r"@@([A-Z0-9_]+)@@", text))}
        r = subprocess.run([str(LAB_CONFIG_DIR / "render.sh"), str(t), str(tmp_path / "out")],
                           env={"PATH": os.environ["PATH"], **variables}, capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 0, (t, r.stderr)
        assert (tmp_path / "out").read_text() == render_text(text, variables), t


def test_docker_entry_scripts_set_every_placeholder_they_render() -> None:
    """Each `/cfg/render.sh SRC` call in an entry script exports what SRC needs."""
    for script in LAB_CONFIG_DIR.glob("*/docker-run*.sh"):
        text = script.read_text()
        exported = set(re.findall(r"\b([A-Z]+)=", " ".join(
            line for line in text.splitlines() if line.startswith("export "))))
        for src in re.findall(r"/cfg/render\.sh /cfg/(\S+)", text):
            needed = set(re.findall(r"@@([A-Z0-9_]+)@@", (LAB_CONFIG_DIR / src).read_text()))
            assert needed <= exported, (script.name, src, needed - exported)
        for ref in re.findall(r"/cfg/([\w./-]+)", text):
            assert (LAB_CONFIG_DIR / ref).exists(), (script.name, ref)
        assert os.access(script, os.X_OK), script


def test_compose_builds_images_from_the_lab_config_files() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert set(IMAGE_SERVICES) <= set(services)
    for name, sub in IMAGE_SERVICES.items():
        svc = services[name]
        ports = [str(p) for p in svc.get("ports", [])]
        assert ports and all(p.startswith("127.0.0.1:") for p in ports), name
        build = svc["build"]
        dockerfile = COMPOSE.parent / build["context"] / build["dockerfile"]
        assert dockerfile.is_file() and dockerfile.parent == COMPOSE.parent / sub, name
        text = dockerfile.read_text()
        assert "\nCMD [" in text, name
        assert "ARG BASE=debian:bookworm-slim\nFROM ${BASE}\n" in text, name
        # the image runs the lab's own files from /cfg (the package data mounted read-only)
        assert f"/cfg/{sub}/" in text, name
        assert (LAB_CONFIG_DIR / sub).is_dir(), name
    # the anchor mounts the package data at /cfg read-only and the shared state (content) at /lab
    vols = services["nfs"]["volumes"]
    cfg = [str(v) for v in vols if str(v).endswith(":/cfg:ro")]
    assert len(cfg) == 1 and (COMPOSE.parent / cfg[0].split(":")[0]).resolve() == LAB_CONFIG_DIR
    assert any(str(v).startswith("lab-state:/lab") for v in vols)
    # NFS keeps its port numbers: rpcbind advertises them to clients
    nfs_ports = {str(p).split(":", 1)[1] for p in services["nfs"]["ports"]}
    assert {"111:111", "2049:2049", f"{nfs.MOUNT_PORT}:{nfs.MOUNT_PORT}"} <= nfs_ports
