"""The lab's service interface: what a lab service module provides.

A service module lives in ``scanner/lab/services/<name>.py`` and exposes
``SERVICES: list[LabService]``. ``nasscan lab up`` (see ``supervisor.py``) does, per service:

1. ``prepare(ctx)``: write configs (render templates from ``scanner/lab/data/<svc>/`` into
   ``ctx.state``), create users, cert files, extra directories. Returns the ``Daemon`` list to
   start. Must be idempotent (``up`` after a crash runs it again over the old state dir).
2. ``pre_start(ctx)``: remove stale run files (e.g. rpcbind's /run files) before daemons start.
3. Each ``Daemon`` is started as ``ip netns exec NS argv...`` in a new session (its own process
   group), in the FOREGROUND (no daemonizing), stdout/stderr to ``ctx.state/logs/<daemon>.log``;
   its PID and start time are recorded in ``ctx.state/pids/<daemon>.json``.
4. Readiness: every ``Ready`` check of the daemon is polled INSIDE the namespace until it passes
   (``Daemon.ready_timeout``). Then ``after_start`` commands run inside the namespace (tgtadm...).

``nasscan lab down`` runs ``before_stop`` commands (inside the namespace), sends ``stop_signal``
to each recorded process group (then SIGKILL after ``stop_timeout``), kills processes named by
``extra_pidfiles`` (e.g. samba-dcerpcd, which detaches), then any process still inside the
namespace, then calls ``cleanup(ctx)`` and removes the addresses and the namespace.

Config templates use ``@@NAME@@`` placeholders rendered by ``LabContext.render`` (the docker
images render the same files with ``scanner/lab/data/render.sh``): ``@@LAB@@`` is the state dir
root, ``@@CONTENT@@`` the synthetic content tree; services add their own (``@@ADDR@@``, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

LAB_CONFIG_DIR = Path(__file__).resolve().parent / "data"
"""Server config templates, scripts and the expected manifest: package data (it ships in the
wheel), the one source of truth for the namespace lab and docker/docker-compose.yml (which mounts
this directory at /cfg)."""

LAB_USER = "alice"
LAB_PASSWORD = "Secret123!"


@dataclass(frozen=True)
class Ready:
    """A readiness check, run inside the namespace.

    ``tcp``: a TCP connect to host:port succeeds. ``udp``: a UDP socket is bound on host:port
    (seen with ``ss -lnu``). ``path``: the file ``host`` exists (port ignored).
    """

    kind: Literal["tcp", "udp", "path"]
    host: str
    port: int = 0

    @classmethod
    def tcp(cls, host: str, port: int) -> Ready:
        return cls("tcp", host, port)

    @classmethod
    def udp(cls, host: str, port: int) -> Ready:
        return cls("udp", host, port)

    @classmethod
    def path(cls, path: str | Path) -> Ready:
        return cls("path", str(path), 0)

    def label(self) -> str:
        return self.host if self.kind == "path" else f"{self.kind}/{self.host}:{self.port}"


@dataclass
class Daemon:
    """One foreground process the supervisor starts inside the namespace."""

    name: str
    """Unique in the whole lab, e.g. ``smb-guest``, ``ftp-anon-2121``; names pid and log files."""
    argv: list[str]
    ready: list[Ready] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    """Added to a minimal environment (PATH, LANG=C)."""
    cwd: Path | None = None
    ready_timeout: float = 15.0
    watch: list[Path] = field(default_factory=list)
    """Config files besides those named in ``argv`` (includes): ``up`` restarts the daemon when
    any of them, a file named in ``argv`` (but ``*.log`` and ``*.pid``), ``argv`` or ``env``
    changed since it was started."""
    new_session: bool = True
    """Start it in a new session (own process group). False for daemons that call setsid()
    themselves in the foreground (smbd), which fails for a session leader."""
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 6.0
    extra_pidfiles: list[Path] = field(default_factory=list)
    """Pid files of processes the daemon spawns into other sessions (e.g. samba-dcerpcd)."""
    after_start: list[list[str]] = field(default_factory=list)
    """Commands run inside the namespace once the daemon is ready (must succeed)."""
    before_stop: list[list[str]] = field(default_factory=list)
    """Commands run inside the namespace before signalling (failures ignored)."""


    def fingerprint(self) -> str:
        """Hash of what the daemon runs with (argv, env, files in argv, watched files)."""
        h = hashlib.sha256(json.dumps([self.argv, sorted(self.env.items())]).encode())
        named = [Path(a) for a in self.argv
                 if a.startswith("/") and not a.endswith((".log", ".pid"))]
        for f in [*named, *self.watch]:
            try:
                if f.is_file() and f.stat().st_size < 4 * 1024 * 1024:
                    h.update(str(f).encode() + b"\0" + f.read_bytes())
            except OSError:
                continue
        return h.hexdigest()


@dataclass
class LabContext:
    """Where a service writes its state, and helpers to act inside the namespace."""

    ns: str
    state: Path
    """Per-namespace state root (configs, pids, logs, content)."""
    config_dir: Path = LAB_CONFIG_DIR

    @property
    def content(self) -> Path:
        """The synthetic recordings tree (generated by ``content.py`` before ``prepare``)."""
        return self.state / "content"

    def dir(self, *parts: str, mode: int = 0o755) -> Path:
        """A directory under the state root (created)."""
        p = self.state.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        p.chmod(mode)
        return p

    def variables(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        v = {"LAB": str(self.state), "CONTENT": str(self.content)}
        if extra:
            v.update(extra)
        return v

    def render(self, template: str | Path, dest: Path, mode: int = 0o644, **extra: str) -> Path:
        """Render ``scanner/lab/data/<template>`` (``@@NAME@@`` placeholders) into ``dest``.

        Raises KeyError for a placeholder that has no value (so templates and code stay in step).
        """
        return self.render_with(template, dest, extra, mode)

    def render_with(
        self, template: str | Path, dest: Path, extra: Mapping[str, str], mode: int = 0o644
    ) -> Path:
        """``render`` with the extra variables given as a mapping."""
        src = template if isinstance(template, Path) else self.config_dir / template
        text = render_text(src.read_text(), self.variables(extra))
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        dest.chmod(mode)
        return dest

    def ns_argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def run(
        self, argv: Sequence[str], check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace, capture its output."""
        return subprocess.run(
            self.ns_argv(argv), check=check, timeout=timeout, capture_output=True, text=True
        )


_PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")


def render_text(text: str, variables: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        return variables[m.group(1)]

    return _PLACEHOLDER.sub(sub, text)


class LabService(ABC):
    """A group of daemons selected together with ``nasscan lab up --only NAME``."""

    name: str
    """Selection name, e.g. ``smb``, ``ftp``, ``http``, ``nfs``."""
    addresses: tuple[str, ...] = ()
    """127.0.10.x addresses this service needs on the namespace's lo."""
    executables: tuple[str, ...] = ()
    """Programs that must exist (checked before anything starts; missing -> clear message)."""
    packages: tuple[str, ...] = ()
    """Debian packages providing them (named in the message; scripts/setup.sh installs them)."""

    @abstractmethod
    def prepare(self, ctx: LabContext) -> list[Daemon]:
        """Write configs/users/certs under ``ctx.state``; return the daemons to start.

        Idempotent."""

    def pre_start(self, ctx: LabContext) -> None:  # noqa: B027 - optional hook
        """Remove stale run files left by a crash (called right before starting the daemons)."""

    def cleanup(self, ctx: LabContext) -> None:  # noqa: B027 - optional hook
        """Called by ``down`` after all processes are gone."""

    def missing(self) -> list[str]:
        """Executables of this service that are not installed."""
        return [e for e in self.executables if not which(e)]


def which(exe: str) -> str | None:
    """The program's path (PATH plus the sbin directories daemons live in), or None."""
    if os.path.isabs(exe):
        return exe if os.access(exe, os.X_OK) else None
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(exe, path=path)


def ensure_user(
    name: str = LAB_USER, password: str = LAB_PASSWORD, home: str | None = None
) -> None:
    """Create a local system user (idempotent) with a password and an existing home directory.

    Used by SMB (``staff``) and FTP (``ftp-local``). Home defaults to /home/<name>, owned by root
    and not writable by the user (vsftpd's chroot refuses writable roots).
    """
    home = home or f"/home/{name}"
    exists = subprocess.run(["getent", "passwd", name], capture_output=True).returncode == 0
    if not exists:
        _retry(["useradd", "--no-create-home", "--home-dir", home, "--shell", "/bin/sh", name],
               done=lambda: subprocess.run(["getent", "passwd", name],
                                           capture_output=True).returncode == 0)
    Path(home).mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o755)
    _retry(["chpasswd"], stdin=f"{name}:{password}\n")


def _retry(
    argv: list[str], stdin: str | None = None, done: Callable[[], bool] | None = None
) -> None:
    """Run a passwd-database command; other labs may hold /etc/shadow's lock: retry (bounded)."""
    last = ""
    for _ in range(20):
        r = subprocess.run(argv, input=stdin, text=True, capture_output=True, timeout=30)
        if r.returncode == 0 or (done is not None and done()):
            return
        last = r.stderr.strip()
        time.sleep(0.25)
    raise subprocess.CalledProcessError(1, argv, stderr=last)


def ensure_cert(ctx: LabContext) -> tuple[Path, Path]:
    """A self-signed certificate for the lab's TLS services (generated once per state dir)."""
    d = ctx.dir("tls", mode=0o755)
    crt, key = d / "lab.crt", d / "lab.key"
    if not (crt.exists() and key.exists()):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", "/CN=nasscan-lab", "-keyout", str(key), "-out", str(crt)],
            check=True, capture_output=True, timeout=60,
        )
        key.chmod(0o600)
    return crt, key


def install_file(src: Path, dest: Path, mode: int = 0o644) -> None:
    """Copy a config file to a fixed system path (e.g. /etc/pam.d/...) when it differs."""
    data = src.read_bytes()
    if not dest.exists() or dest.read_bytes() != data:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    dest.chmod(mode)
