"""Real Redis and PostgreSQL (Debian packages) and nasscan worker processes for fleet tests.

Everything binds 127.0.0.1 of the namespace the test runs in (the lab's, under
``nasscan lab exec``), is started by these helpers and stopped by them, by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

NASSCAN = str(Path(sys.executable).with_name("nasscan"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within 30 s")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away redis-server; yields its URL."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="nasscan-redis-"))
    log = tmp / "redis.log"
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: scripts/setup.sh installs it"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no", "--dir", str(tmp)],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_port(port, proc, "redis-server", log)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _pg_bin(name: str) -> str:
    """A PostgreSQL server binary: Debian keeps them off PATH, in /usr/lib/postgresql/N/bin."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    path = shutil.which(name)
    assert path, f"PostgreSQL's {name} is missing: scripts/setup.sh installs 'postgresql'"
    return path


class PgCluster:
    """A throw-away PostgreSQL cluster (initdb as user postgres) that can be stopped and
    started again on the same port and data (a database outage)."""

    def __init__(self) -> None:
        import pwd

        self.pw = pwd.getpwnam("postgres")
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="nasscan-pg-"))
        os.chown(self.tmp, self.pw.pw_uid, self.pw.pw_gid)
        self.data = self.tmp / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
             "--no-sync"],
            check=True, capture_output=True, user=self.pw.pw_uid, group=self.pw.pw_gid,
            cwd=self.tmp,
        )

    def start(self) -> None:
        log = self.tmp / "pg.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [_pg_bin("postgres"), "-D", str(self.data), "-k", str(self.tmp),
                 "-h", "127.0.0.1", "-p", str(self.port), "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT, user=self.pw.pw_uid,
                group=self.pw.pw_gid, cwd=self.tmp,
            )
        _wait_port(self.port, self.proc, "postgres", log)
        _wait_sql(self.url)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, timeout=20)
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster; yields its postgresql:// URL."""
    with pg_cluster() as cluster:
        yield cluster.url


def _wait_sql(url: str) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class Worker:
    name: str
    queue: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def sigkill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@dataclass
class Fleet:
    broker: str
    db: str
    tmp: Path
    workers: list[Worker] = field(default_factory=list)
    single: str = ""
    """The id of a single-machine scan recorded in the same store (set by a test fixture)."""

    def start_worker(self, name: str, queue: str, *extra: str) -> Worker:
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [NASSCAN, "worker", "--broker", self.broker, "--db", self.db,
                 "--queue", queue, "--name", name, *extra],
                stdout=out, stderr=subprocess.STDOUT,
            )
        worker = Worker(name, queue, proc, log)
        self.workers.append(worker)
        return worker

    def wait_ready(self, worker: Worker, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while "ready." not in worker.output():
            if worker.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {worker.name} not ready: {worker.output()[-3000:]}")
            time.sleep(0.1)

    def nasscan(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [NASSCAN, *args], capture_output=True, text=True,
            timeout=timeout, env={**os.environ, "NASSCAN_BROKER": self.broker,
                                  "NASSCAN_DB": self.db},
        )

    def stop(self) -> None:
        for w in self.workers:
            _stop(w.proc, timeout=15)
        self.workers.clear()
