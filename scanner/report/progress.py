"""The progress line on stderr while a scan runs (a live line on a terminal, or a plain line
every few seconds). rich is imported only when a progress line is shown: a quiet scan does not
pay for it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True)
class ProgressSnapshot:
    """What the scan has done so far (the engine's counters at one moment)."""

    done: int
    """Host-port pairs swept (and UDP attempts fed) so far."""
    total: int
    open: int
    handled: int
    """Open ports whose probing finished."""
    findings: int
    sweep_done: bool


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class RateMeter:
    """Pairs per second over the last ``window`` seconds, and the time left at that rate."""

    def __init__(self, window: float = 20.0) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, done: int) -> float:
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()
        t0, d0 = self.samples[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0


def progress_text(snap: ProgressSnapshot, rate: float, elapsed: float) -> str:
    """One progress line: percentage, rate and ETA of the sweep, open ports and findings."""
    tail = f"{snap.open:,} open, {snap.handled:,} probed, {snap.findings:,} findings"
    if not snap.sweep_done and snap.total:
        pct = 100.0 * min(snap.done, snap.total) / snap.total
        left = snap.total - snap.done
        eta = _duration(left / rate) if rate > 0 else "?"
        return (
            f"sweep {pct:5.1f}% ({snap.done:,}/{snap.total:,} pairs), {rate:,.0f}/s, "
            f"ETA {eta}; {tail}; {_duration(elapsed)} elapsed"
        )
    waiting = max(0, snap.open - snap.handled)
    return (
        f"sweep done ({snap.total:,} pairs); probing, {waiting:,} ports left; {tail}; "
        f"{_duration(elapsed)} elapsed"
    )


@contextlib.asynccontextmanager
async def progress_display(
    snapshot: Callable[[], ProgressSnapshot],
    *,
    enabled: bool,
    console: Console | None = None,
    line_every: float | None = None,
) -> AsyncIterator[None]:
    """Progress on stderr while the scan runs: a live line on a terminal, refreshed 5 times a
    second; or, with ``line_every`` (stderr not a terminal, ``-v``), one plain line that often.
    """
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    out = console or Console(stderr=True)
    meter = RateMeter()
    started = time.monotonic()

    def describe() -> str:
        snap = snapshot()
        now = time.monotonic()
        return progress_text(snap, meter.add(now, snap.done), now - started)

    if line_every is not None:

        async def lines() -> None:
            while True:
                await asyncio.sleep(line_every)
                out.print(f"nasscan: {describe()}", markup=False, highlight=False,
                          soft_wrap=True)

        task = asyncio.create_task(lines())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), console=out,
                        transient=True)
    task_id = progress.add_task(describe(), total=None)

    async def refresh() -> None:
        while True:
            progress.update(task_id, description=describe())
            await asyncio.sleep(0.2)

    with progress:
        updater = asyncio.create_task(refresh())
        try:
            yield
        finally:
            updater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await updater
