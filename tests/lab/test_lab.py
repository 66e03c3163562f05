"""The lab's own tests: content, manifest, compose file (no lab needed), and every SMB/FTP/HTTP
service checked with a real client, positive and negative (inside the lab namespace)."""

from __future__ import annotations

import contextlib
import ftplib
import gzip
import io
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from lab_fixtures import Lab
from repo_paths import REPO_ROOT

from scanner.lab import content, manifest, netns, supervisor
from scanner.lab.service import LAB_CONFIG_DIR, LAB_PASSWORD, LAB_USER, render_text
from scanner.models import Access, Authentication, Encryption, Entry, Finding, Kind, Listing

USERPASS = f"{LAB_USER}%{LAB_PASSWORD}"


def run(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------ content (no lab)


def test_content_is_deterministic_and_synthetic() -> None:
    a, b = content.files(), content.files()
    assert [(f.path, f.data, f.mtime) for f in a] == [(f.path, f.data, f.mtime) for f in b]
    paths = [f.path for f in a]
    assert content.RECORDING_EXAMPLE in paths
    assert "backups/db_backup_2019.sql.gz" in paths and "readme.txt" in paths
    assert "logo.png" in paths
    recs = [f for f in a if re.match(r"^\d{4}/\d{2}/", f.path)]
    assert len(recs) >= 30
    assert any(f.path.endswith(".mp3") for f in recs) and any(f.path.endswith(".wav") for f in recs)
    for f in recs:
        pnr, phone, stamp = Path(f.path).stem.split("_")
        assert content.luhn_valid(pnr), pnr
        assert re.fullmatch(r"07\d{8}", phone)
        assert f.path.startswith(f"{stamp[:4]}/{stamp[4:6]}/")
        if f.path.endswith(".wav"):
            with wave.open(io.BytesIO(f.data)) as w:
                assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
                assert w.getnframes() > 0
        else:
            assert f.data.startswith(b"ID3") and b"\xff\xfb" in f.data
    sql = gzip.decompress(next(f for f in a if f.path.endswith(".sql.gz")).data)
    assert sql.startswith(b"-- dump") and b"INSERT INTO calls" in sql
    assert next(f for f in a if f.path == "logo.png").data.startswith(b"\x89PNG\r\n\x1a\n")


def test_luhn() -> None:
    assert content.luhn_valid("19790312-2393")
    assert content.luhn_valid("790312-2393")
    assert not content.luhn_valid("19790312-2391")
    assert not content.luhn_valid("1979031-2393")


@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.integers(0, 9),
       st.integers(1, 9))
def test_luhn_property(nine: str, pos: int, delta: int) -> None:
    number = nine + str(content.luhn_digit(nine))
    assert content.luhn_valid(number)
    # any single-digit change is detected (the point of the checksum)
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1:]
    assert not content.luhn_valid(changed)


def test_generate_writes_tree(tmp_path: Path) -> None:
    written = content.generate(tmp_path / "c")
    again = content.generate(tmp_path / "c")
    assert written == again
    f = tmp_path / "c" / content.RECORDING_EXAMPLE
    assert f.is_file() and (f.stat().st_mode & 0o777) == 0o644
    assert sorted(p.relative_to(tmp_path / "c").as_posix() for p in written) == sorted(
        x.path for x in content.files()
    )


# ------------------------------------------------------------------ manifest (no lab)


def test_manifest_loads_and_names_are_unique() -> None:
    m = manifest.load()
    names = [t.name for t in m.targets]
    assert len(names) == len(set(names))
    for svc in ("smb", "ftp", "http"):
        assert m.for_services([svc]).targets, svc
    assert m.by_name("http-nginx-443").port == 443
    for t in m.targets:
        assert netns.LAB_NET.overlaps(netns.LAB_NET) and netns.check_address(t.host)


def _finding(**kw: object) -> Finding:
    base: dict[str, object] = {"host": "127.0.10.1", "port": 445, "protocol": "smb", "title": "t"}
    base.update(kw)
    return Finding.model_validate(base)


def test_manifest_check_catches_missing_and_forbidden() -> None:
    m = manifest.load().for_services(["smb"])
    guest = m.by_name("smb-guest")
    good = [
        _finding(kind=Kind.UNAUTHENTICATED_ACCESS, resource="recordings",
                 authentication=Authentication.GUEST, access=Access.LIST,
                 listing=Listing(entries=[Entry(path="2019", is_dir=True)])),
        _finding(kind=Kind.SIGNING_NOT_REQUIRED),
        _finding(kind=Kind.CLEARTEXT_TRANSPORT, encryption=Encryption.NONE),
    ]
    only_guest = manifest.Manifest([guest])
    assert manifest.check(only_guest, good) == []
    # as JSON dicts too (what a report file holds)
    assert manifest.check(only_guest, [json.loads(f.model_dump_json()) for f in good]) == []
    # missing: no signing finding
    assert any("missing" in p for p in manifest.check(only_guest, good[::2]))
    # forbidden: the locked share reported as open
    bad = [*good, _finding(kind=Kind.UNAUTHENTICATED_ACCESS, resource="/locked/",
                           authentication=Authentication.GUEST)]
    problems = manifest.check(only_guest, bad)
    assert len(problems) == 1 and "forbidden" in problems[0] and "locked" in problems[0]
    # a listing that lacks the recordings tree does not satisfy listing_includes
    empty = [_finding(kind=Kind.UNAUTHENTICATED_ACCESS, resource="recordings",
                      authentication=Authentication.GUEST, access=Access.LIST,
                      listing=Listing(entries=[Entry(path="readme.txt")])), *good[1:]]
    assert any("missing" in p for p in manifest.check(only_guest, empty))
    # service detection
    assert manifest.check(only_guest, good, services=[]) == [
        "smb-guest 127.0.10.1:445: service not detected"]
    assert manifest.check(
        only_guest, good, services=[{"host": "127.0.10.1", "port": 445, "protocol": "smb"}]) == []


def test_manifest_rejects_bad_patterns(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"service": "x", "targets": [
        {"name": "a", "host": "127.0.10.99", "port": 1, "must": [{"kind": "nonsense"}]}]}))
    with pytest.raises(ValueError, match="unknown kind"):
        manifest.load(tmp_path)


def test_render_text_requires_every_placeholder() -> None:
    assert render_text("a @@X@@ b", {"X": "1"}) == "a 1 b"
    with pytest.raises(KeyError):
        render_text("@@MISSING@@", {})


def test_preflight_names_missing_programs() -> None:
    class Fake(supervisor.LabService):
        name = "fake"
        executables = ("definitely-not-installed-nasscan",)
        packages = ("fake-pkg",)

        def prepare(self, ctx: supervisor.LabContext) -> list[supervisor.Daemon]:
            return []

    with pytest.raises(netns.LabError) as e:
        supervisor.preflight([Fake()])
    msg = str(e.value)
    assert "definitely-not-installed-nasscan" in msg and "fake-pkg" in msg
    assert "scripts/setup.sh" in msg


def test_namespace_address_guard() -> None:
    with pytest.raises(netns.LabError):
        netns.check_address("10.0.0.1")
    with pytest.raises(netns.LabError):
        netns.check_address("127.0.11.1")
    with pytest.raises(netns.LabError):
        netns.ns_name("bad name; rm -rf /")


# ------------------------------------------------------------------ docker compose (no lab)

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


# ------------------------------------------------------------------ SMB (lab)


def smbclient(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["smbclient", target, *args])


@pytest.mark.lab
def test_smb_guest_server(lab: Lab) -> None:
    r = smbclient("-L", "//127.0.10.1", "-N", "-g")
    assert r.returncode == 0, r.stderr
    shares = {line.split("|")[1] for line in r.stdout.splitlines() if line.startswith("Disk|")}
    assert shares == {"recordings", "locked", "staff"}
    # the guest can list the recordings
    r = smbclient("//127.0.10.1/recordings", "-N", "-c", "ls 2019/03/*")
    assert r.returncode == 0, r.stderr + r.stdout
    assert Path(content.RECORDING_EXAMPLE).name in r.stdout
    # any unknown user becomes a guest (map to guest = Bad User)
    r = smbclient("//127.0.10.1/recordings", "-U", "nosuchuser%whatever", "-c", "ls")
    assert r.returncode == 0 and "2019" in r.stdout, r.stderr + r.stdout
    # `locked`: the guest connects but cannot list
    r = smbclient("//127.0.10.1/locked", "-N", "-c", "ls")
    assert "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr
    assert "salaries" not in r.stdout
    # `staff`: user only
    r = smbclient("//127.0.10.1/staff", "-N", "-c", "ls")
    assert r.returncode != 0 and "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr
    r = smbclient("//127.0.10.1/staff", "-U", USERPASS, "-c", "ls")
    assert r.returncode == 0 and "handbook.txt" in r.stdout, r.stderr + r.stdout


@pytest.mark.lab
def test_smb1_only_server(lab: Lab) -> None:
    r = smbclient("//127.0.10.2/public", "-N", "-m", "NT1", "--option=client min protocol=NT1",
                  "-c", "ls")
    assert r.returncode == 0 and "2019" in r.stdout, r.stderr + r.stdout
    r = smbclient("//127.0.10.2/public", "-N", "-c", "ls")  # SMB2+ client
    assert r.returncode != 0 and "2019" not in r.stdout


@pytest.mark.lab
def test_smb_secure_twin(lab: Lab) -> None:
    r = smbclient("//127.0.10.3/secure", "-N", "-c", "ls")
    assert r.returncode != 0 and "ACCESS_DENIED" in r.stdout + r.stderr
    r = smbclient("//127.0.10.3/secure", "-U", "nosuchuser%whatever", "-c", "ls")
    assert r.returncode != 0 and "LOGON_FAILURE" in r.stdout + r.stderr
    # SMB 3.0.2 is below the twin's minimum
    r = smbclient("//127.0.10.3/secure", "-U", USERPASS, "-m", "SMB3_02", "-c", "ls")
    assert r.returncode != 0
    r = smbclient("//127.0.10.3/secure", "-U", USERPASS, "--client-protection=encrypt", "-c", "ls")
    assert r.returncode == 0 and "handbook.txt" in r.stdout, r.stderr + r.stdout


# ------------------------------------------------------------------ FTP (lab)


def _anon_list(host: str, port: int) -> list[str]:
    f = ftplib.FTP()
    f.connect(host, port, timeout=5)
    try:
        f.login()
        return f.nlst("2019/03")
    finally:
        f.close()


@pytest.mark.lab
@pytest.mark.parametrize("port", [21, 2121])
def test_ftp_anonymous(lab: Lab, port: int) -> None:
    names = _anon_list("127.0.10.11", port)
    assert any(n.endswith(Path(content.RECORDING_EXAMPLE).name) for n in names)


@pytest.mark.lab
@pytest.mark.parametrize("host", ["127.0.10.12", "127.0.10.13"])
def test_ftp_no_anonymous_on_twins(lab: Lab, host: str) -> None:
    with pytest.raises(ftplib.error_perm, match="530"):
        _anon_list(host, 21)


@pytest.mark.lab
def test_ftp_local_user_plaintext(lab: Lab) -> None:
    f = ftplib.FTP()
    f.connect("127.0.10.12", 21, timeout=5)
    f.login(LAB_USER, LAB_PASSWORD)
    assert "2019" in f.nlst()
    f.close()
    f = ftplib.FTP()
    f.connect("127.0.10.12", 21, timeout=5)
    with pytest.raises(ftplib.error_perm, match="530"):
        f.login(LAB_USER, "wrong")
    f.close()


@pytest.mark.lab
def test_ftps_requires_tls(lab: Lab) -> None:
    f = ftplib.FTP()
    f.connect("127.0.10.13", 21, timeout=5)
    with pytest.raises(ftplib.error_perm, match="530 Non-anonymous sessions must use encryption"):
        f.login(LAB_USER, LAB_PASSWORD)
    f.close()
    t = ftplib.FTP_TLS(context=ssl._create_unverified_context())
    t.connect("127.0.10.13", 21, timeout=5)
    t.auth()
    t.login(LAB_USER, LAB_PASSWORD)
    t.prot_p()
    assert "2019" in t.nlst()
    t.close()


# ------------------------------------------------------------------ HTTP (lab)


def curl(*args: str) -> tuple[int, str]:
    r = run(["curl", "-sk", "--max-time", "5", "-w", "\n%{http_code}", *args])
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


EXAMPLE = Path(content.RECORDING_EXAMPLE).name


@pytest.mark.lab
@pytest.mark.parametrize(
    "url,title",
    [
        ("http://127.0.10.21:443/2019/03/", "Index of /2019/03/"),
        ("http://127.0.10.22/2019/03/", "Index of /2019/03"),
        ("http://127.0.10.22/fancy/2019/03/", "Index of /fancy/2019/03"),
        ("http://127.0.10.23/2019/03/", "Index of /2019/03/"),
        ("http://127.0.10.24:8080/2019/03/", "Directory listing for /2019/03/"),
        ("http://127.0.10.25/2019/03/", "Index of /2019/03/"),
        ("http://127.0.10.25/dav/2019/03/", "Index of /dav/2019/03/"),
    ],
)
def test_http_listings(lab: Lab, url: str, title: str) -> None:
    code, body = curl(url)
    assert code == 200
    assert f"<title>{title}</title>" in body
    assert f'href="{EXAMPLE}"' in body


@pytest.mark.lab
def test_http_listing_styles(lab: Lab) -> None:
    assert "<ul><li>" in curl("http://127.0.10.22/")[1]  # apache plain <ul>
    assert "<table>" in curl("http://127.0.10.22/fancy/")[1]  # apache fancy table
    assert "<pre>" in curl("http://127.0.10.21:443/")[1]  # nginx autoindex
    # the 1177 server really is plain HTTP on 443: TLS fails
    r = run(["curl", "-sk", "--max-time", "5", "https://127.0.10.21/"])
    assert r.returncode != 0


@pytest.mark.lab
@pytest.mark.parametrize("path", ["/", "/dav/"])
def test_webdav_propfind_open(lab: Lab, path: str) -> None:
    code, body = curl("-X", "PROPFIND", "-H", "Depth: 1", f"http://127.0.10.25{path}")
    assert code == 207
    assert "<D:multistatus" in body and f"{path}2019/" in body


@pytest.mark.lab
def test_http_auth_twins(lab: Lab) -> None:
    assert curl("http://127.0.10.26/")[0] == 401
    assert curl("-u", f"{LAB_USER}:wrong", "http://127.0.10.26/")[0] == 401
    code, body = curl("-u", f"{LAB_USER}:{LAB_PASSWORD}", "http://127.0.10.26/")
    assert code == 200 and "2019/" in body
    assert curl("https://127.0.10.27/")[0] == 401
    code, body = curl("-u", f"{LAB_USER}:{LAB_PASSWORD}", "https://127.0.10.27/2019/03/")
    assert code == 200 and EXAMPLE in body
    # and no plain HTTP there
    assert run(["curl", "-s", "--max-time", "5", "http://127.0.10.27:443/"]).stdout.find(
        "Index of") == -1


@pytest.mark.lab
def test_http_index_of_trap(lab: Lab) -> None:
    root_code, root = curl("http://127.0.10.28/")
    code, other = curl("http://127.0.10.28/backups/db_backup_2019.sql.gz")
    assert root_code == code == 200
    assert root == other and "<title>Index of /</title>" in root
    assert "2019" not in root and ".wav" not in root


# ------------------------------------------------------------------ every manifest target (lab)


@pytest.mark.lab
@pytest.mark.parametrize("name", [t.name for t in manifest.load().targets])
def test_manifest_target_is_listening(lab: Lab, name: str) -> None:
    t = manifest.load().by_name(name)
    if t.service not in lab.services:
        pytest.fail(f"{t.service} not brought up (NASSCAN_LAB_ONLY={lab.services})")
    check = (supervisor.Ready.udp if t.transport == "udp" else supervisor.Ready.tcp)(t.host, t.port)
    assert supervisor._check_once(check), f"{name}: nothing on {check.label()}"


# ------------------------------------------------------------------ up / down lifecycle (lab)


def _lab_cli(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != netns.ENV_NS}
    return subprocess.run([sys.executable, "-m", "scanner.lab.cli", "--ns", ns, *args],
                          capture_output=True, text=True, timeout=90, env=env)


def _procs_in(ino: int) -> list[int]:
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                if os.stat(f"/proc/{e}/ns/net").st_ino == ino:
                    out.append(int(e))
            except OSError:
                pass
    return out


def _my_addresses() -> str:
    return run(["ip", "-o", "addr", "show"]).stdout


@pytest.mark.lab
def test_up_recovers_and_down_leaves_nothing(lab: Lab) -> None:
    ns = f"nasscan-t{os.getpid()}"
    addrs_before = _my_addresses()
    run(["ip", "netns", "add", ns])  # a stale namespace from a "crashed" run
    try:
        r = _lab_cli(ns, "up", "--only", "smb,ftp")
        assert r.returncode == 0, r.stderr
        ctx = supervisor.context(ns)
        recs = {x.name: x for x in supervisor.load_records(ctx)}
        assert {"smb-guest", "smb1", "smb-secure", "ftp-anon", "ftps"} <= set(recs)
        ino = netns.ns_inode(ns)
        assert ino is not None
        # share enumeration makes smbd spawn samba-dcerpcd in its own session
        r = run(["ip", "netns", "exec", ns, "smbclient", "-N", "-L", "//127.0.10.1"])
        assert "recordings" in r.stdout
        dcerpcd = Path(ctx.state / "smb" / "smb-guest" / "pid" / "samba-dcerpcd.pid")
        dcerpcd_pid = int(dcerpcd.read_text().split()[0])
        assert supervisor.proc_starttime(dcerpcd_pid) is not None
        # a daemon crashes: `up` again restarts it, leaves the others alone
        crashed = recs["ftp-anon"]
        os.kill(crashed.pid, signal.SIGKILL)
        r = _lab_cli(ns, "up", "--only", "smb,ftp")
        assert r.returncode == 0, r.stderr
        assert "1 started" in r.stdout
        recs2 = {x.name: x for x in supervisor.load_records(ctx)}
        assert recs2["ftp-anon"].pid != crashed.pid and recs2["smb1"].pid == recs["smb1"].pid
        # a daemon whose configuration changed is restarted by `up`
        rec_file = ctx.state / "pids" / "smb1.json"
        data = json.loads(rec_file.read_text())
        rec_file.write_text(json.dumps({**data, "fingerprint": "old-config"}))
        r = _lab_cli(ns, "up", "--only", "smb,ftp")
        assert r.returncode == 0 and "smb1: configuration changed" in r.stdout, r.stderr
        recs2 = {x.name: x for x in supervisor.load_records(ctx)}
        assert recs2["smb1"].pid != recs["smb1"].pid
        assert recs2["smb-guest"].pid == recs["smb-guest"].pid
        st = _lab_cli(ns, "status")
        assert st.returncode == 0, st.stdout + st.stderr
        assert st.stdout.count(" up ") == len(recs2)
        in_ns = _procs_in(ino)
        assert len(in_ns) > len(recs2)  # smbd/vsftpd children are in there too
        seen = {p: supervisor.proc_starttime(p) for p in
                {*in_ns, dcerpcd_pid, *(x.pid for x in recs2.values())}}
    finally:
        r = _lab_cli(ns, "down")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not netns.exists(ns)
    assert ns not in run(["ip", "netns", "list"]).stdout
    # every process that was in the namespace is gone (pid + start time: pids get reused; and
    # the namespace's inode number may already belong to someone else's new namespace)
    survivors = [p for p, st in seen.items() if st is not None and
                 supervisor.proc_starttime(p) == st]
    assert survivors == [], f"survived down: {survivors}"
    # nothing started later from our state dir either
    state = str(ctx.state)
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                cmd = Path(f"/proc/{e}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            assert state not in cmd or "pytest" in cmd, f"pid {e} still runs {cmd}"
    assert not ctx.state.exists()
    assert _my_addresses() == addrs_before
    # down again is harmless; status says not running
    assert _lab_cli(ns, "down").returncode == 0
    assert _lab_cli(ns, "status").returncode == 3


def test_exec_without_namespace_says_so() -> None:
    r = _lab_cli("nasscan-never-created", "exec", "--", "true")
    assert r.returncode == 2 and "nasscan lab up" in r.stderr


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


def _compose_names_of_lab_a() -> set[str]:
    from scanner.lab.services import ftp, http, smb

    return {*smb.INSTANCES, *ftp.INSTANCES, *http.NGINX_SITES, *http.EXTRA_AUTOINDEX,
            "http-apache", "http-lighttpd", "http-python"}


def test_compose_services_are_the_lab_daemons() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert _compose_names_of_lab_a() <= set(doc["services"])


def test_up_as_non_root_says_what_is_needed() -> None:
    if not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is needed for this test")
    r = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
         "scanner.lab.cli", "--ns", "nasscan-nonroot", "up", "--only", "smb"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )
    assert r.returncode == 2
    assert "needs root" in r.stderr and "scripts/setup.sh" in r.stderr
    assert not netns.exists("nasscan-nonroot")


@pytest.mark.parametrize("ns_env", [None, "nasscan-not-this-one"])
def test_lab_test_outside_namespace_fails_clearly(ns_env: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (netns.ENV_NS, "NASSCAN_LAB_ONLY")}
    if ns_env:
        env[netns.ENV_NS] = ns_env
    test_id = f"{Path(__file__).resolve().relative_to(REPO_ROOT)}::test_smb1_only_server"
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_id],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env=env,
    )
    assert r.returncode == 1, r.stdout[-2000:]
    assert f"ERROR {test_id}" in r.stdout
    assert "lab exec" in r.stdout
    assert "skipped" not in r.stdout


def test_up_unknown_service_is_an_error_before_anything_starts() -> None:
    r = _lab_cli("nasscan-unknown-svc", "up", "--only", "smb,nosuchservice")
    assert r.returncode == 2 and "unknown lab service(s): nosuchservice" in r.stderr
    assert not netns.exists("nasscan-unknown-svc")


@pytest.mark.lab
def test_exec_runs_inside_with_env_cwd_and_exit_code(lab: Lab, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != netns.ENV_NS}
    env["NASSCAN_PROBE_VAR"] = "kept"
    script = ('test "$NASSCAN_PROBE_VAR" = kept && test "$(pwd)" = "$1" && '
              'test "$NASSCAN_LAB_NS" = "$2" && exit 7')
    r = subprocess.run(
        [sys.executable, "-m", "scanner.lab.cli", "--ns", lab.ns, "exec", "--", "sh", "-c",
         script, "sh", str(tmp_path), lab.ns],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )
    assert r.returncode == 7, r.stderr
    # the command really is in the namespace: it sees the lab's addresses on lo
    r = subprocess.run(
        [sys.executable, "-m", "scanner.lab.cli", "--ns", lab.ns, "exec", "--", "ip", "-o",
         "addr", "show", "dev", "lo"], capture_output=True, text=True, timeout=60, env=env,
        cwd=REPO_ROOT)
    assert "127.0.10.1/32" in r.stdout and "127.0.10.21/32" in r.stdout
    links = run(["ip", "-o", "link", "show"]).stdout.strip().splitlines()
    assert len(links) == 1 and ": lo:" in links[0]  # lo is the namespace's only interface


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
        mine = _compose_names_of_lab_a()
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
