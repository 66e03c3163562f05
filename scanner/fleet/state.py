"""The parts of a fleet scan in the history store (table ``fleet_shards``, migration 3).

One row per shard task: which queue it went to, which targets and shard ``I/N`` it covers, its
state (``queued`` -> ``running`` -> ``done`` | ``failed``), which worker holds it, how often it was
started, its counts and error. Workers claim a part with an optimistic update on ``attempts``, so
two deliveries of the same message never run it twice at once; a running part whose heartbeat is
older than the staleness limit belongs to a dead worker and may be taken over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scanner.history.store import ABORTED, FINISHED, RUNNING, Store
from scanner.models import utcnow

QUEUED, STARTED, DONE, FAILED = "queued", "running", "done", "failed"
TERMINAL = (DONE, FAILED)


@dataclass(frozen=True)
class Part:
    scan_id: str
    part: int
    queue: str
    shard: str
    targets: list[str]
    state: str
    worker: str | None
    attempts: int
    services: int
    findings: int
    error: str | None
    stats: dict[str, Any] | None
    updated_at: str
    heartbeat_at: str | None

    def heartbeat_age(self, now: datetime | None = None) -> float | None:
        if not self.heartbeat_at:
            return None
        beat = datetime.fromisoformat(self.heartbeat_at)
        return ((now or datetime.now(UTC)) - beat).total_seconds()


_COLUMNS = (
    "scan_id, part, queue, shard, targets, state, worker, attempts, services, findings, error,"
    " stats, updated_at, heartbeat_at"
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _part(r: Any) -> Part:
    return Part(
        scan_id=str(r[0]), part=int(r[1]), queue=str(r[2]), shard=str(r[3]),
        targets=json.loads(r[4]), state=str(r[5]), worker=r[6], attempts=int(r[7]),
        services=int(r[8]), findings=int(r[9]), error=r[10],
        stats=json.loads(r[11]) if r[11] else None, updated_at=str(r[12]), heartbeat_at=r[13],
    )


def add_parts(store: Store, scan_id: str, parts: list[tuple[str, str, list[str]]]) -> None:
    """``parts``: (queue, shard "I/N", targets) in part order, all ``queued``."""
    now = _now()
    for number, (queue, shard, targets) in enumerate(parts):
        store.execute(
            f"INSERT INTO fleet_shards ({_COLUMNS}) VALUES"
            " (?, ?, ?, ?, ?, ?, NULL, 0, 0, 0, NULL, NULL, ?, NULL)",
            (scan_id, number, queue, shard, json.dumps(targets), QUEUED, now),
        )
    store.commit()


def parts(store: Store, scan_id: str) -> list[Part]:
    rows = store.execute(
        f"SELECT {_COLUMNS} FROM fleet_shards WHERE scan_id = ? ORDER BY part", (scan_id,)
    ).fetchall()
    return [_part(r) for r in rows]


def get_part(store: Store, scan_id: str, number: int) -> Part | None:
    r = store.execute(
        f"SELECT {_COLUMNS} FROM fleet_shards WHERE scan_id = ? AND part = ?", (scan_id, number)
    ).fetchone()
    store.commit()  # end the read transaction: the next read sees other workers' commits
    return _part(r) if r else None


def claim(store: Store, part: Part, worker: str) -> bool:
    """Mark ``part`` running on ``worker`` unless someone else changed it since it was read."""
    now = _now()
    cur = store.execute(
        "UPDATE fleet_shards SET state = ?, worker = ?, attempts = attempts + 1, error = NULL,"
        " updated_at = ?, heartbeat_at = ? WHERE scan_id = ? AND part = ? AND attempts = ?"
        " AND state = ?",
        (STARTED, worker, now, now, part.scan_id, part.part, part.attempts, part.state),
    )
    store.commit()
    return bool(cur.rowcount == 1)


def heartbeat(
    store: Store, scan_id: str, number: int, worker: str, counts: tuple[int, int]
) -> None:
    store.execute(
        "UPDATE fleet_shards SET heartbeat_at = ?, services = ?, findings = ? WHERE scan_id = ?"
        " AND part = ? AND worker = ? AND state = ?",
        (_now(), counts[0], counts[1], scan_id, number, worker, STARTED),
    )
    store.commit()


def finish_part(
    store: Store,
    scan_id: str,
    number: int,
    *,
    state: str,
    counts: tuple[int, int] = (0, 0),
    error: str | None = None,
    stats: dict[str, Any] | None = None,
) -> None:
    now = _now()
    store.execute(
        "UPDATE fleet_shards SET state = ?, services = ?, findings = ?, error = ?, stats = ?,"
        " updated_at = ?, heartbeat_at = ? WHERE scan_id = ? AND part = ?",
        (state, counts[0], counts[1], error, json.dumps(stats, default=str) if stats else None,
         now, now, scan_id, number),
    )
    store.commit()


def _merged_sweep(done: list[Part]) -> dict[str, int]:
    total: dict[str, int] = {}
    for p in done:
        sweep = (p.stats or {}).get("sweep") or {}
        for key, value in sweep.items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return total


def maybe_finish_scan(store: Store, scan_id: str) -> bool:
    """When every part is done or failed, close the scan (idempotent); True when closed.

    The scan's scope gets the fleet's facts (parts, queues, failed parts) and the sweep counts
    summed over the parts; a scan with a failed part is recorded as ``aborted`` (incomplete).
    """
    all_parts = parts(store, scan_id)
    store.commit()
    if not all_parts or any(p.state not in TERMINAL for p in all_parts):
        return False
    row = store.get_scan(scan_id)
    if row.status != RUNNING:
        return True
    report = store.load_report(scan_id)
    failed = [p for p in all_parts if p.state == FAILED]
    done = [p for p in all_parts if p.state == DONE]
    scope = dict(report.scope)
    scope["sweep"] = _merged_sweep(done)
    scope["fleet"] = {
        "parts": len(all_parts),
        "queues": sorted({p.queue for p in all_parts}),
        "workers": sorted({p.worker for p in all_parts if p.worker}),
        "failed": [{"part": p.part, "queue": p.queue, "shard": p.shard, "error": p.error}
                   for p in failed],
    }
    report.scope = scope
    report.aborted = bool(failed)
    report.finished_at = utcnow()
    store.finish_scan(scan_id, report)
    return True


def scan_status(store: Store, scan_id: str) -> str:
    status = store.get_scan(scan_id).status
    return {FINISHED: "finished", ABORTED: "incomplete"}.get(status, status)
