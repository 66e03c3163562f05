"""A small, bounded HTTP/1.1 client over the dialer (``ctx.dialer.tcp``).

Why not aiohttp here: a scanner needs every connection scope-checked and counted by the dialer,
hard caps on header and body bytes, a deadline over the *whole* exchange (a slow drip of bytes
must not keep a probe alive), no automatic redirects, no cookies, no connection pooling across
hosts and no decompression. aiohttp can be bent to most of that with a custom connector, but the
result is more code than this client, and it still owns its sockets. So: one request per
connection (``Connection: close``), explicit limits, nothing hidden.

``HttpTarget.first_bytes`` is the one call that reads a file body (``--sample-bytes N``,
intrusive, off by default): ``GET`` with ``Range: bytes=0-(N-1)`` and a hard cap of N body bytes
taken from the connection whatever the server does (ignores Range, lies in Content-Length or
Content-Range, sends an endless body); then the connection is closed.

``HttpTarget`` remembers whether the service spoke TLS: ``probe_scheme`` tries a TLS handshake
first and falls back to plaintext, which is how a plain-HTTP server on port 443 is noticed.

A body can be read as it streams: ``request(consumer=...)`` is given the response's head and
may hand back a ``BodyConsumer`` that is fed the body as it comes off the connection
(de-chunked, within the byte bound, in pieces of ``FEED_PIECE``). When it says it needs no more,
nothing further is read and the connection is closed; such a request keeps a small receive
window (``STREAM_WINDOW``), so the server cannot have pushed much more than was read. The HTTP
probe parses listing pages this way (``listing_stream.ListingStream``) and stops at the entry
bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from scanner.dialer import Connection, Dialer
from scanner.protocols.http_cache import ResponseCache, cache_key

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 200
FEED_PIECE = 65536
"""A body consumer is fed pieces of this size (the last one shorter) whatever sizes the network
delivers, so where it stops, and so the body kept, depends on the body alone, not on timing; an
answer from the cache is fed the same way."""
MAX_PAGE_BODY = 2 * 1024 * 1024
"""Body bytes of one page the HTTP-speaking probes read at most (also capped by the listing
byte bound): the same cap everywhere, so that one probe's cached page serves the next."""
USER_AGENT = "nasscan/0.1 (+read-only storage exposure scanner)"
STREAM_WINDOW = 64 * 1024
"""Receive buffer (SO_RCVBUF, set before the request is sent; Linux doubles it) and read-ahead
of a connection whose body a consumer reads: when the consumer stops the read, the server has
sent at most about twice this beyond what was taken. Left to autotuning and to asyncio's
read-ahead (the dialer's 1 MiB stream limit) both grow to megabytes on a fast link, all of it
sent for nothing once the read stops (the lab's 100,000-entry page: 2-3.5 MB sent by nginx for
0.33 MB taken)."""


class HttpError(Exception):
    """The server's reply was not HTTP, or broke the client's limits."""


class BodyConsumer(Protocol):
    """Takes a body piece by piece as it arrives (``HttpTarget.request(consumer=...)``)."""

    def feed(self, data: bytes) -> bool:
        """The next body bytes; True: read no further (the connection is closed)."""
        ...


ConsumerFactory = Callable[["HttpResponse"], BodyConsumer | None]
"""Given the response's head (status, headers; no body yet): a consumer, or None to read the
body as usual."""


@dataclass
class HttpResponse:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Header (lower-cased name, value) pairs in the order received."""
    body: bytes = b""
    truncated: bool = False
    """True when the body was cut at the byte limit (or the deadline)."""
    head_bytes: int = 0
    """Bytes of the status line and headers (the last head, after any 100 Continue)."""
    received: int = 0
    """Every byte taken from the connection for this exchange (heads, framing, body)."""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def headers_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    @property
    def content_type(self) -> str:
        return self.header("content-type") or ""


def _build_request(
    method: str, path: str, host: str, headers: dict[str, str] | None, body: bytes
) -> bytes:
    if any(c in path for c in "\r\n ") or not path.startswith("/"):
        raise ValueError(f"bad request path {path!r}")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"User-Agent: {USER_AGENT}"]
    lines += ["Accept: */*", "Accept-Encoding: identity", "Connection: close"]
    for k, v in (headers or {}).items():
        if any(c in k + v for c in "\r\n"):
            raise ValueError("header injection")
        lines.append(f"{k}: {v}")
    if body or method in ("PROPFIND", "POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Reader:
    """Reads from a connection under one absolute deadline."""

    def __init__(self, conn: Connection, deadline: float, chunk: int = 65536) -> None:
        self.conn = conn
        self.deadline = deadline
        self.chunk = max(1, min(chunk, 65536))
        """Largest single read: with a small body cap, heads are read in small pieces so
        that at most ``chunk`` body bytes arrive together with the head."""
        self.buf = bytearray()
        self.eof = False
        self.received = 0

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("HTTP exchange exceeded its deadline")
        return left

    async def fill(self, want: int | None = None) -> bool:
        if self.eof:
            return False
        want = self.chunk if want is None else max(1, min(want, 65536))
        left = self._left()  # first: a spent deadline must not leave a read never awaited
        chunk = await asyncio.wait_for(self.conn.reader.read(want), left)
        if not chunk:
            self.eof = True
            return False
        self.received += len(chunk)
        self.buf += chunk
        return True

    async def read_until(self, sep: bytes, limit: int, want: int | None = None) -> bytes:
        """Up to and including ``sep``; reads of at most ``want`` bytes (default ``chunk``)."""
        while True:
            idx = self.buf.find(sep)
            if idx >= 0:
                out = bytes(self.buf[: idx + len(sep)])
                del self.buf[: idx + len(sep)]
                return out
            if len(self.buf) > limit:
                raise HttpError("header or chunk line too long")
            if not await self.fill(want):
                raise HttpError("connection closed mid-message")

    async def take(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self.fill(min(65536, n - len(self.buf))):
                break
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class _Body:
    """The body being read; with a consumer, handed on in pieces of ``FEED_PIECE`` bytes as
    soon as each is complete (the last, shorter one when the body or the read ends)."""

    def __init__(self, consumer: BodyConsumer | None) -> None:
        self.data = bytearray()
        self.consumer = consumer
        self.fed = 0
        self.stopped = False
        """The consumer said it needs no more."""

    def __len__(self) -> int:
        return len(self.data)

    def add(self, piece: bytes | bytearray) -> None:
        self.data += piece
        while not self.stopped and self.consumer is not None and (
            len(self.data) - self.fed >= FEED_PIECE
        ):
            self._feed(self.fed + FEED_PIECE)

    def finish(self) -> None:
        """The body (or the read) ended: the last piece."""
        if not self.stopped and self.consumer is not None and len(self.data) > self.fed:
            self._feed(len(self.data))

    def _feed(self, end: int) -> None:
        assert self.consumer is not None
        piece = bytes(self.data[self.fed : end])
        self.fed = end
        if self.consumer.feed(piece):
            self.stopped = True
            del self.data[end:]  # taken with the piece it stopped in: not part of the body

    async def take(self, r: _Reader, n: int) -> None:
        """``n`` more body bytes from ``r`` (fewer at EOF or when the consumer stops), each
        piece handed on as it arrives; never reads past the ``n``."""
        while n > 0 and not self.stopped:
            if not r.buf and not await r.fill(min(65536, n)):
                return
            piece = r.buf[:n]
            del r.buf[: len(piece)]
            n -= len(piece)
            self.add(piece)


def parse_head(head: bytes) -> tuple[str, int, str, list[tuple[str, str]]]:
    """Status line and headers of an HTTP/1.x response head (ending in CRLFCRLF)."""
    text = head.decode("latin-1")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    code_ok = len(parts) >= 2 and len(parts[1]) == 3 and parts[1].isascii() and parts[1].isdigit()
    if not code_ok or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"not an HTTP response: {status_line[:60]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if len(headers) >= MAX_HEADERS:
            raise HttpError("too many headers")
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip().lower(), value.strip()))
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def _bound_window(conn: Connection) -> None:
    sock = conn.writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STREAM_WINDOW)


def _has_body(method: str, status: int) -> bool:
    return method != "HEAD" and status not in (204, 304) and not 100 <= status < 200


async def _read_response(
    r: _Reader, method: str, max_body: int, consumer: ConsumerFactory | None = None
) -> HttpResponse:
    while True:
        head = await r.read_until(b"\r\n\r\n", MAX_HEADER_BYTES)
        version, status, reason, headers = parse_head(head)
        if status != 100:
            break
    resp = HttpResponse(status=status, reason=reason, version=version, headers=headers)
    resp.head_bytes = len(head)
    if not _has_body(method, status):
        return resp
    te = (resp.header("transfer-encoding") or "").lower()
    body = _Body(None if consumer is None else consumer(resp))
    try:
        if "chunked" in te:
            while True:
                # read no further ahead than the body's room (at least a chunk-size line)
                room = max_body - len(body)
                line = await r.read_until(b"\r\n", 1024, max(16, min(room, r.chunk)))
                size_txt = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_txt, 16)
                except ValueError:
                    raise HttpError("bad chunk size") from None
                if size == 0:
                    break
                room = max_body - len(body)
                if size > room:
                    await body.take(r, room)
                    resp.truncated = True
                    break
                await body.take(r, size)
                if body.stopped:
                    break
                await r.take(2)
            resp.truncated = resp.truncated or body.stopped
        elif resp.header("content-length") is not None:
            try:
                length = int(resp.header("content-length") or "0")
            except ValueError:
                raise HttpError("bad Content-Length") from None
            want = min(length, max_body)
            await body.take(r, want)
            resp.truncated = length > max_body or (body.stopped and len(body) < length)
        else:
            # until EOF, but never more than max_body bytes: a body the server ends by closing
            # that is exactly max_body long counts as truncated (no byte beyond the cap is read)
            while True:
                room = max_body - len(body)
                piece = r.buf[:room]
                del r.buf[:room]
                body.add(piece)
                if body.stopped or len(body) >= max_body or not await r.fill(max_body - len(body)):
                    break
            resp.truncated = body.stopped or bool(r.buf) or (len(body) == max_body and not r.eof)
    except TimeoutError:
        # a slow drip: keep what arrived, mark it cut
        body.add(r.buf[: max(0, max_body - len(body))])
        resp.truncated = True
    body.finish()
    resp.body = bytes(body.data[:max_body])
    resp.received = r.received
    return resp


def _replay(resp: HttpResponse, method: str, consumer: ConsumerFactory | None) -> HttpResponse:
    """A cached answer handed to a consumer as a connection's would be (pieces of
    ``FEED_PIECE``); the body is cut after the piece where it stopped."""
    sink = None if consumer is None or not _has_body(method, resp.status) else consumer(resp)
    if sink is None:
        return resp
    for start in range(0, len(resp.body), FEED_PIECE):
        if sink.feed(resp.body[start : start + FEED_PIECE]):
            end = start + FEED_PIECE
            if end < len(resp.body):
                return dataclasses.replace(resp, body=resp.body[:end], truncated=True)
            break
    return resp


@dataclass
class HttpTarget:
    """One HTTP service: address, port, the Host header to send, and TLS once known."""

    dialer: Dialer
    host: str
    port: int
    tls: bool | None = None
    host_header: str | None = None
    request_timeout: float = 10.0
    max_body: int = 1024 * 1024
    requests: int = 0
    bytes_read: int = 0
    cache: ResponseCache | None = None
    """The service's shared responses (``ProbeContext.responses``); None: always ask."""
    cached: int = 0
    """Requests answered from ``cache`` (not sent, not in ``requests``)."""

    @property
    def authority(self) -> str:
        if self.host_header:
            return self.host_header
        h = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return h if self.port == default else f"{h}:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        max_body: int | None = None,
        timeout: float | None = None,
        read_chunk: int = 65536,
        consumer: ConsumerFactory | None = None,
    ) -> HttpResponse:
        """One request on a fresh connection; raises OSError/TimeoutError/HttpError.

        At most ``max_body`` body bytes are taken; the connection is closed right after.
        With a ``cache``, a read-only request another probe of this service already made is
        answered from it (cut to ``max_body``), without a connection.

        ``consumer``: called with the response's head once it is read (also for an answer
        from the cache); the consumer it gives (or None) is fed every body byte, in order, in
        pieces of ``FEED_PIECE`` as they complete. When it says it needs no more, nothing
        further is read, the connection is closed and the body is what was fed (``truncated`` unless
        Content-Length says it was all); that is what the cache keeps too, so it serves only
        requests that read no further."""
        if self.tls is None:
            await self.probe_scheme()
        limit = self.max_body if max_body is None else max_body
        key = None
        if self.cache is not None:
            key = cache_key(
                tls=bool(self.tls), host=self.host, port=self.port, authority=self.authority,
                method=method, path=path, headers=headers, body=body,
            )  # fmt: skip
            hit = None if key is None else self.cache.get(key, limit)
            if hit is not None:
                self.cached += 1
                return _replay(hit, method, consumer)
        budget = timeout or self.request_timeout
        deadline = time.monotonic() + budget
        self.requests += 1
        data = _build_request(method, path, self.authority, headers, body)
        read_ahead = 1 << 20 if consumer is None else STREAM_WINDOW // 2
        async with self.dialer.tcp(
            self.host, self.port, tls=bool(self.tls), limit=read_ahead
        ) as conn:
            if consumer is not None:
                _bound_window(conn)
            await asyncio.wait_for(conn.send(data), budget)
            reader = _Reader(conn, deadline, read_chunk)
            resp = await _read_response(reader, method, limit, consumer)
        self.bytes_read += len(resp.body)
        if key is not None and self.cache is not None:
            self.cache.put(key, resp)
        return resp

    async def first_bytes(self, path: str, n: int, *, timeout: float | None = None) -> HttpResponse:
        """INTRUSIVE (``--sample-bytes N``): the first ``n`` bytes of a file at ``path``.

        ``GET`` with ``Range: bytes=0-(n-1)``; whatever the server sends (206, or 200 with the
        whole file when it ignores Range, or an endless body), at most ``n`` body bytes are
        taken and the connection is closed. Heads are read in pieces of ``max(512, n)`` bytes,
        so at most that many body bytes are ever taken off the connection. No redirects are
        followed. ``resp.status`` 206 means the server honoured the range."""
        if n <= 0:
            raise ValueError("first_bytes needs n >= 1")
        return await self.request(
            "GET", path, headers={"Range": f"bytes=0-{n - 1}"}, max_body=n, timeout=timeout,
            read_chunk=max(512, n),
        )  # fmt: skip

    async def probe_scheme(self, timeout: float | None = None) -> bool:
        """TLS or not: try a handshake first, fall back to plaintext. Returns ``self.tls``.

        With a ``cache``, what an earlier probe of this service found is taken from it."""
        known = None if self.cache is None else self.cache.schemes.get((self.host, self.port))
        if known is not None:
            self.tls = known
            return known
        try:
            async with self.dialer.tcp(self.host, self.port, tls=True) as conn:
                self.tls = conn.tls
        except (ssl.SSLError, ConnectionResetError, TimeoutError, asyncio.IncompleteReadError):
            self.tls = False
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError):
                raise
            self.tls = False
        if self.cache is not None:
            self.cache.schemes[(self.host, self.port)] = bool(self.tls)
        return bool(self.tls)


async def looks_like_http(dialer: Dialer, host: str, port: int, *, timeout: float = 3.0) -> bool:
    """Cheap detection: plaintext ``HEAD /``, then over TLS; True when an HTTP status came back."""
    for tls in (False, True):
        with contextlib.suppress(OSError, TimeoutError, HttpError, ValueError, ssl.SSLError):
            t = HttpTarget(dialer, host, port, tls=tls, request_timeout=timeout, max_body=0)
            await t.request("HEAD", "/")
            return True
    return False
