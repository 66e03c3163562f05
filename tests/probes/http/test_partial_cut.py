"""A listing whose subdirectories never answer: the attempt ends within its timeout and still
reports the root listing it saw (partial facts judged), whichever of the crawl's own deadline or
the skeleton's cut ends it. In-process server on 127.0.66.20."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from probes.http import PROBE
from scanner.models import Kind, ServiceInfo, Status
from scanner.probe import ListingBounds, ProbeContext

ADDR = "127.0.66.20"
TIMEOUT = 4.0
ROOT = (
    b"<html><head><title>Index of /</title></head><body><h1>Index of /</h1><hr><pre>"
    b'<a href="../">../</a>\n'
    + b"".join(
        b'<a href="d%d/">d%d/</a>      14-Mar-2019 10:15       -\n'
        b'<a href="f%d.wav">f%d.wav</a>     14-Mar-2019 10:15    1234\n' % (i, i, i, i)
        for i in range(4)
    )
    + b"</pre><hr></body></html>"
)


@contextlib.asynccontextmanager
async def hanging_below_root() -> AsyncIterator[int]:
    """``GET /`` is a listing; every other path is accepted and never answered."""
    tasks: set[asyncio.Task[None]] = set()

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            method, path = head.decode("latin-1").split(" ", 2)[:2]
            if method == "GET" and path == "/":
                w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                        b"Connection: close\r\n\r\n%s" % (len(ROOT), ROOT))
                await w.drain()
            else:
                await asyncio.sleep(60)  # hangs: cancelled when the test ends
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            tasks.discard(task)
            w.close()

    server = await asyncio.start_server(on_conn, ADDR, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for t in list(tasks):
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_root_listing_survives_a_cut_in_the_crawl(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    async with hanging_below_root() as port:
        ctx = make_ctx(timeout=TIMEOUT, bounds=ListingBounds(requests=20),
                       options={"http.paths": "/", "http.dav_paths": ""})
        t0 = time.monotonic()
        res = await asyncio.wait_for(PROBE.run(ServiceInfo(host=ADDR, port=port), ctx),
                                     TIMEOUT + 2)
        elapsed = time.monotonic() - t0
    assert elapsed < TIMEOUT
    assert res.status in (Status.SUCCESS, Status.TIMEOUT), res.detail
    (f,) = [x for x in res.findings if x.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.resource == "/" and f.listing is not None and f.listing.truncated
    paths = {e.path for e in f.listing.entries}
    assert {"/f0.wav", "/d3"} <= paths and not any(p.count("/") > 1 for p in paths)
    if res.status is Status.TIMEOUT:  # the skeleton's cut: judged as far as it got
        assert f.listing.stopped_by is not None
