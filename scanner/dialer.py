"""The one dialer: every connection any probe opens goes through here.

The framework dials, the module talks (zgrab2's idea). The dialer refuses any address outside
scope-minus-exclusions and applies the global rate of new connections, the global concurrency,
a per-host cap and the connect/read timeouts. Probes receive a ``Dialer`` in their context and
never create sockets themselves; blocking libraries get a connected socket from
``blocking_socket`` and run in the bounded thread pool of ``run_blocking``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# Linux: ICMP errors for an unconnected UDP socket are reported only with IP(V6)_RECVERR.
_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
_IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)


class ScopeCheck(Protocol):
    def __contains__(self, address: object) -> bool: ...


class OutOfScopeError(PermissionError):
    """A dial to an address outside scope-minus-exclusions. Never sent."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"refused to dial {host}:{port}: outside the scan scope")
        self.host = host
        self.port = port


class RateLimiter:
    """Token bucket over new connections per second, shared by the sweep and every probe."""

    def __init__(self, rate: float | None, burst: int | None = None) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.capacity = float(burst if burst else max(1, int(self.rate or 1) // 10 or 1))
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        assert self.rate is not None
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_take(self, n: int = 1) -> int:
        """Take up to ``n`` tokens without waiting; returns how many were taken."""
        if self.rate is None:
            return n
        self._refill()
        took = min(n, int(self._tokens))
        self._tokens -= took
        return took

    def delay_for_one(self) -> float:
        """Seconds until one token is available (0 if one is available now)."""
        if self.rate is None:
            return 0.0
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    async def acquire(self) -> None:
        if self.rate is None:
            return
        async with self._lock:
            while True:
                if self.try_take(1):
                    return
                await asyncio.sleep(self.delay_for_one())


class Connection:
    """A dialed TCP (optionally TLS) stream with bounded, timed reads."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        host: str,
        port: int,
        read_timeout: float,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.port = port
        self.read_timeout = read_timeout

    @property
    def tls(self) -> bool:
        return self.writer.get_extra_info("ssl_object") is not None

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), self.read_timeout)

    async def recv(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes`` from what is available; b'' at EOF."""
        return await asyncio.wait_for(self.reader.read(max_bytes), timeout or self.read_timeout)

    async def recv_exactly(self, n: int, timeout: float | None = None) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(n), timeout or self.read_timeout)

    async def recv_line(self, limit: int = 8192, timeout: float | None = None) -> bytes:
        """One line ending in b'\\n', at most ``limit`` bytes; raises ValueError if longer.

        One timer for the whole line (not one per byte: ``wait_for`` costs a task each time, so
        a server pushing an endless line used to make this CPU-bound and slower than its
        timeout). Bytes already buffered are taken without yielding to the loop.
        """
        return await asyncio.wait_for(
            self._read_line(limit), timeout or self.read_timeout
        )

    async def _read_line(self, limit: int) -> bytes:
        buf = bytearray()
        while True:
            chunk = await self.reader.read(1)
            if not chunk:
                return bytes(buf)
            buf += chunk
            if chunk == b"\n":
                return bytes(buf)
            if len(buf) >= limit:
                raise ValueError(f"line longer than {limit} bytes")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


class UdpSocket:
    """A non-blocking UDP socket on the loop whose ``recv`` ends at once on an ICMP error.

    Connected sockets (``Dialer.udp``) learn of an ICMP port unreachable by themselves; the
    unconnected ones (``Dialer.udp_reply_from``) have ``IP_RECVERR`` set so they do too. Either
    way the waiting ``recv()`` raises ``ConnectionRefusedError`` (or the matching ``OSError``)
    as soon as the error arrives instead of waiting out its timeout.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._loop = asyncio.get_running_loop()

    async def send(self, data: bytes, addr: tuple[str, int] | None = None) -> None:
        if addr is None:
            await self._loop.sock_sendall(self.sock, data)
        else:
            await self._loop.sock_sendto(self.sock, data, addr)

    async def recv(self, max_bytes: int = 65535) -> tuple[bytes, tuple[str, int]]:
        """One datagram and its sender; raises on a reported ICMP error."""
        data, addr = await self._loop.sock_recvfrom(self.sock, max_bytes)
        return data, (str(addr[0]), int(addr[1]))

    def close(self) -> None:
        self.sock.close()


def _udp_socket(host: str, *, recverr: bool, bind: tuple[str, int] | None) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        if recverr:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
        if bind is not None:
            sock.bind(bind)
    except BaseException:
        sock.close()
        raise
    return sock


def _insecure_tls_context() -> ssl.SSLContext:
    """Scanners must talk to self-signed servers: no verification, any protocol version."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError):
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


class Dialer:
    """Scope-checked, rate-limited, concurrency-capped connections for probes."""

    def __init__(
        self,
        scope: ScopeCheck,
        *,
        rate: float | None = None,
        concurrency: int = 256,
        per_host: int = 8,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        threads: int = 16,
    ) -> None:
        self.scope = scope
        self.rate = RateLimiter(rate)
        self.concurrency = concurrency
        self.per_host = per_host
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._global = asyncio.Semaphore(concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._host_users: dict[str, int] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nasscan-blocking")
        self.tls_context = _insecure_tls_context()
        self.dials = 0
        self.refused_out_of_scope = 0

    # -- scope -------------------------------------------------------------------------------
    def check(self, host: str, port: int) -> None:
        """Raise ``OutOfScopeError`` unless ``host`` is an in-scope IP address literal."""
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address
        try:  # inet_pton: strict literals only, and much cheaper than parsing in Python
            if ":" in host:
                addr = ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, host))
            else:
                addr = ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, host))
        except (OSError, ValueError, TypeError):
            self.refused_out_of_scope += 1
            raise OutOfScopeError(host, port) from None
        if addr not in self.scope:
            self.refused_out_of_scope += 1
            raise OutOfScopeError(host, port)

    # -- slots ---------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(self, host: str, port: int) -> AsyncIterator[None]:
        """Hold one global and one per-host connection slot, after taking a rate token."""
        self.check(host, port)
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.per_host)
        self._host_users[host] = self._host_users.get(host, 0) + 1
        try:
            async with sem, self._global:
                await self.rate.acquire()
                self.dials += 1
                yield
        finally:
            self._host_users[host] -= 1
            if self._host_users[host] == 0:
                del self._host_users[host]
                self._hosts.pop(host, None)

    def in_use(self, host: str) -> int:
        """Connections currently held to ``host`` (for tests of the per-host cap)."""
        sem = self._hosts.get(host)
        return 0 if sem is None else self.per_host - sem._value

    # -- TCP / TLS -----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def tcp(
        self,
        host: str,
        port: int,
        *,
        tls: bool | ssl.SSLContext = False,
        server_hostname: str | None = None,
        limit: int = 1 << 20,
        source_port: int | None = None,
    ) -> AsyncIterator[Connection]:
        """Connect (and optionally do a TLS handshake); the connection closes on exit.

        ``source_port`` binds a local port first (NFS servers often demand one below 1024).
        """
        async with self.slot(host, port):
            ssl_ctx: ssl.SSLContext | None = None
            if tls:
                ssl_ctx = tls if isinstance(tls, ssl.SSLContext) else self.tls_context
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host,
                    port,
                    ssl=ssl_ctx,
                    server_hostname=(server_hostname or "") if ssl_ctx else None,
                    limit=limit,
                    local_addr=_local_addr(host, source_port),
                ),
                self.connect_timeout,
            )
            conn = Connection(
                reader, writer, host=host, port=port, read_timeout=self.read_timeout
            )
            try:
                yield conn
            finally:
                await conn.close()

    # -- UDP -----------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def udp(
        self, host: str, port: int, *, source_port: int | None = None
    ) -> AsyncIterator[UdpSocket]:
        """A connected UDP socket to an in-scope address (an ICMP refusal ends ``recv``)."""
        async with self.slot(host, port):
            sock = _udp_socket(host, recverr=False, bind=_local_addr(host, source_port))
            try:
                sock.setblocking(False)
                sock.connect((host, port))
            except BaseException:
                sock.close()
                raise
            stream = UdpSocket(sock)
            try:
                yield stream
            finally:
                stream.close()

    async def udp_reply_from(self, host: str, port: int) -> UdpSocket:
        """An unconnected UDP socket for protocols whose replies come from another port (TFTP).

        ``IP_RECVERR`` is set, so an ICMP port unreachable from the target ends the wait at once.
        Sending is only allowed through ``send_udp`` which checks scope on every datagram.
        """
        self.check(host, port)
        return UdpSocket(_udp_socket(host, recverr=True, bind=None))

    async def send_udp(self, sock: UdpSocket, data: bytes, host: str, port: int) -> None:
        self.check(host, port)
        await self.rate.acquire()
        await sock.send(data, (host, port))

    # -- blocking libraries ---------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def blocking_socket(
        self, host: str, port: int, *, source_port: int | None = None
    ) -> AsyncIterator[socket.socket]:
        """A connected *blocking* socket for libraries that do their own I/O in a thread.

        The socket's timeout is the read timeout; it is closed on exit.
        """
        async with self.slot(host, port):
            sock = await self.run_blocking(
                _connect_blocking, host, port, self.connect_timeout, source_port
            )
            sock.settimeout(self.read_timeout)
            try:
                yield sock
            finally:
                with contextlib.suppress(OSError):
                    sock.close()

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking library code in the bounded thread pool; the loop never blocks."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _local_addr(host: str, source_port: int | None) -> tuple[str, int] | None:
    if source_port is None:
        return None
    return ("::" if ":" in host else "0.0.0.0", source_port)


def _connect_blocking(
    host: str, port: int, timeout: float, source_port: int | None
) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if source_port is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", source_port))
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
