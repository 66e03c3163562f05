"""One in-process HTTP server for probe tests: every request is answered by a function.

``serve_answers(addr, answer)`` listens on a loopback address (any port) and answers each
connection's one request with ``answer(method, target) -> (status, content type, body)``; a 301
points at ``target + '/'``, a HEAD gets no body, a request body (PROPFIND) is read and dropped,
a TLS ClientHello is hung up on. ``log`` collects ``"METHOD target"`` per request (tests count
requests at the server); ``server`` sets a ``Server:`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

Answer = Callable[[str, str], tuple[int, str, bytes]]


@contextlib.asynccontextmanager
async def serve_answers(
    addr: str, answer: Answer, *, log: list[str] | None = None, server: str | None = None
) -> AsyncIterator[int]:
    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            first = await asyncio.wait_for(r.read(1), 5)
            if not first or first == b"\x16":  # nothing, or a TLS handshake: not here
                return
            head = first + await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            text = head.decode("latin-1")
            method, target = text.split(" ", 2)[:2]
            length = 0
            for line in text.split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if length:
                await asyncio.wait_for(r.readexactly(length), 5)
            if log is not None:
                log.append(f"{method} {target}")
            status, ctype, body = answer(method, target)
            extra = f"Location: {target}/\r\n" if status == 301 else ""
            extra += f"Server: {server}\r\n" if server else ""
            w.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                f"{extra}Connection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                w.write(body)
            await w.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
            pass  # LimitOverrunError is a ValueError
        finally:
            w.close()

    srv = await asyncio.start_server(on_conn, addr, 0)
    try:
        yield int(srv.sockets[0].getsockname()[1])
    finally:
        srv.close()
        await srv.wait_closed()
