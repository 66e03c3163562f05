"""The HTTP client's deadline-bound reader, against a real loopback TCP server."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings

import pytest

from scanner.dialer import Connection
from scanner.protocols.http_client import _Reader


async def test_a_spent_deadline_raises_and_leaves_no_read_unawaited() -> None:
    """A read asked for after the exchange's deadline raises TimeoutError at once, and no
    coroutine is left behind (Python warns 'StreamReader.read was never awaited' otherwise)."""

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\n")
        await w.drain()
        await asyncio.sleep(0.5)
        w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = Connection(reader, writer, host="127.0.0.1", port=port, read_timeout=1.0)
        live = _Reader(conn, time.monotonic() + 5)
        assert await live.fill() and bytes(live.buf).startswith(b"HTTP/1.1 200")
        spent = _Reader(conn, time.monotonic() - 0.001)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(TimeoutError):
                await spent.fill()
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], caught
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
