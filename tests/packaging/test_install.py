"""The package as a user gets it: wheel and sdist, installed into a fresh venv outside the checkout.

``python -m build`` (no isolation: the build tools come from the dev extra) makes the sdist and,
from it, the wheel; ``twine check`` passes both. The wheel goes into a new venv in a temporary
directory, with its dependencies from the wheelhouse ``scripts/setup.sh --test`` downloads
(pytest runs inside the lab namespace, which has no network). From another temporary directory,
that venv's ``nasscan lab up --only http,ftp`` runs a lab of its own (its own namespace and state
dir), its ``nasscan scan`` finds what the shipped manifest expects, ``lab down`` leaves no
namespace and no process. A missing daemon program and a missing config file are errors that
name them and leave nothing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from repo_paths import REPO_ROOT

from scanner.lab import netns
from scanner.lab.service import LAB_CONFIG_DIR

pytestmark = pytest.mark.slow

WHEELHOUSE = Path(os.environ.get("NASSCAN_WHEELHOUSE", REPO_ROOT / ".cache" / "wheelhouse"))
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SKIP_COPY = shutil.ignore_patterns(".git", ".venv", ".cache", "build", "dist", "*.egg-info",
                                   "__pycache__", ".mypy_cache", ".ruff_cache", ".hypothesis",
                                   "reports", "out")


def _run(argv: list[str], timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


@dataclass
class Installed:
    venv: Path
    dist: Path
    site: Path
    """The venv's site-packages."""

    @property
    def nasscan(self) -> str:
        return str(self.venv / "bin" / "nasscan")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist + wheel built from a copy of the checkout (the build writes *.egg-info there)."""
    base = tmp_path_factory.mktemp("build")
    src = base / "src"
    shutil.copytree(REPO_ROOT, src, ignore=SKIP_COPY)
    dist = base / "dist"
    r = _run([sys.executable, "-m", "build", "--no-isolation", "-o", str(dist), str(src)],
             cwd=base)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return dist


@pytest.fixture(scope="module")
def installed(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if not WHEELHOUSE.is_dir() or not any(WHEELHOUSE.glob("*.whl")):
        pytest.fail(f"no wheelhouse at {WHEELHOUSE}: `scripts/setup.sh --test` downloads the "
                    "runtime dependencies there (pytest runs where there is no network)",
                    pytrace=False)
    venv = tmp_path_factory.mktemp("venv") / "v"
    assert not venv.resolve().is_relative_to(REPO_ROOT)
    # a venv without pip of its own (pip from this environment installs into it: seconds
    # instead of a minute for ensurepip and byte-compiling)
    r = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert r.returncode == 0, r.stderr
    (wheel,) = built.glob("*.whl")
    r = _run([*_pip(venv), "install", "-q", "--no-compile", "--no-index", "--find-links",
              str(WHEELHOUSE), str(wheel)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (site,) = (venv / "lib").glob("python3*/site-packages")
    return Installed(venv=venv, dist=built, site=site)


def _pip(venv: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]


def _clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """Nothing of this checkout or of the test environment: the venv's bin first on PATH."""
    keep = {k: v for k, v in os.environ.items()
            if k in ("HOME", "LANG", "LC_ALL", "TERM", "PIP_CACHE_DIR", "XDG_CACHE_HOME")}
    return {**keep, "PATH": f"{venv / 'bin'}:{BASE_PATH}", **extra}


def test_wheel_and_sdist_pass_twine_check_and_ship_the_lab_data(built: Path) -> None:
    r = _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, built.iterdir())])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("PASSED") == 2, r.stdout
    shipped = {p.relative_to(LAB_CONFIG_DIR.parent.parent.parent).as_posix()
               for p in LAB_CONFIG_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert "scanner/lab/data/expected.d/http.json" in shipped and len(shipped) > 40
    (wheel,) = built.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert shipped <= names, sorted(shipped - names)
    assert {"scanner/schema/report.schema.json", "scanner/rules/default.toml"} <= names
    # the shell scripts the lab runs keep their executable bit
    modes = {i.filename: i.external_attr >> 16 for i in zipfile.ZipFile(wheel).infolist()}
    assert modes["scanner/lab/data/nfs/run-nfs.sh"] & 0o111
    (sdist,) = built.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert shipped <= members, sorted(shipped - members)
    # nothing of the test plug-in, the docker files or the scripts goes to users
    assert not any(n.startswith(("tests/", "docker/", "nasscan_plugin_test")) for n in names)


def test_installed_package_runs_from_its_own_files(installed: Installed, tmp_path: Path) -> None:
    py = str(installed.venv / "bin" / "python")
    r = _run([py, "-c", "import scanner, scanner.lab.service as s; "
              "print(scanner.__file__); print(s.LAB_CONFIG_DIR)"],
             cwd=tmp_path, env=_clean_env(installed.venv))
    assert r.returncode == 0, r.stderr
    module, config_dir = r.stdout.split()
    assert Path(module).is_relative_to(installed.site)
    assert Path(config_dir) == installed.site / "scanner" / "lab" / "data"
    r = _run([installed.nasscan, "--version"], cwd=tmp_path, env=_clean_env(installed.venv))
    assert r.returncode == 0 and r.stdout.strip() == "nasscan, version 0.1.0", r.stdout
    # no test plug-in, no test-only or optional library in the user's environment
    r = _run([installed.nasscan, "probes"], cwd=tmp_path, env=_clean_env(installed.venv))
    assert r.returncode == 0 and "plugintest" not in r.stdout and "\nhttp " in f"\n{r.stdout}"
    r = _run([*_pip(installed.venv), "list", "--format", "freeze"])
    assert r.returncode == 0, r.stderr
    present = {line.split("==")[0].lower() for line in r.stdout.splitlines()}
    assert {"nasscan", "pysmb", "aiohttp"} <= present, present
    assert not {"scapy", "smbprotocol", "psycopg", "psycopg-binary", "moto", "pytest"} & present


# ------------------------------------------------------------------ the lab from the package


@dataclass
class NestedLab:
    ns: str
    state_root: Path
    env: dict[str, str]

    @property
    def state(self) -> Path:
        return self.state_root / self.ns


def _leftover_processes(state: Path) -> list[str]:
    """Processes whose command line names the lab's state directory."""
    out = []
    needle = str(state).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmd:
            out.append(entry + ": " + cmd.replace(b"\0", b" ").decode(errors="replace"))
    return out


def _net_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:  # gone
        return None


def _assert_nothing_left(lab: NestedLab) -> None:
    assert not netns.exists(lab.ns), f"namespace {lab.ns} left behind"
    r = _run(["ip", "netns", "list"])
    assert lab.ns not in r.stdout.split(), r.stdout
    assert _leftover_processes(lab.state) == []
    assert not lab.state.exists(), sorted(p.name for p in lab.state.iterdir())


@pytest.fixture
def nested(installed: Installed, tmp_path: Path) -> Iterator[NestedLab]:
    """A lab name and state dir of its own (derived from the running lab's, so parallel test
    runs of several labs do not collide)."""
    if os.geteuid() != 0:
        pytest.fail("needs root (a lab namespace): run the suite via scripts/test.sh",
                    pytrace=False)
    ns = f"{os.environ.get(netns.ENV_NS, netns.DEFAULT_NS)}-w"[:40]
    state_root = Path(f"/run/{ns}")
    env = _clean_env(installed.venv, NASSCAN_LAB_NS=ns, NASSCAN_LAB_STATE=str(state_root),
                     NASSCAN_DB=str(tmp_path / "history.sqlite3"))
    lab = NestedLab(ns=ns, state_root=state_root, env=env)
    if netns.exists(ns):  # a crashed earlier run
        _run([installed.nasscan, "lab", "down"], env=env, cwd=tmp_path)
    try:
        yield lab
    finally:
        if netns.exists(ns):
            _run([installed.nasscan, "lab", "down"], env=env, cwd=tmp_path)
        shutil.rmtree(state_root, ignore_errors=True)


def test_lab_up_scan_down_from_the_installed_package(
    installed: Installed, nested: NestedLab, tmp_path: Path
) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    up = _run([installed.nasscan, "lab", "up", "--only", "http,ftp"], env=nested.env, cwd=work)
    assert up.returncode == 0, up.stderr
    assert netns.exists(nested.ns)
    report = work / "lab.json"
    scan = _run([installed.nasscan, "lab", "exec", "--", installed.nasscan, "scan",
                 "127.0.10.0/24", "--probes", "http,ftp", "--format", "json", "-o", str(report)],
                env=nested.env, cwd=work, timeout=240)
    assert scan.returncode == 1, scan.stderr  # 1: findings, as the lab is built to have
    # the manifest shipped in the package judges the scan (no checkout involved)
    check = ("import json, sys\nfrom scanner.lab import manifest\n"
             "doc = json.load(open(sys.argv[1]))\n"
             "m = manifest.load().for_services(['http', 'ftp'])\n"
             "assert len(m.targets) >= 10, len(m.targets)\n"
             "print('\\n'.join(manifest.check(m, doc['findings'], doc['services'])))\n")
    r = _run([str(installed.venv / "bin" / "python"), "-c", check, str(report)],
             env=nested.env, cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", r.stdout
    ino = netns.ns_inode(nested.ns)
    daemons = netns.pids_in(nested.ns)
    assert len(daemons) >= 12
    down = _run([installed.nasscan, "lab", "down"], env=nested.env, cwd=work)
    assert down.returncode == 0, down.stderr
    _assert_nothing_left(nested)
    assert ino is not None
    assert [p for p in daemons if _net_inode(p) == ino] == []


def test_missing_daemon_program_is_named_and_nothing_is_left(
    installed: Installed, nested: NestedLab, tmp_path: Path
) -> None:
    vsftpd = shutil.which("vsftpd", path=BASE_PATH)
    assert vsftpd, "vsftpd is not installed: run scripts/setup.sh --lab"
    blank = tmp_path / "not-a-program"
    blank.write_text("")
    blank.chmod(0o644)
    # a private mount namespace where vsftpd is not executable: as if the package were missing
    script = f'mount --bind "{blank}" "{vsftpd}" && exec "$@"'
    r = _run(["unshare", "--mount", "sh", "-c", script, "sh", installed.nasscan, "lab", "up",
              "--only", "http,ftp"], env=nested.env, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "vsftpd" in r.stderr and "Traceback" not in r.stderr, r.stderr
    _assert_nothing_left(nested)


def test_missing_config_file_is_named_and_the_failed_up_cleans_up(
    installed: Installed, nested: NestedLab, tmp_path: Path
) -> None:
    # http comes up first, then ftp fails: the http daemons must be gone again
    conf = installed.site / "scanner" / "lab" / "data" / "ftp" / "ftps.conf"
    saved = tmp_path / "ftps.conf"
    shutil.move(conf, saved)
    try:
        r = _run([installed.nasscan, "lab", "up", "--only", "http,ftp"], env=nested.env,
                 cwd=tmp_path)
    finally:
        shutil.move(saved, conf)
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(conf) in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "taken down" in r.stderr
    _assert_nothing_left(nested)
