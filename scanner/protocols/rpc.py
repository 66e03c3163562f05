"""ONC RPC v2 (RFC 5531) calls and replies over TCP (record marking) and UDP.

Credentials: AUTH_NULL and AUTH_SYS. Every reply is checked (xid, message type, accept state)
and every length is bounded before anything is allocated: a malformed or hostile reply ends in
``RPCProtocolError`` (or a subclass), never in a large allocation or an endless read.

When running as root the client binds a privileged source port (< 1024), which many NFS
servers demand ("secure" exports); without root it falls back to an ordinary port.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from scanner.protocols.xdr import Packer, Unpacker, XDRError

if TYPE_CHECKING:
    from scanner.dialer import Connection, Dialer

RPC_VERSION = 2
CALL = 0
REPLY = 1
MSG_ACCEPTED = 0
MSG_DENIED = 1

MAX_RECORD = 4 << 20
"""Largest RPC record (all fragments together) we accept on TCP."""
MAX_FRAGMENTS = 64
MAX_AUTH_BODY = 400
"""RFC 5531: opaque_auth bodies are at most 400 bytes."""
MAX_STRAY_DATAGRAMS = 8
"""UDP: replies with another xid (stale retransmits) skipped before giving up."""


class AuthFlavor(IntEnum):
    AUTH_NONE = 0
    AUTH_SYS = 1
    AUTH_SHORT = 2
    AUTH_DH = 3
    RPCSEC_GSS = 6
    # pseudo-flavours used by MOUNT/SECINFO to name Kerberos services (RFC 2623)
    KRB5 = 390003
    KRB5I = 390004
    KRB5P = 390005


def flavor_name(flavor: int) -> str:
    try:
        return AuthFlavor(flavor).name.lower().replace("auth_none", "none").replace("auth_", "")
    except ValueError:
        return f"flavor-{flavor}"


class AcceptStat(IntEnum):
    SUCCESS = 0
    PROG_UNAVAIL = 1
    PROG_MISMATCH = 2
    PROC_UNAVAIL = 3
    GARBAGE_ARGS = 4
    SYSTEM_ERR = 5


class AuthStat(IntEnum):
    AUTH_OK = 0
    AUTH_BADCRED = 1
    AUTH_REJECTEDCRED = 2
    AUTH_BADVERF = 3
    AUTH_REJECTEDVERF = 4
    AUTH_TOOWEAK = 5
    AUTH_INVALIDRESP = 6
    AUTH_FAILED = 7
    RPCSEC_GSS_CREDPROBLEM = 13
    RPCSEC_GSS_CTXPROBLEM = 14


class RPCProtocolError(Exception):
    """The peer's bytes are not a valid reply to our call."""


class RPCAcceptError(RPCProtocolError):
    """The call was accepted but not executed (program/version/procedure unavailable...)."""

    def __init__(self, stat: int, low: int | None = None, high: int | None = None) -> None:
        self.stat = stat
        self.low = low
        self.high = high
        try:
            name = AcceptStat(stat).name
        except ValueError:
            name = f"accept_stat {stat}"
        extra = f" (supported versions {low}-{high})" if low is not None else ""
        super().__init__(f"RPC call not executed: {name}{extra}")


class RPCDeniedError(Exception):
    """MSG_DENIED: RPC version mismatch or an authentication error."""

    def __init__(self, auth_stat: int | None, low: int | None = None, high: int | None = None):
        self.auth_stat = auth_stat
        self.low = low
        self.high = high
        if auth_stat is None:
            msg = f"RPC version mismatch (server supports {low}-{high})"
        else:
            try:
                msg = f"RPC authentication error: {AuthStat(auth_stat).name}"
            except ValueError:
                msg = f"RPC authentication error: auth_stat {auth_stat}"
        super().__init__(msg)

    @property
    def is_auth_error(self) -> bool:
        return self.auth_stat is not None


@dataclass(frozen=True)
class OpaqueAuth:
    flavor: int
    body: bytes = b""

    def pack(self, p: Packer) -> None:
        p.uint(self.flavor)
        p.opaque(self.body)


AUTH_NULL = OpaqueAuth(AuthFlavor.AUTH_NONE)


def auth_sys(
    uid: int = 65534,
    gid: int = 65534,
    gids: tuple[int, ...] = (),
    machinename: str = "nasscan",
    stamp: int | None = None,
) -> OpaqueAuth:
    """An AUTH_SYS credential. A claimed uid is not authentication: the server just believes it."""
    p = Packer()
    p.uint(int(time.time()) & 0xFFFFFFFF if stamp is None else stamp)
    p.string(machinename[:255])
    p.uint(uid)
    p.uint(gid)
    p.array(list(gids[:16]), p.uint)
    return OpaqueAuth(AuthFlavor.AUTH_SYS, p.get_buffer())


def new_xid() -> int:
    return random.getrandbits(32)


def encode_call(
    xid: int,
    prog: int,
    vers: int,
    proc: int,
    args: bytes = b"",
    cred: OpaqueAuth = AUTH_NULL,
    verf: OpaqueAuth = AUTH_NULL,
) -> bytes:
    p = Packer()
    p.uint(xid).uint(CALL).uint(RPC_VERSION).uint(prog).uint(vers).uint(proc)
    cred.pack(p)
    verf.pack(p)
    p.raw(args)
    return p.get_buffer()


def encode_reply_success(xid: int, results: bytes = b"") -> bytes:
    """An accepted, successful reply (used by tests and fakes)."""
    p = Packer()
    p.uint(xid).uint(REPLY).uint(MSG_ACCEPTED)
    AUTH_NULL.pack(p)
    p.uint(AcceptStat.SUCCESS)
    p.raw(results)
    return p.get_buffer()


def decode_reply(data: bytes, xid: int) -> Unpacker:
    """Check one reply message against our ``xid``; return an unpacker at the results.

    Raises ``RPCProtocolError`` (malformed, wrong xid, not a reply, not executed) or
    ``RPCDeniedError`` (authentication error / RPC version mismatch).
    """
    u = Unpacker(data)
    try:
        rxid = u.uint()
        if rxid != xid:
            raise RPCProtocolError(f"reply xid {rxid:#x} does not match call xid {xid:#x}")
        mtype = u.uint()
        if mtype != REPLY:
            raise RPCProtocolError(f"expected an RPC reply, got message type {mtype}")
        stat = u.uint()
        if stat == MSG_ACCEPTED:
            u.uint()  # verifier flavour
            u.opaque(MAX_AUTH_BODY)
            accept = u.uint()
            if accept == AcceptStat.SUCCESS:
                return u
            if accept == AcceptStat.PROG_MISMATCH:
                raise RPCAcceptError(accept, u.uint(), u.uint())
            raise RPCAcceptError(accept)
        if stat == MSG_DENIED:
            reject = u.uint()
            if reject == 0:  # RPC_MISMATCH
                raise RPCDeniedError(None, u.uint(), u.uint())
            if reject == 1:  # AUTH_ERROR
                raise RPCDeniedError(u.uint())
            raise RPCProtocolError(f"unknown reject_stat {reject}")
        raise RPCProtocolError(f"unknown reply_stat {stat}")
    except XDRError as exc:
        raise RPCProtocolError(f"malformed RPC reply: {exc}") from exc


def record_mark(message: bytes) -> bytes:
    """TCP record marking: one last fragment."""
    if len(message) > 0x7FFFFFFF:
        raise ValueError("record too large")
    return struct.pack(">I", 0x80000000 | len(message)) + message


async def read_record(conn: Connection, max_record: int = MAX_RECORD) -> bytes:
    """Read one record-marked RPC message, refusing any fragment that would exceed the bound."""
    parts: list[bytes] = []
    total = 0
    for _ in range(MAX_FRAGMENTS):
        try:
            header = await conn.recv_exactly(4)
        except asyncio.IncompleteReadError as exc:
            raise RPCProtocolError("connection closed inside an RPC record header") from exc
        (word,) = struct.unpack(">I", header)
        last = bool(word & 0x80000000)
        length = word & 0x7FFFFFFF
        if total + length > max_record:
            raise RPCProtocolError(
                f"RPC record fragment of {length} bytes exceeds the limit {max_record}"
            )
        try:
            parts.append(await conn.recv_exactly(length) if length else b"")
        except asyncio.IncompleteReadError as exc:
            raise RPCProtocolError("connection closed inside an RPC record") from exc
        total += length
        if last:
            return b"".join(parts)
    raise RPCProtocolError(f"RPC record has more than {MAX_FRAGMENTS} fragments")


def privileged() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _source_ports(want_privileged: bool, tries: int = 6) -> list[int | None]:
    """Candidate local ports: a few random reserved ones (root only), then any port."""
    ports: list[int | None] = []
    if want_privileged and privileged():
        ports.extend(random.sample(range(600, 1024), tries))
    ports.append(None)
    return ports


class RPCClient:
    """One transport to one RPC server; ``call`` sends a call and returns its results."""

    transport = "tcp"

    def __init__(self, host: str, port: int, *, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.source_port: int | None = None

    async def exchange(self, message: bytes, xid: int) -> bytes:
        raise NotImplementedError

    async def call(
        self,
        prog: int,
        vers: int,
        proc: int,
        args: bytes = b"",
        cred: OpaqueAuth = AUTH_NULL,
    ) -> Unpacker:
        xid = new_xid()
        reply = await self.exchange(encode_call(xid, prog, vers, proc, args, cred), xid)
        return decode_reply(reply, xid)


class TCPRPCClient(RPCClient):
    transport = "tcp"

    def __init__(
        self, conn: Connection, *, timeout: float = 5.0, max_record: int = MAX_RECORD
    ) -> None:
        super().__init__(conn.host, conn.port, timeout=timeout)
        self.conn = conn
        self.max_record = max_record

    async def exchange(self, message: bytes, xid: int) -> bytes:
        await self.conn.send(record_mark(message))
        return await asyncio.wait_for(read_record(self.conn, self.max_record), self.timeout)


class UDPRPCClient(RPCClient):
    transport = "udp"

    def __init__(self, stream: Any, host: str, port: int, *, timeout: float = 5.0) -> None:
        super().__init__(host, port, timeout=timeout)
        self.stream = stream

    async def exchange(self, message: bytes, xid: int) -> bytes:
        deadline = time.monotonic() + self.timeout
        tries = 2
        for attempt in range(tries):
            await self.stream.send(message)
            wait = (deadline - time.monotonic()) / (tries - attempt)
            end = time.monotonic() + max(wait, 0.05)
            stray = 0
            while True:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    data, _addr = await asyncio.wait_for(self.stream.recv(), remaining)
                except TimeoutError:
                    break
                if len(data) >= 4 and struct.unpack(">I", data[:4])[0] == xid:
                    return bytes(data)
                stray += 1
                if stray > MAX_STRAY_DATAGRAMS:
                    raise RPCProtocolError("too many UDP replies with a wrong xid")
        raise TimeoutError(f"no RPC reply from {self.host}:{self.port}/udp")


@contextlib.asynccontextmanager
async def connect(
    dialer: Dialer,
    host: str,
    port: int,
    *,
    transport: str = "tcp",
    privileged_port: bool = True,
    timeout: float | None = None,
) -> AsyncIterator[RPCClient]:
    """An RPC client over the dialer, from a reserved source port when we can bind one."""
    t = timeout if timeout is not None else dialer.read_timeout
    last: OSError | None = None
    for sport in _source_ports(privileged_port):
        cm: Any = dialer.udp(host, port, source_port=sport) if transport == "udp" else dialer.tcp(
            host, port, source_port=sport
        )
        try:
            handle = await cm.__aenter__()
        except OSError as exc:
            # port taken / in TIME_WAIT towards this peer: try the next one
            if sport is not None and exc.errno in (
                errno.EADDRINUSE,
                errno.EADDRNOTAVAIL,
                errno.EACCES,
                errno.EPERM,
            ):
                last = exc
                continue
            raise
        try:
            client: RPCClient
            if transport == "udp":
                client = UDPRPCClient(handle, host, port, timeout=t)
            else:
                client = TCPRPCClient(handle, timeout=t)
            client.source_port = sport
            yield client
        finally:
            await cm.__aexit__(None, None, None)
        return
    raise last or OSError("no source port available")
