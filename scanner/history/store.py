"""Scan history: every scan, its services and findings, in SQLite (default) or PostgreSQL.

One schema for both, versioned migrations. Each finding is committed as it is found (SQLite in
WAL mode), so a crash or a kill loses nothing already found. Finding and service rows hold the
model's JSON, the same serialisation every output format is derived from.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import platformdirs

from scanner.masking import mask_url
from scanner.models import Finding, Report, ScannerInfo, Service, finding_order
from scanner.redact import redact_text, redact_url

# Each migration is a list of statements; the index + 1 is the schema version it brings.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE scans (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            scope_key TEXT NOT NULL,
            scope TEXT NOT NULL,
            options TEXT NOT NULL,
            version TEXT NOT NULL,
            checkpoint TEXT
        )""",
        "CREATE INDEX scans_by_scope ON scans (scope_key, started_at)",
        """CREATE TABLE services (
            scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            transport TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (scan_id, host, port, transport)
        )""",
        """CREATE TABLE findings (
            scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
            finding_id TEXT NOT NULL,
            severity TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (scan_id, finding_id)
        )""",
    ],
    [
        # 2: the resume checkpoint: every (host, port, transport) queued for probing.
        """CREATE TABLE queued (
            scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            transport TEXT NOT NULL,
            PRIMARY KEY (scan_id, host, port, transport)
        )""",
    ],
    [
        # 3: the parts of a fleet scan (scanner/fleet): one row per shard task.
        """CREATE TABLE fleet_shards (
            scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
            part INTEGER NOT NULL,
            queue TEXT NOT NULL,
            shard TEXT NOT NULL,
            targets TEXT NOT NULL,
            state TEXT NOT NULL,
            worker TEXT,
            attempts INTEGER NOT NULL,
            services INTEGER NOT NULL,
            findings INTEGER NOT NULL,
            error TEXT,
            stats TEXT,
            updated_at TEXT NOT NULL,
            heartbeat_at TEXT,
            PRIMARY KEY (scan_id, part)
        )""",
    ],
]

RUNNING = "running"
FINISHED = "finished"
ABORTED = "aborted"


class HistoryError(ValueError):
    """A scan reference that does not resolve, or a store that cannot be opened."""


@dataclass(frozen=True)
class ScanRow:
    id: str
    started_at: str
    finished_at: str | None
    status: str
    scope_key: str
    findings: int
    options: dict[str, Any]
    checkpoint: dict[str, Any] | None


class _Conn(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("nasscan")) / "history.sqlite3"


def scope_key(scope: dict[str, Any]) -> str:
    """Scans 'of the same scope' share targets, exclusions and ports."""
    parts = {k: scope.get(k) for k in ("targets", "exclusions", "ports")}
    return json.dumps(parts, sort_keys=True, default=str)


def new_scan_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class Store:
    """The history store. Use ``open_store(url)``; the same code serves both back ends."""

    def __init__(self, conn: _Conn, *, placeholder: str, url: str) -> None:
        self._conn = conn
        self._ph = placeholder
        self.url = mask_url(url)
        """The store's address for messages: a password in a URL is replaced by ``***``."""
        self._migrate()

    # -- plumbing ----------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self._ph == "?" else sql.replace("?", self._ph)

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._sql(sql), tuple(params))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """One statement with ``?`` placeholders (for tables kept by other modules)."""
        return self._exec(sql, params)

    def commit(self) -> None:
        self._conn.commit()

    def _migrate(self) -> None:
        if self._ph == "%s":  # PostgreSQL: fleet workers starting together migrate one by one
            self._exec("SELECT pg_advisory_xact_lock(7461636)")
        self._exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self._exec("SELECT MAX(version) FROM schema_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        for number, statements in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            for statement in statements:
                self._exec(statement)
            self._exec("INSERT INTO schema_version (version) VALUES (?)", (number,))
        self._conn.commit()

    @property
    def schema_version(self) -> int:
        row = self._exec("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()

    # -- writing -----------------------------------------------------------------------------
    def begin_scan(
        self, report: Report, options: dict[str, Any], scan_id: str | None = None
    ) -> str:
        scan_id = scan_id or new_scan_id(report.started_at)
        self._exec(
            "INSERT INTO scans (id, started_at, finished_at, status, scope_key, scope, options,"
            " version, checkpoint) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, NULL)",
            (
                scan_id,
                report.started_at.isoformat(),
                RUNNING,
                scope_key(report.scope),
                json.dumps(report.scope, default=str),
                json.dumps(options, default=str),
                report.scanner.version,
            ),
        )
        self._conn.commit()
        return scan_id

    def record_service(self, scan_id: str, service: Service, *, commit: bool = True) -> None:
        """``commit=False``: part of a batch that the caller commits (``finish_scan`` does)."""
        self._exec(
            "INSERT INTO services (scan_id, host, port, transport, data) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (scan_id, host, port, transport) DO UPDATE SET data = excluded.data",
            (scan_id, service.host, service.port, service.transport.value,
             service.model_dump_json()),
        )
        if commit:
            self._conn.commit()

    def record_finding(self, scan_id: str, finding: Finding, *, commit: bool = True) -> None:
        """Committed at once: a killed scan keeps every finding recorded so far.
        ``commit=False``: part of a batch that the caller commits (``finish_scan`` does)."""
        self._exec(
            "INSERT INTO findings (scan_id, finding_id, severity, data) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (scan_id, finding_id) DO UPDATE SET severity = excluded.severity,"
            " data = excluded.data",
            (scan_id, finding.id, finding.severity.value, finding.model_dump_json()),
        )
        if commit:
            self._conn.commit()

    def record_queued(self, scan_id: str, rows: Sequence[tuple[str, int, str]]) -> None:
        """Open ports (and UDP attempts) handed to the probe stage, in one transaction."""
        for host, port, transport in rows:
            self._exec(
                "INSERT INTO queued (scan_id, host, port, transport) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (scan_id, host, port, transport) DO NOTHING",
                (scan_id, host, port, transport),
            )
        self._conn.commit()

    def queued(self, scan_id: str) -> list[tuple[str, int, str]]:
        rows = self._exec(
            "SELECT host, port, transport FROM queued WHERE scan_id = ? ORDER BY host, port",
            (scan_id,),
        ).fetchall()
        return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]

    def save_checkpoint(self, scan_id: str, checkpoint: dict[str, Any]) -> None:
        self._exec(
            "UPDATE scans SET checkpoint = ? WHERE id = ?", (json.dumps(checkpoint), scan_id)
        )
        self._conn.commit()

    def finish_scan(self, scan_id: str, report: Report) -> None:
        status = ABORTED if report.aborted else FINISHED
        finished = (report.finished_at or datetime.now(UTC)).isoformat()
        self._exec(  # the scope as the engine completed it (scope_key stays as begun)
            "UPDATE scans SET finished_at = ?, status = ?, scope = ? WHERE id = ?",
            (finished, status, json.dumps(report.scope, default=str), scan_id),
        )
        self._conn.commit()

    def reopen_scan(self, scan_id: str) -> None:
        """Mark an interrupted scan running again (resume)."""
        self._exec("UPDATE scans SET status = ?, finished_at = NULL WHERE id = ?",
                   (RUNNING, scan_id))
        self._conn.commit()

    # -- reading -----------------------------------------------------------------------------
    def _row(self, r: Sequence[Any], count: int) -> ScanRow:
        return ScanRow(
            id=r[0], started_at=r[1], finished_at=r[2], status=r[3], scope_key=r[4],
            options=json.loads(r[5]), checkpoint=json.loads(r[6]) if r[6] else None,
            findings=count,
        )

    def list_scans(self, limit: int = 50) -> list[ScanRow]:
        rows = self._exec(
            "SELECT s.id, s.started_at, s.finished_at, s.status, s.scope_key, s.options,"
            " s.checkpoint, (SELECT COUNT(*) FROM findings f WHERE f.scan_id = s.id)"
            " FROM scans s ORDER BY s.started_at DESC, s.id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [self._row(r[:7], int(r[7])) for r in rows]

    def get_scan(self, scan_id: str) -> ScanRow:
        for row in self.list_scans(limit=1_000_000):
            if row.id == scan_id:
                return row
        raise HistoryError(f"no scan {scan_id!r} in {self.url}")

    def resolve(self, ref: str) -> str:
        """'last', a full id or a unique prefix of one."""
        if ref == "last":
            scans = self.list_scans(limit=1)
            if not scans:
                raise HistoryError(f"no scans recorded in {self.url}")
            return scans[0].id
        rows = self._exec(
            "SELECT id FROM scans WHERE id = ? OR id LIKE ?", (ref, ref + "%")
        ).fetchall()
        ids = sorted({r[0] for r in rows})
        if ref in ids:
            return ref
        if len(ids) == 1:
            return str(ids[0])
        if not ids:
            raise HistoryError(f"no scan matches {ref!r} in {self.url}")
        raise HistoryError(f"scan reference {ref!r} is ambiguous: {', '.join(ids[:5])}")

    def previous_of_same_scope(self, scan_id: str) -> str | None:
        row = self._exec("SELECT scope_key, started_at FROM scans WHERE id = ?",
                         (scan_id,)).fetchone()
        if row is None:
            raise HistoryError(f"no scan {scan_id!r}")
        prev = self._exec(
            "SELECT id FROM scans WHERE scope_key = ? AND (started_at < ? OR"
            " (started_at = ? AND id < ?)) ORDER BY started_at DESC, id DESC LIMIT 1",
            (row[0], row[1], row[1], scan_id),
        ).fetchone()
        return str(prev[0]) if prev else None

    def last_two_of_same_scope(self) -> tuple[str, str]:
        newest = self.resolve("last")
        older = self.previous_of_same_scope(newest)
        if older is None:
            raise HistoryError("need two scans of the same scope to compare; found one")
        return older, newest

    def findings(self, scan_id: str) -> list[Finding]:
        rows = self._exec(
            "SELECT data FROM findings WHERE scan_id = ? ORDER BY finding_id", (scan_id,)
        ).fetchall()
        return [Finding.model_validate_json(r[0]) for r in rows]

    def services(self, scan_id: str) -> list[Service]:
        rows = self._exec(
            "SELECT data FROM services WHERE scan_id = ? ORDER BY host, port", (scan_id,)
        ).fetchall()
        return [Service.model_validate_json(r[0]) for r in rows]

    def load_report(self, scan_id: str) -> Report:
        r = self._exec(
            "SELECT started_at, finished_at, scope, version, status FROM scans WHERE id = ?",
            (scan_id,),
        ).fetchone()
        if r is None:
            raise HistoryError(f"no scan {scan_id!r} in {self.url}")
        return Report(
            scanner=ScannerInfo(version=r[3]),
            started_at=datetime.fromisoformat(r[0]),
            finished_at=datetime.fromisoformat(r[1]) if r[1] else None,
            scope=json.loads(r[2]),
            services=self.services(scan_id),
            findings=sorted(self.findings(scan_id), key=finding_order),
            aborted=r[4] == ABORTED,
        )

    def severity_counts(self, scan_ids: list[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {s: {} for s in scan_ids}
        for sid in scan_ids:
            rows = self._exec(
                "SELECT severity, COUNT(*) FROM findings WHERE scan_id = ? GROUP BY severity",
                (sid,),
            ).fetchall()
            out[sid] = {str(r[0]): int(r[1]) for r in rows}
        return out


def _private_db_file(path: Path, *, own_directory: bool) -> None:
    """Create the database file 0600 (SQLite gives its -wal and -shm files the same mode) and,
    when the directory is nasscan's own (the default data directory), make that 0700."""
    import os
    import stat

    if own_directory or not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):  # left by an older version with another mode
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, 0o600)


def _open_sqlite(path: Path, *, own_directory: bool = False) -> Store:
    try:
        _private_db_file(path, own_directory=own_directory)
    except OSError as exc:
        raise HistoryError(f"cannot open history database {path}: {exc.strerror}") from exc
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts the file and a crashed or killed process loses no
    # committed row; only a power cut may lose the last commits. FULL paid an fsync per
    # finding (a quarter of a second on the lab's 40 findings).
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.isolation_level = "DEFERRED"
    return Store(conn, placeholder="?", url=str(path))


def _open_postgres(url: str) -> Store:
    try:
        import psycopg
    except ImportError:
        raise HistoryError(
            "a postgresql:// history database needs the PostgreSQL extra: "
            "pip install 'nasscan[postgres]'") from None
    shown = redact_url(url)
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        detail = redact_text(str(exc).replace(url, shown)).strip().splitlines()
        raise HistoryError(
            f"cannot open history database {shown}: {detail[0] if detail else type(exc).__name__}"
        ) from None
    return Store(conn, placeholder="%s", url=shown)


_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def open_store(db: str | None = None) -> Store:
    """``None``: SQLite under the user's data directory; a path; or ``postgresql://...``.

    Any other ``scheme://`` is an error (never a directory named ``mysql:``).
    """
    if db and db.startswith(("postgresql://", "postgres://")):
        return _open_postgres(db)
    if db and _URL_SCHEME.match(db):
        scheme = db.split("://", 1)[0]
        raise HistoryError(
            f"unsupported history database URL scheme {scheme + '://'!r} in {redact_url(db)!r}:"
            " give a SQLite file path or postgresql://..."
        )
    try:
        path = Path(db) if db else default_db_path()
        return _open_sqlite(path, own_directory=not db)
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot open history database {db}: {exc}") from exc


@contextmanager
def store_at(db: str | None) -> Iterator[Store]:
    store = open_store(db)
    try:
        yield store
    finally:
        store.close()
