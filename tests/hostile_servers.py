"""In-process hostile servers for the probe tests (tests/probes/*/test_hostile_*.py): a bounded
server per handler, an endless writer, and a probe run measured in time and peak memory."""

from __future__ import annotations

import asyncio
import contextlib
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable

from scanner.models import ProbeResult, ServiceInfo
from scanner.probe import ProbeContext

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
BUDGET = 8.0  # the probe's whole-attempt timeout in these tests
SEND_CAP = 64 * 1024 * 1024  # what an endless server may push at most (bounded test servers)


@contextlib.asynccontextmanager
async def serve(host: str, handler: Handler, port: int = 0) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()

    async def wrapped(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await asyncio.wait_for(handler(r, w), 30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(wrapped, host, port)
    bound = server.sockets[0].getsockname()[1]
    try:
        yield bound
    finally:
        server.close()
        for t in tasks:
            t.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


async def endless(w: asyncio.StreamWriter, chunk: bytes) -> None:
    sent = 0
    while sent < SEND_CAP:
        w.write(chunk)
        await w.drain()
        sent += len(chunk)


async def probe(
    probe_obj: object, host: str, port: int, make_ctx: Callable[..., ProbeContext], **kw: object
) -> tuple[ProbeResult, float, int]:
    ctx = make_ctx(timeout=BUDGET, **kw)
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        result = await asyncio.wait_for(
            probe_obj.run(ServiceInfo(host=host, port=port), ctx),  # type: ignore[attr-defined]
            BUDGET + 5,
        )
    finally:
        elapsed = time.monotonic() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, elapsed, peak


MEMORY_BOUND = 24 * 1024 * 1024
