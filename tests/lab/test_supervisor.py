"""The lab's own machinery: rendering, preflight, the namespace guard, ``up``/``down``/``exec``
(recovery, nothing left behind, clear errors), daemons that crash, private state dirs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_clients import ClientLab, iscsi_login
from lab_fixtures import Lab
from repo_paths import REPO_ROOT

from scanner.lab import netns, supervisor
from scanner.lab.service import render_text
from scanner.lab.services import iscsi, nfs


def run(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


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
    smb_tests = Path(__file__).resolve().with_name("test_smb_service.py")
    test_id = f"{smb_tests.relative_to(REPO_ROOT)}::test_smb1_only_server"
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


@pytest.mark.lab
def test_state_dirs_private(client_lab: ClientLab) -> None:
    """rpcbind's and tgtd's run files are in this lab's own /run copy, not the machine's."""
    run = client_lab.ctx.state / "nfs" / "run"
    assert (run / "rpcbind.sock").is_socket()
    tgtd = client_lab.ctx.state / "iscsi" / "run" / "tgtd"
    assert (tgtd / f"socket.{iscsi.CONTROL_PORT}").exists()
    assert os.stat(client_lab.ctx.state / "rsync" / "rsyncd.secrets").st_mode & 0o077 == 0


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
    client_lab: ClientLab, daemon: str, victim: str
) -> None:
    """run-nfs.sh / run-tgtd.sh exit when one of their daemons dies, so `up` sees the crash."""
    recs = {r.name: r for r in supervisor.load_records(client_lab.ctx)}
    unit = recs[daemon]
    assert unit.alive()
    kids = {pid for pid, comm in _children(unit.pid).items() if comm == victim}
    assert len(kids) == 1, _children(unit.pid)
    os.kill(kids.pop(), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while unit.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not unit.alive()
    supervisor.up(client_lab.ns, [daemon])
    again = {r.name: r for r in supervisor.load_records(client_lab.ctx)}[daemon]
    assert again.alive() and again.pid != unit.pid
    if daemon == "nfs":
        r = client_lab.run(["showmount", "-e", nfs.ADDR])
        assert r.returncode == 0 and nfs.OPEN_EXPORT in r.stdout, r.stderr
    else:
        out = iscsi_login(client_lab, iscsi.OPEN_IQN, "None")
        assert (out["class"], out["detail"]) == (0, 0)
