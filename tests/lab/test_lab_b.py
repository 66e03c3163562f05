"""Lab part B: NFS, rsync, S3, iSCSI, TFTP reachable by real clients (positive and negative),
their manifest entries, and their docker compose services.

Lab tests (``@pytest.mark.lab``) run inside the lab namespace like every lab test
(``nasscan lab up && nasscan lab exec -- python -m pytest``; the session fixture ``lab`` from
tests/lab_fixtures.py checks that); ``lab_b`` additionally makes sure these five services are up
(idempotent) even when ``NASSCAN_LAB_ONLY`` selected others. Clients run with
``ip netns exec`` (a no-op switch when already inside).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from lab_fixtures import Lab as SessionLab
from repo_paths import REPO_ROOT

from scanner.lab import content, manifest, supervisor
from scanner.lab.service import (
    LAB_CONFIG_DIR,
    LAB_PASSWORD,
    LAB_USER,
    LabContext,
    render_text,
)
from scanner.lab.services import iscsi, nfs, rsync, s3, tftp

SERVICES = ["nfs", "rsync", "s3", "iscsi", "tftp"]
EXAMPLE = content.RECORDING_EXAMPLE  # 2019/03/<personnummer>_<phone>_<time>.wav
EXAMPLE_NAME = EXAMPLE.rsplit("/", 1)[1]


@dataclass
class Lab:
    ns: str
    ctx: LabContext

    def run(
        self,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 30.0,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {"PATH": supervisor.BASE_PATH, "LANG": "C", "HOME": "/root", **(env or {})}
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture(scope="module")
def lab_b(lab: SessionLab) -> Lab:
    ctx = supervisor.up(lab.ns, SERVICES)
    return Lab(lab.ns, ctx)


# ------------------------------------------------------------------ NFS


@pytest.mark.lab
def test_nfs_rpcbind_lists_nfs_and_mount(lab_b: Lab) -> None:
    r = lab_b.run(["rpcinfo", "-p", nfs.ADDR])
    assert r.returncode == 0, r.stderr
    progs = {tuple(line.split()[:3]) for line in r.stdout.splitlines()[1:]}
    for vers in ("3", "4"):
        assert ("100003", vers, "tcp") in progs
    assert ("100005", "3", "tcp") in progs


@pytest.mark.lab
def test_nfs_export_list_shows_both_exports(lab_b: Lab) -> None:
    r = lab_b.run(["showmount", "-e", nfs.ADDR])
    assert r.returncode == 0, r.stderr
    exports = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[1:]}
    shapes = {pseudo: "(everyone)" for _, pseudo in nfs.SHAPE_EXPORTS.values()}  # crawl shapes
    assert exports == {nfs.OPEN_EXPORT: "(everyone)", nfs.SECURE_EXPORT: "(everyone)", **shapes}


@pytest.mark.parametrize("version", ["3", "4"])
@pytest.mark.lab
def test_nfs_open_export_lists_recordings(lab_b: Lab, version: str) -> None:
    r = lab_b.run(["nfs-ls", f"nfs://{nfs.ADDR}{nfs.OPEN_EXPORT}/2019/03?version={version}"])
    assert r.returncode == 0, r.stderr
    assert EXAMPLE_NAME in r.stdout


@pytest.mark.parametrize("version", ["3", "4"])
@pytest.mark.lab
def test_nfs_krb5_export_refused(lab_b: Lab, version: str) -> None:
    r = lab_b.run(["nfs-ls", f"nfs://{nfs.ADDR}{nfs.SECURE_EXPORT}?version={version}"])
    assert r.returncode != 0
    assert "payroll" not in r.stdout
    if version == "4":
        assert "NFS4ERR_WRONGSEC" in r.stderr


@pytest.mark.lab
def test_nfs_answers_on_its_address_only(lab_b: Lab) -> None:
    """rpcbind and ganesha bind the wildcard; the lab's nft rules keep them to 127.0.10.31."""
    for other in (rsync.ADDR, "127.0.0.1"):
        assert lab_b.run(["rpcinfo", "-p", other]).returncode != 0
        assert lab_b.run(["nfs-ls", f"nfs://{other}{nfs.OPEN_EXPORT}"]).returncode != 0


# ------------------------------------------------------------------ rsync


@pytest.mark.lab
def test_rsync_lists_modules_but_not_hidden(lab_b: Lab) -> None:
    r = lab_b.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/"])
    assert r.returncode == 0, r.stderr
    modules = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
    assert modules == {"recordings", "private"}


@pytest.mark.lab
def test_rsync_recordings_download(lab_b: Lab, tmp_path: Path) -> None:
    dest = tmp_path / "got"
    r = lab_b.run(["rsync", "-r", "--contimeout=5", f"rsync://{rsync.ADDR}/recordings/2019/03/",
                 str(dest)])
    assert r.returncode == 0, r.stderr
    assert (dest / EXAMPLE_NAME).read_bytes() == (lab_b.ctx.content / EXAMPLE).read_bytes()


@pytest.mark.lab
def test_rsync_private_asks_a_password(lab_b: Lab) -> None:
    r = lab_b.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/private/"])
    assert r.returncode != 0
    assert "auth failed on module private" in r.stderr
    wrong = lab_b.run(["rsync", "--contimeout=5", f"rsync://{LAB_USER}@{rsync.ADDR}/private/"],
                    env={"RSYNC_PASSWORD": "wrong-password"})
    assert wrong.returncode != 0
    assert "auth failed" in wrong.stderr
    right = lab_b.run(["rsync", "--contimeout=5", f"rsync://{LAB_USER}@{rsync.ADDR}/private/"],
                    env={"RSYNC_PASSWORD": LAB_PASSWORD})
    assert right.returncode == 0, right.stderr
    assert "staff_contacts.csv" in right.stdout


@pytest.mark.lab
def test_rsync_hidden_readable_by_name(lab_b: Lab) -> None:
    r = lab_b.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/hidden/"])
    assert r.returncode == 0, r.stderr
    assert "notes.txt" in r.stdout


@pytest.mark.lab
def test_rsync_unknown_module_refused(lab_b: Lab) -> None:
    r = lab_b.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/nosuchmodule/"])
    assert r.returncode != 0
    assert "Unknown module" in r.stderr


# ------------------------------------------------------------------ S3


def _curl(lab_b: Lab, url: str) -> tuple[int, str]:
    r = lab_b.run(["curl", "-s", "--max-time", "10", "-w", "\n%{http_code}", url])
    assert r.returncode == 0, r.stderr
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


@pytest.mark.lab
def test_s3_open_lists_buckets_and_objects_unsigned(lab_b: Lab) -> None:
    base = f"http://{s3.OPEN_ADDR}:{s3.PORT}"
    code, body = _curl(lab_b, base + "/")
    assert code == 200
    for bucket in s3.BUCKETS:
        assert f"<Name>{bucket}</Name>" in body
    code, body = _curl(lab_b, base + "/call-recordings?prefix=2019/03/")
    assert code == 200
    assert f"<Key>{EXAMPLE}</Key>" in body
    code, body = _curl(lab_b, base + "/website-assets")
    assert code == 200 and "<Key>index.html</Key>" in body and "2019/" not in body


@pytest.mark.lab
def test_s3_open_object_readable_unsigned(lab_b: Lab, tmp_path: Path) -> None:
    out = tmp_path / "rec.wav"
    r = lab_b.run(["curl", "-s", "-f", "--max-time", "10", "-o", str(out),
                 f"http://{s3.OPEN_ADDR}:{s3.PORT}/call-recordings/{EXAMPLE}"])
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == (lab_b.ctx.content / EXAMPLE).read_bytes()


@pytest.mark.lab
def test_s3_twin_refuses_unsigned(lab_b: Lab) -> None:
    base = f"http://{s3.TWIN_ADDR}:{s3.PORT}"
    for path in ("/", "/call-recordings", f"/call-recordings/{EXAMPLE}"):
        code, body = _curl(lab_b, base + path)
        assert code == 403
        assert "<Code>AccessDenied</Code>" in body
        assert "Key>" not in body


@pytest.mark.lab
def test_s3_clients_unsigned_boto3(lab_b: Lab) -> None:
    """boto3 with UNSIGNED config: the open server lists, the twin raises AccessDenied."""
    code = (
        "import json, sys, boto3, botocore\n"
        "from botocore import UNSIGNED\n"
        "from botocore.config import Config\n"
        "out = {}\n"
        "for name, url in (('open', sys.argv[1]), ('twin', sys.argv[2])):\n"
        "    c = boto3.client('s3', endpoint_url=url, region_name='us-east-1',\n"
        "        config=Config(signature_version=UNSIGNED, retries={'max_attempts': 1}))\n"
        "    try:\n"
        "        r = c.list_objects_v2(Bucket='call-recordings', MaxKeys=5)\n"
        "        out[name] = [o['Key'] for o in r.get('Contents', [])]\n"
        "    except botocore.exceptions.ClientError as e:\n"
        "        out[name] = e.response['Error']['Code']\n"
        "print(json.dumps(out))\n"
    )
    r = lab_b.run([sys.executable, "-c", code, f"http://{s3.OPEN_ADDR}:{s3.PORT}",
                 f"http://{s3.TWIN_ADDR}:{s3.PORT}"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["open"]) == 5 and all(k.startswith("20") for k in out["open"])
    assert out["twin"] == "AccessDenied"


# ------------------------------------------------------------------ iSCSI

# A minimal iSCSI Login (security stage) in the namespace: prints the target's answer.
_ISCSI_LOGIN = r"""
import json, socket, struct, sys
host, port, target, auth = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
kv = [("InitiatorName", "iqn.2026-01.lab.nasscan:tester"), ("SessionType", "Normal"),
      ("TargetName", target), ("AuthMethod", auth)]
data = b"".join(f"{k}={v}".encode() + b"\0" for k, v in kv)
bhs = bytearray(48)
bhs[0] = 0x43                      # immediate, Login Request
bhs[1] = 0x81                      # Transit, CSG=security, NSG=operational
bhs[5:8] = len(data).to_bytes(3, "big")
bhs[8:14] = bytes.fromhex("00023d000001")
struct.pack_into(">I", bhs, 16, 1)  # ITT
struct.pack_into(">I", bhs, 24, 1)  # CmdSN
with socket.create_connection((host, port), timeout=5) as s:
    s.sendall(bytes(bhs) + data + b"\0" * (-len(data) % 4))
    buf = b""
    for _ in range(64):
        if len(buf) >= 48 and len(buf) >= 48 + buf[4] * 4 + int.from_bytes(buf[5:8], "big"):
            break
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
start = 48 + buf[4] * 4
body = buf[start:start + int.from_bytes(buf[5:8], "big")]
keys = dict(p.split("=", 1) for p in body.decode().split("\0") if "=" in p)
print(json.dumps({"opcode": buf[0] & 0x3F, "class": buf[36], "detail": buf[37], "keys": keys}))
"""


def _iscsi_login(lab_b: Lab, target: str, auth: str) -> dict[str, object]:
    r = lab_b.run([sys.executable, "-c", _ISCSI_LOGIN, iscsi.ADDR, str(iscsi.PORT), target, auth])
    assert r.returncode == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    assert out["opcode"] == 0x23  # Login Response
    return out


@pytest.mark.lab
def test_iscsi_tgtadm_shows_targets(lab_b: Lab) -> None:
    # tgtd's control socket lives in the lab's private /run: bind its tgtd dir for tgtadm.
    tgtd_dir = lab_b.ctx.state / "iscsi" / "run" / "tgtd"
    script = (f'mount --bind "{tgtd_dir}" /run/tgtd && exec tgtadm -C {iscsi.CONTROL_PORT} '
              "--lld iscsi --op show --mode target")
    Path("/run/tgtd").mkdir(exist_ok=True)
    r = lab_b.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    assert r.returncode == 0, r.stderr
    assert f": {iscsi.OPEN_IQN}" in r.stdout and f": {iscsi.CHAP_IQN}" in r.stdout
    chap_part = r.stdout.split(f": {iscsi.CHAP_IQN}", 1)[1]
    open_part = r.stdout.split(f": {iscsi.OPEN_IQN}", 1)[1].split("Target ", 1)[0]
    assert iscsi.CHAP_USER in chap_part.split("ACL information")[0]
    assert iscsi.CHAP_USER not in open_part


@pytest.mark.lab
def test_iscsi_open_target_login_without_chap(lab_b: Lab) -> None:
    out = _iscsi_login(lab_b, iscsi.OPEN_IQN, "None")
    assert (out["class"], out["detail"]) == (0, 0)
    assert out["keys"] == {"TargetPortalGroupTag": "1", "AuthMethod": "None"}


@pytest.mark.lab
def test_iscsi_chap_target_refuses_no_auth(lab_b: Lab) -> None:
    out = _iscsi_login(lab_b, iscsi.CHAP_IQN, "None")
    assert (out["class"], out["detail"]) == (2, 1)  # initiator error: authentication failure
    offered = _iscsi_login(lab_b, iscsi.CHAP_IQN, "CHAP,None")
    assert offered["class"] == 0
    assert offered["keys"]["AuthMethod"] == "CHAP"  # type: ignore[index]


@pytest.mark.lab
def test_iscsi_unknown_target_not_found(lab_b: Lab) -> None:
    out = _iscsi_login(lab_b, "iqn.2026-01.lab_b.nasscan:nosuch", "None")
    assert (out["class"], out["detail"]) == (2, 3)  # target not found


@pytest.mark.lab
def test_iscsi_nmap_sees_both_targets(lab_b: Lab) -> None:
    r = lab_b.run(["nmap", "-n", "-Pn", "-p", str(iscsi.PORT), "--script", "iscsi-info",
                 iscsi.ADDR], timeout=60)
    assert r.returncode == 0, r.stderr
    assert iscsi.OPEN_IQN in r.stdout and iscsi.CHAP_IQN in r.stdout


# ------------------------------------------------------------------ TFTP


@pytest.mark.parametrize("name", tftp.FILES)
@pytest.mark.lab
def test_tftp_get(lab_b: Lab, tmp_path: Path, name: str) -> None:
    dest = tmp_path / "got"
    r = lab_b.run(["tftp", tftp.ADDR, "-c", "get", name, str(dest)], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Error" not in r.stdout + r.stderr
    assert dest.read_bytes() == (LAB_CONFIG_DIR / "tftp" / "root" / name).read_bytes()


@pytest.mark.lab
def test_tftp_missing_file_and_escape_refused(lab_b: Lab, tmp_path: Path) -> None:
    for name in ("no-such-file", "../../../etc/passwd"):
        dest = tmp_path / "got"
        r = lab_b.run(["tftp", tftp.ADDR, "-c", "get", name, str(dest)], cwd=tmp_path)
        assert "Error code" in r.stdout + r.stderr
        assert not dest.exists() or dest.stat().st_size == 0
        dest.unlink(missing_ok=True)


@pytest.mark.lab
def test_lab_b_state_dirs_private(lab_b: Lab) -> None:
    """rpcbind's and tgtd's run files are in this lab's own /run copy, not the machine's."""
    run = lab_b.ctx.state / "nfs" / "run"
    assert (run / "rpcbind.sock").is_socket()
    assert (lab_b.ctx.state / "iscsi" / "run" / "tgtd" / f"socket.{iscsi.CONTROL_PORT}").exists()
    assert os.stat(lab_b.ctx.state / "rsync" / "rsyncd.secrets").st_mode & 0o077 == 0



# ------------------------------------------------------------------ crash and restart


def _children(pid: int) -> dict[int, str]:
    out: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                out[int(child)] = Path(f"/proc/{child}/comm").read_text().strip()
    return out


@pytest.mark.lab
@pytest.mark.parametrize(("daemon", "victim"), [("nfs", "ganesha.nfsd"), ("nfs", "rpcbind"),
                                                ("iscsi", "tgtd")])
def test_unit_exits_when_a_daemon_crashes_and_up_restarts_it(
    lab_b: Lab, daemon: str, victim: str
) -> None:
    """run-nfs.sh / run-tgtd.sh exit when one of their daemons dies, so `up` sees the crash."""
    recs = {r.name: r for r in supervisor.load_records(lab_b.ctx)}
    unit = recs[daemon]
    assert unit.alive()
    kids = {pid for pid, comm in _children(unit.pid).items() if comm == victim}
    assert len(kids) == 1, _children(unit.pid)
    os.kill(kids.pop(), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while unit.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not unit.alive()
    supervisor.up(lab_b.ns, [daemon])
    again = {r.name: r for r in supervisor.load_records(lab_b.ctx)}[daemon]
    assert again.alive() and again.pid != unit.pid
    if daemon == "nfs":
        r = lab_b.run(["showmount", "-e", nfs.ADDR])
        assert r.returncode == 0 and nfs.OPEN_EXPORT in r.stdout, r.stderr
    else:
        out = _iscsi_login(lab_b, iscsi.OPEN_IQN, "None")
        assert (out["class"], out["detail"]) == (0, 0)


# ------------------------------------------------------------------ manifest


def _resources(lab_b: Lab) -> dict[str, set[str]]:
    """What really exists at each of this part's manifest targets, asked with real clients."""
    exports = {line.split()[0]
               for line in lab_b.run(["showmount", "-e", nfs.ADDR]).stdout.splitlines()[1:]}
    modules = {line.split()[0] for line in lab_b.run(
        ["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/"]).stdout.splitlines() if line}
    if lab_b.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/hidden/"]).returncode == 0:
        modules.add("hidden")
    _, buckets = _curl(lab_b, f"http://{s3.OPEN_ADDR}:{s3.PORT}/")
    targets = {t for t, auth in ((iscsi.OPEN_IQN, "None"), (iscsi.CHAP_IQN, "CHAP,None"))
               if _iscsi_login(lab_b, t, auth)["class"] == 0}
    return {
        "nfs": exports,
        "rsync": modules,
        "s3-open": {b for b in s3.BUCKETS if f"<Name>{b}</Name>" in buckets},
        "s3-twin": set(),
        "iscsi": targets,
        "tftp": set(),
    }


def _example_finding(pattern: dict[str, object]) -> dict[str, object]:
    """A concrete finding satisfying a manifest pattern (first choice of every list)."""
    return {k: (v[0] if isinstance(v, list) else v) for k, v in pattern.items()
            if k != "listing_includes"}


@pytest.mark.lab
def test_manifest_entries_match_the_running_lab(lab_b: Lab) -> None:
    m = manifest.load().for_services(SERVICES)
    assert {t.name for t in m.targets} == {"nfs", "rsync", "s3-open", "s3-twin", "iscsi", "tftp"}
    real = _resources(lab_b)
    assert real["rsync"] == {"recordings", "private", "hidden"}
    assert real["iscsi"] == {iscsi.OPEN_IQN, iscsi.CHAP_IQN}
    for t in m.targets:
        # the port answers (TCP connect / a TFTP error packet for a missing file)
        if t.transport == "tcp":
            r = lab_b.run(["bash", "-c", f"exec 3<>/dev/tcp/{t.host}/{t.port}"], timeout=10)
            assert r.returncode == 0, (t.name, r.stderr)
        else:
            r = lab_b.run(["tftp", t.host, "-c", "get", "no-such-file", "/dev/null"], timeout=10)
            assert "File not found" in r.stdout + r.stderr
        # every resource the manifest names (must or must_not) really exists there
        for p in [*t.must, *t.must_not]:
            if "resource" in p:
                assert p["resource"] in real[t.name], (t.name, p)
        # no must_not pattern forbids what a must pattern requires
        for good in t.must:
            example = _example_finding(good)
            assert manifest.matches(good, example)
            assert not any(manifest.matches(bad, example) for bad in t.must_not), (t.name, good)


# ------------------------------------------------------------------ docker compose (no lab)

COMPOSE = REPO_ROOT / "docker" / "docker-compose.yml"
PART_B_DIRS = ("nfs", "rsync", "s3", "iscsi", "tftp")
PART_B_COMPOSE = {"nfs": "nfs", "rsync": "rsync", "s3-open": "s3", "s3-twin": "s3",
                  "iscsi": "iscsi", "tftp": "tftp"}


def _templates() -> list[Path]:
    return [p for d in PART_B_DIRS for p in (LAB_CONFIG_DIR / d).rglob("*")
            if p.is_file() and "@@" in p.read_text(errors="replace")]


def test_render_sh_renders_part_b_templates_like_the_namespace_lab(tmp_path: Path) -> None:
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


def test_compose_runs_part_b_from_the_lab_config_files() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert set(PART_B_COMPOSE) <= set(services)
    for name, sub in PART_B_COMPOSE.items():
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
