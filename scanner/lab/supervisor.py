"""Start, check and stop the lab's daemons inside its network namespace.

State lives in ``/run/nasscan-lab/<ns>/`` (``$NASSCAN_LAB_STATE`` overrides the parent dir):
``pids/<daemon>.json`` records each started process (pid, start time, how to stop it), ``logs/``
its output, ``content/`` the synthetic tree, and per-service config dirs. ``down`` works from the
records alone, so it also cleans up after a crash or after service code changed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.lab import content, netns
from scanner.lab.netns import LabError
from scanner.lab.service import Daemon, LabContext, LabService, Ready, which
from scanner.lab.services import all_services, select

STATE_ROOT_ENV = "NASSCAN_LAB_STATE"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def state_root() -> Path:
    return Path(os.environ.get(STATE_ROOT_ENV, "/run/nasscan-lab"))


def context(ns: str) -> LabContext:
    return LabContext(ns=ns, state=state_root() / ns)


@contextlib.contextmanager
def _lock(ns: str) -> Iterator[None]:
    """Serialise up/down of one namespace (e.g. scripts/test.sh's up and the fixture's)."""
    root = state_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{ns}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------- preflight


def preflight(services: Iterable[LabService]) -> None:
    """Raise LabError naming everything missing (root, ip, daemons) and how to get it."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append(
            "the lab needs root (network namespaces, addresses on lo, daemons binding ports "
            "< 1024): run it as root, e.g. `sudo .venv/bin/nasscan lab up`"
        )
    if not shutil.which("ip", path=BASE_PATH):
        problems.append("`ip` is missing (Debian package iproute2)")
    missing_exe: list[str] = []
    packages: set[str] = set()
    for svc in services:
        miss = svc.missing()
        if miss:
            missing_exe.extend(f"{svc.name}: {m}" for m in miss)
            packages.update(svc.packages)
    if missing_exe:
        problems.append(
            "missing programs: "
            + "; ".join(missing_exe)
            + f" (Debian packages: {' '.join(sorted(packages))})"
        )
    if problems:
        raise LabError(
            "cannot run the lab:\n  - "
            + "\n  - ".join(problems)
            + "\nInstall them with apt-get (Debian 12), or from a source checkout with "
            "`sudo ./scripts/setup.sh --lab`."
        )


# ---------------------------------------------------------------- process records


def proc_starttime(pid: int) -> int | None:
    """Start time of a process (clock ticks since boot); None if gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


@dataclass
class Record:
    name: str
    service: str
    pid: int
    starttime: int
    stop_signal: int
    stop_timeout: float
    extra_pidfiles: list[str]
    before_stop: list[list[str]]
    ready: list[dict[str, Any]]
    fingerprint: str = ""

    def alive(self) -> bool:
        return proc_starttime(self.pid) == self.starttime

    def checks(self) -> list[Ready]:
        return [Ready(**r) for r in self.ready]


def _pid_dir(ctx: LabContext) -> Path:
    return ctx.state / "pids"


def load_records(ctx: LabContext) -> list[Record]:
    out: list[Record] = []
    d = _pid_dir(ctx)
    if not d.is_dir():
        return out
    for f in sorted(d.glob("*.json")):
        try:
            out.append(Record(**json.loads(f.read_text())))
        except (ValueError, TypeError, OSError):
            f.unlink(missing_ok=True)
    return out


def _save_record(ctx: LabContext, rec: Record) -> None:
    d = _pid_dir(ctx)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{rec.name}.tmp"
    tmp.write_text(json.dumps(rec.__dict__))
    tmp.replace(d / f"{rec.name}.json")


# ---------------------------------------------------------------- readiness (inside the ns)


def _check_once(r: Ready) -> bool:
    if r.kind == "path":
        return os.path.exists(r.host)
    if r.kind == "tcp":
        try:
            with socket.create_connection((r.host, r.port), timeout=0.5):
                return True
        except OSError:
            return False
    # udp: a socket bound on host:port (or the wildcard), from this namespace's /proc/net/udp
    want = {f"{_hexaddr(r.host)}:{r.port:04X}", f"00000000:{r.port:04X}"}
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1] in want for line in lines if len(line.split()) > 1)


def _hexaddr(addr: str) -> str:
    return socket.inet_aton(addr)[::-1].hex().upper()


def ready_main() -> None:
    """Entry run inside the namespace: poll checks, print a JSON verdict.

    argv[1] is JSON ``{"timeout": s, "items": [{"name", "pid", "checks": [...]}]}``.
    """
    spec = json.loads(sys.argv[1])
    deadline = time.monotonic() + float(spec["timeout"])
    pending = {it["name"]: it for it in spec["items"]}
    verdict: dict[str, dict[str, Any]] = {}
    while True:
        for name, it in list(pending.items()):
            failed = [Ready(**c).label() for c in it["checks"] if not _check_once(Ready(**c))]
            dead = it.get("pid") is not None and proc_starttime(it["pid"]) is None
            if not failed or dead:
                verdict[name] = {"ready": not failed and not dead, "failed": failed, "dead": dead}
                del pending[name]
            else:
                verdict[name] = {"ready": False, "failed": failed, "dead": False}
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    print(json.dumps(verdict))


def check_ready(
    ctx: LabContext, items: list[tuple[str, int | None, list[Ready]]], timeout: float
) -> dict[str, dict[str, Any]]:
    spec = {
        "timeout": timeout,
        "items": [
            {"name": n, "pid": pid, "checks": [c.__dict__ for c in checks]}
            for n, pid, checks in items
        ],
    }
    code = "from scanner.lab.supervisor import ready_main; ready_main()"
    r = ctx.run([sys.executable, "-c", code, json.dumps(spec)], check=False, timeout=timeout + 30)
    if r.returncode != 0:
        raise LabError(f"readiness check failed to run in {ctx.ns}: {r.stderr.strip()[-500:]}")
    result: dict[str, dict[str, Any]] = json.loads(r.stdout)
    return result


# ---------------------------------------------------------------- up


def _start(ctx: LabContext, svc: LabService, d: Daemon) -> Record:
    logs = ctx.dir("logs")
    env = {"PATH": BASE_PATH, "LANG": "C", "HOME": "/root", **d.env}
    with open(logs / f"{d.name}.log", "ab") as log:
        p = subprocess.Popen(
            ctx.ns_argv(d.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=d.cwd or ctx.state,
            start_new_session=d.new_session,
        )
    st = proc_starttime(p.pid)
    rec = Record(
        name=d.name,
        service=svc.name,
        pid=p.pid,
        starttime=st if st is not None else -1,
        stop_signal=int(d.stop_signal),
        stop_timeout=d.stop_timeout,
        extra_pidfiles=[str(x) for x in d.extra_pidfiles],
        before_stop=d.before_stop,
        ready=[c.__dict__ for c in d.ready],
        fingerprint=d.fingerprint(),
    )
    _save_record(ctx, rec)
    return rec


def _log_tail(ctx: LabContext, name: str, n: int = 15) -> str:
    try:
        lines = (ctx.state / "logs" / f"{name}.log").read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("      " + x for x in lines[-n:])


def up(ns: str | None = None, only: list[str] | None = None, echo: Any = None) -> LabContext:
    """Bring the (selected) services up; idempotent; returns the context."""
    name = netns.ns_name(ns)
    if os.geteuid() != 0:
        preflight([])
    with _lock(name):
        return _up(name, only, echo)


def describe_error(e: BaseException) -> str:
    """One line that names the file or program at fault (``repr`` of an OSError does not)."""
    if isinstance(e, OSError):
        what = " -> ".join(str(x) for x in (e.filename, e.filename2) if x is not None)
        return f"{e.strerror or e}: {what}" if what else str(e)
    if isinstance(e, subprocess.CalledProcessError):
        cmd = " ".join(map(str, e.cmd)) if isinstance(e.cmd, list | tuple) else str(e.cmd)
        err = (e.stderr or "").strip() if isinstance(e.stderr, str) else ""
        return f"`{cmd}` exited with {e.returncode}" + (f": {err[-500:]}" if err else "")
    if isinstance(e, KeyError):
        return f"no value for {e.args[0]!r}"
    return f"{type(e).__name__}: {e}"


def _up(ns: str, only: list[str] | None, echo: Any) -> LabContext:
    say = echo or (lambda _msg: None)
    name = netns.ns_name(ns)
    try:
        services = select(only)
    except KeyError as e:
        raise LabError(str(e.args[0])) from None
    preflight(services)
    ctx = context(name)
    fresh = not netns.exists(name)
    started: list[tuple[LabService, Daemon, Record]] = []
    try:
        return _up_services(ctx, services, started, say)
    except BaseException as e:
        # A failed start leaves nothing behind: a lab this call created is taken down whole;
        # in a lab that was already running, only what this call started is stopped.
        if fresh:
            _down(name, None)
            undo = f"lab {name} was taken down again"
        else:
            _stop_records(ctx, [r for _, _, r in started])
            undo = f"the {len(started)} daemon(s) this call started were stopped"
        if isinstance(e, LabError):
            raise LabError(f"{e}\n({undo})") from e
        if isinstance(e, Exception):
            raise LabError(f"lab {name}: {describe_error(e)}\n({undo})") from e
        raise


def _up_services(
    ctx: LabContext,
    services: list[LabService],
    started: list[tuple[LabService, Daemon, Record]],
    say: Any,
) -> LabContext:
    name = ctx.ns
    ctx.state.mkdir(parents=True, exist_ok=True)
    ctx.state.chmod(0o755)
    ctx.state.parent.chmod(0o755)
    netns.create(name)
    netns.add_addresses(name, [a for s in services for a in s.addresses])
    content.generate(ctx.content)
    records = {r.name: r for r in load_records(ctx)}
    running: list[tuple[LabService, Daemon, Record]] = []
    for svc in services:
        try:
            daemons = svc.prepare(ctx)
        except (KeyError, OSError, subprocess.SubprocessError) as e:
            raise LabError(f"preparing {svc.name} failed: {describe_error(e)}") from e
        for d in daemons:
            if not d.argv or not which(d.argv[0]):
                prog = d.argv[0] if d.argv else "(empty argv)"
                raise LabError(
                    f"{d.name}: program {prog} not found (Debian packages: "
                    f"{' '.join(svc.packages)})")
        todo = []
        for d in daemons:
            rec = records.get(d.name)
            if rec is not None and rec.alive() and rec.fingerprint == d.fingerprint():
                running.append((svc, d, rec))
            else:
                if rec is not None:
                    if rec.alive():
                        say(f"{d.name}: configuration changed, restarting")
                    _stop_records(ctx, [rec])
                todo.append(d)
        if todo:
            svc.pre_start(ctx)
            for d in todo:
                started.append((svc, d, _start(ctx, svc, d)))
    everything = started + running
    if not everything:
        return ctx
    timeout = max(d.ready_timeout for _, d, _ in everything)
    verdict = check_ready(ctx, [(r.name, r.pid, d.ready) for _, d, r in everything], timeout)
    bad = [n for n, v in verdict.items() if not v["ready"]]
    if bad:
        msgs = []
        for n in bad:
            v = verdict[n]
            why = "exited" if v["dead"] else f"not answering on {', '.join(v['failed'])}"
            msgs.append(f"  {n}: {why}; log tail:\n{_log_tail(ctx, n)}")
        raise LabError(
            f"lab {name}: {len(bad)} daemon(s) not ready:\n" + "\n".join(msgs)
        )
    for _svc, d, _rec in started:
        for cmd in d.after_start:
            r = ctx.run(cmd, check=False)
            if r.returncode != 0:
                raise LabError(f"{d.name}: {' '.join(cmd)} failed: {r.stderr.strip()}")
    say(f"lab {name}: {len(started)} started, {len(running)} already running")
    return ctx


# ---------------------------------------------------------------- down


def _read_pidfile(p: str) -> int | None:
    try:
        return int(Path(p).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _in_ns(pid: int, ino: int | None) -> bool:
    if ino is None:
        return False
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == ino
    except OSError:
        return False


def _kill(pid: int, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pids: list[tuple[int, int | None]], timeout: float) -> list[int]:
    """Wait until each (pid, starttime) is gone; return those still alive."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [(p, st) for p, st in alive if (s := proc_starttime(p)) is not None and (
            st is None or s == st)]
        if alive:
            time.sleep(0.1)
    return [p for p, _ in alive]


def _stop_records(ctx: LabContext, recs: list[Record]) -> None:
    ino = netns.ns_inode(ctx.ns)
    for rec in recs:
        if rec.alive():
            for cmd in rec.before_stop:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    ctx.run(cmd, check=False, timeout=10)
    targets: list[tuple[int, int | None]] = []
    timeout = 1.0
    for rec in recs:
        if rec.alive():
            _kill(rec.pid, rec.stop_signal, group=os.getpgid(rec.pid) == rec.pid)
            targets.append((rec.pid, rec.starttime))
            timeout = max(timeout, rec.stop_timeout)
        for pf in rec.extra_pidfiles:
            pid = _read_pidfile(pf)
            # only a process inside OUR namespace (a stale pid file may name someone else's)
            if pid is not None and _in_ns(pid, ino):
                _kill(pid, signal.SIGTERM, group=False)
                targets.append((pid, proc_starttime(pid)))
    left = _wait_gone(targets, timeout)
    for pid in left:
        _kill(pid, signal.SIGKILL, group=True)
        _kill(pid, signal.SIGKILL, group=False)
    _wait_gone([(p, None) for p in left], 3.0)
    for rec in recs:
        (_pid_dir(ctx) / f"{rec.name}.json").unlink(missing_ok=True)


def _ancestors() -> set[int]:
    out = set()
    pid = os.getpid()
    for _ in range(64):
        out.add(pid)
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(raw.rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            break
    return out


def down(ns: str | None = None, echo: Any = None) -> list[int]:
    """Stop everything the lab started in ``ns``, remove addresses, namespace and state.

    Returns PIDs of processes still inside the namespace afterwards (empty when clean).
    """
    name = netns.ns_name(ns)
    preflight([])
    with _lock(name):
        return _down(name, echo)


def _down(ns: str, echo: Any) -> list[int]:
    say = echo or (lambda _msg: None)
    name = netns.ns_name(ns)
    preflight([])
    ctx = context(name)
    recs = load_records(ctx)
    _stop_records(ctx, recs)
    # anything else still in our namespace (daemon children that changed session, stale
    # processes from a crashed run) - but never ourselves or the shell that called us.
    mine = _ancestors()
    leftovers = [p for p in netns.pids_in(name) if p not in mine]
    if leftovers:
        for p in leftovers:
            _kill(p, signal.SIGTERM, group=False)
        still = _wait_gone([(p, proc_starttime(p)) for p in leftovers], 4.0)
        for p in still:
            _kill(p, signal.SIGKILL, group=False)
        _wait_gone([(p, None) for p in still], 2.0)
    for svc in all_services():
        try:
            svc.cleanup(ctx)
        except Exception as e:  # cleanup is best effort; report, continue
            say(f"cleanup {svc.name}: {e}")
    remaining = [p for p in netns.pids_in(name) if p not in mine]
    if netns.exists(name):
        netns.remove_addresses(name)
        if not remaining and not (mine & set(netns.pids_in(name))):
            netns.delete(name)
    shutil.rmtree(ctx.state, ignore_errors=True)
    say(f"lab {name}: stopped {len(recs)} daemon(s)" + (
        f"; still in namespace: {remaining}" if remaining else ""))
    return remaining


# ---------------------------------------------------------------- status


@dataclass
class DaemonStatus:
    name: str
    service: str
    pid: int | None
    running: bool
    ready: bool
    checks: list[str]


def status(ns: str | None = None) -> list[DaemonStatus]:
    name = netns.ns_name(ns)
    ctx = context(name)
    recs = load_records(ctx)
    verdict: dict[str, dict[str, Any]] = {}
    live = [r for r in recs if r.alive()]
    if live and netns.exists(name):
        verdict = check_ready(ctx, [(r.name, r.pid, r.checks()) for r in live], 0.0)
    out = []
    for r in recs:
        v = verdict.get(r.name, {})
        out.append(DaemonStatus(
            name=r.name, service=r.service, pid=r.pid, running=r.alive(),
            ready=bool(v.get("ready")), checks=[c.label() for c in r.checks()],
        ))
    return out


def exec_argv(ns: str | None, cmd: list[str]) -> tuple[list[str], dict[str, str]]:
    """argv and env to run ``cmd`` inside the namespace (caller's env + NASSCAN_LAB_NS)."""
    name = netns.ns_name(ns)
    if not netns.exists(name):
        raise LabError(f"lab namespace {name} does not exist: run `nasscan lab up` first")
    env = dict(os.environ)
    env[netns.ENV_NS] = name
    return ["ip", "netns", "exec", name, *cmd], env
