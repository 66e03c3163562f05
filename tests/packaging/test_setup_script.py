"""scripts/setup.sh leaves the host as it found it: its logic, run against fake system tools.

The script runs for real (bash, ``--lab --no-venv``) with ``apt-get``, ``dpkg``,
``dpkg-query``, ``systemctl``, ``update-rc.d`` and ``id`` replaced by small fakes on ``PATH``
and ``NASSCAN_SETUP_ROOT`` pointing at a scratch root (``usr/sbin/policy-rc.d``,
``run/systemd/system``, ``etc/init.d``). The fakes log their calls; the fake ``apt-get``
records what ``policy-rc.d`` said while it "installed". The real machine's own run of the
script is ``.ci/run`` -> ``scripts/test.sh`` on a fresh Debian 12 without systemd.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from repo_paths import REPO_ROOT

SETUP = REPO_ROOT / "scripts" / "setup.sh"

# the lab's Debian packages, as scripts/setup.sh lists them
_m = re.search(r"^LAB_DEBS=\(([^)]*)\)", SETUP.read_text(), re.M)
assert _m
LAB_DEBS = _m.group(1).split()

FAKES = {
    "id": 'echo 0\n',
    "apt-get": r'''
echo "$*" >> "$FAKE/apt.log"
[ "$1" = install ] || exit 0
p="$NASSCAN_SETUP_ROOT/usr/sbin/policy-rc.d"
seen="$FAKE/policy-during-install"
if [ -e "$p" ]; then cat "$p" > "$seen"; else echo ABSENT > "$seen"; fi
shift
for a in "$@"; do
  case $a in
    -*) ;;
    *) echo "$a" >> "$FAKE/db"; cat "$FAKE/deps/$a" >> "$FAKE/db" 2>/dev/null || true ;;
  esac
done
# a package whose maintainer script starts its daemon when policy-rc.d allows it
d="$NASSCAN_SETUP_ROOT/usr/sbin/vsftpd"
if [ -x "$p" ] && "$p" vsftpd start >/dev/null 2>&1 && [ -x "$d" ]; then
  setsid "$d" 300 </dev/null >/dev/null 2>&1 &
  echo $! > "$FAKE/vsftpd.pid"
fi
exit "${FAKE_APT_EXIT:-0}"
''',
    "dpkg": r'''
case $1 in
  -s) grep -qx "$2" "$FAKE/db" ;;
  -L) cat "$FAKE/files/$2" 2>/dev/null ;;
  *) exit 2 ;;
esac
''',
    "dpkg-query": r'''sort -u "$FAKE/db" | sed 's/^/ii  /' ''',
    "systemctl": r'''
echo "$*" >> "$FAKE/systemctl.log"
case $1 in is-active) exit 3 ;; esac
exit 0
''',
    "update-rc.d": r'''echo "$*" >> "$FAKE/update-rc.d.log"''',
}


@dataclass
class Host:
    root: Path
    fake: Path
    env: dict[str, str]

    @property
    def policy(self) -> Path:
        return self.root / "usr" / "sbin" / "policy-rc.d"

    def log(self, name: str) -> list[str]:
        f = self.fake / f"{name}.log"
        return f.read_text().splitlines() if f.exists() else []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(SETUP), *args], capture_output=True, text=True,
                              timeout=60, env=self.env)

    def ships(self, pkg: str, *paths: str) -> None:
        (self.fake / "files" / pkg).write_text("".join(f"{p}\n" for p in paths))


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    root, fake, bin_ = tmp_path / "root", tmp_path / "fake", tmp_path / "bin"
    for d in (root / "usr" / "sbin", root / "etc" / "init.d", fake / "files", fake / "deps",
              bin_):
        d.mkdir(parents=True)
    for name, body in FAKES.items():
        f = bin_ / name
        f.write_text("#!/bin/sh\n" + body)
        f.chmod(0o755)
    # everything the lab needs is installed but vsftpd, nginx and tftpd-hpa; nginx pulls
    # nginx-common
    missing = ("vsftpd", "nginx", "tftpd-hpa")
    (fake / "db").write_text("".join(f"{p}\n" for p in LAB_DEBS if p not in missing))
    (fake / "deps" / "nginx").write_text("nginx-common\n")
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "FAKE": str(fake), "NASSCAN_SETUP_ROOT": str(root),
           "LANG": "C"}
    h = Host(root=root, fake=fake, env=env)
    h.ships("vsftpd", "/lib/systemd/system/vsftpd.service", "/etc/init.d/vsftpd",
            f"{root}/usr/sbin/vsftpd", "/usr/share/doc/vsftpd/README")
    h.ships("nginx-common", "/lib/systemd/system/nginx.service", "/etc/init.d/nginx",
            "/lib/systemd/system/systemd-fake-helper.service")
    h.ships("nginx", f"{root}/usr/sbin/nginx")
    h.ships("tftpd-hpa", "/etc/init.d/tftpd-hpa")  # an init script and no unit of its own
    # already installed before: its service is the owner's business, never touched
    h.ships("apache2", "/lib/systemd/system/apache2.service", "/etc/init.d/apache2")
    yield h
    pid_file = fake / "vsftpd.pid"
    if pid_file.exists():  # a fake daemon the script failed to stop: ours, by PID
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_systemd_host_gets_new_services_disabled_and_policy_removed(host: Host) -> None:
    (host.root / "run" / "systemd" / "system").mkdir(parents=True)
    r = host.run("--lab", "--no-venv")
    assert r.returncode == 0, r.stderr
    install = [x for x in host.log("apt") if x.startswith("install")]
    assert len(install) == 1 and install[0].split()[-3:] == ["vsftpd", "nginx", "tftpd-hpa"]
    # apt-get ran under a policy-rc.d that forbids starting anything ...
    during = (host.fake / "policy-during-install").read_text()
    assert "exit 101" in during
    # ... which is gone afterwards
    assert not host.policy.exists()
    calls = host.log("systemctl")
    disabled = {c.split()[-1] for c in calls if c.startswith("disable --now")}
    # the dependency's unit too, and the unit systemd generates for an init script
    assert disabled == {"vsftpd.service", "nginx.service", "tftpd-hpa.service"}
    assert not any("apache2" in c or "systemd-fake-helper" in c for c in calls)
    checked = {c.split()[-1] for c in calls if c.startswith("is-active")}
    assert checked == disabled
    assert host.log("update-rc.d") == []


def test_existing_policy_is_used_and_left_unchanged(host: Host) -> None:
    (host.root / "run" / "systemd" / "system").mkdir(parents=True)
    original = "#!/bin/sh\n# the owner's policy\nexit 101\n"
    host.policy.write_text(original)
    host.policy.chmod(0o750)
    before = host.policy.stat()
    r = host.run("--lab", "--no-venv")
    assert r.returncode == 0, r.stderr
    assert (host.fake / "policy-during-install").read_text() == original
    after = host.policy.stat()
    assert host.policy.read_text() == original
    assert (after.st_mode, after.st_mtime_ns, after.st_ino) == (
        before.st_mode, before.st_mtime_ns, before.st_ino)


def test_failed_apt_get_still_removes_the_policy(host: Host) -> None:
    host.env["FAKE_APT_EXIT"] = "100"
    r = host.run("--lab", "--no-venv")
    assert r.returncode != 0
    assert "exit 101" in (host.fake / "policy-during-install").read_text()
    assert not host.policy.exists()


def test_nothing_missing_installs_nothing_and_writes_no_policy(host: Host) -> None:
    with (host.fake / "db").open("a") as db:
        db.write("vsftpd\nnginx\ntftpd-hpa\n")
    r = host.run("--lab", "--no-venv")
    assert r.returncode == 0, r.stderr
    assert host.log("apt") == [] and host.log("systemctl") == []
    assert not host.policy.exists() and not (host.fake / "policy-during-install").exists()


def test_scanner_layer_needs_no_debian_package(host: Host) -> None:
    r = host.run("--scanner", "--no-venv")
    assert r.returncode == 0, r.stderr
    assert host.log("apt") == [] and not host.policy.exists()


def test_without_systemd_init_scripts_are_disabled_and_a_started_daemon_stopped(
    host: Host,
) -> None:
    """No systemd (CI, containers): an existing permissive policy-rc.d lets the package start
    its daemon; setup.sh disables the init scripts and stops it, and the policy stays."""
    shutil.copy("/bin/sleep", host.root / "usr" / "sbin" / "vsftpd")
    (host.root / "usr" / "sbin" / "vsftpd").chmod(0o755)
    stop = host.root / "etc" / "init.d" / "vsftpd"
    stop.write_text(f'#!/bin/sh\n[ "$1" = stop ] && kill "$(cat {host.fake}/vsftpd.pid)"\n')
    stop.chmod(0o755)
    permissive = "#!/bin/sh\nexit 0\n"
    host.policy.write_text(permissive)
    host.policy.chmod(0o755)
    r = host.run("--lab", "--no-venv")
    assert r.returncode == 0, r.stderr
    pid = int((host.fake / "vsftpd.pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the daemon the install started is still running"
    assert sorted(host.log("update-rc.d")) == [
        "nginx disable", "tftpd-hpa disable", "vsftpd disable"]
    assert host.log("systemctl") == []
    assert host.policy.read_text() == permissive


def test_a_daemon_that_cannot_be_stopped_is_an_error(host: Host) -> None:
    shutil.copy("/bin/sleep", host.root / "usr" / "sbin" / "vsftpd")
    (host.root / "usr" / "sbin" / "vsftpd").chmod(0o755)
    host.policy.write_text("#!/bin/sh\nexit 0\n")  # permissive, and no init script to stop it
    host.policy.chmod(0o755)
    r = host.run("--lab", "--no-venv")
    assert r.returncode != 0
    assert "running outside the lab" in r.stderr and "/usr/sbin/vsftpd" in r.stderr


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_this_host_keeps_no_policy_of_ours() -> None:
    """After the real scripts/setup.sh ran on this machine (scripts/test.sh runs it first), its
    temporary policy-rc.d is gone: any /usr/sbin/policy-rc.d here is the owner's."""
    mark = re.search(r'^POLICY_MARK="([^"]+)"', SETUP.read_text(), re.M)
    assert mark
    policy = Path("/usr/sbin/policy-rc.d")
    assert not policy.exists() or mark.group(1) not in policy.read_text()
