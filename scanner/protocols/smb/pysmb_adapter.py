"""pysmb on the dialer's socket: SRVSVC share enumeration and SMB1-only servers.

pysmb is blocking: every function here runs inside ``ctx.dialer.run_blocking`` on a socket from
``ctx.dialer.blocking_socket`` (pysmb never opens its own). It answers in this package's types
(``DirEntry``, ``EnumeratedShare``) so the probe handles one kind of entry whichever client
listed it. pysmb is imported lazily: only SMB1 servers and share enumeration need it.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from scanner.protocols.smb.constants import FileAttributes
from scanner.protocols.smb.messages import DirEntry

LOGIN_PACKETS = 64
"""Bound on the packets read while logging in (a handful are needed)."""


class DeviceType(IntEnum):
    """pysmb's ``SharedDevice.type`` (the low bits of the SRVSVC share type)."""

    DISK = 0
    PRINTER = 1
    COMM = 2
    IPC = 3


@dataclass(frozen=True)
class EnumeratedShare:
    name: str
    type: int
    comment: str


def connect(sock: socket.socket, user: str, timeout: float) -> Any:
    """A pysmb SMBConnection logged in (password empty) over ``sock``; None if refused.

    pysmb's ``connect()`` creates its own socket; the seam is the few lines after that: we hand
    it ours and run the same NEGOTIATE/SESSION_SETUP loop.
    """
    from smb.SMBConnection import SMBConnection

    class _DialedConnection(SMBConnection):
        def connect_socket(self, s: socket.socket, t: float) -> bool:
            self.sock = s
            self.auth_result = None
            self.is_busy = True
            try:
                self.onNMBSessionOK()
                for _ in range(LOGIN_PACKETS):
                    if self.auth_result is not None:
                        break
                    self._pollForNetBIOSPacket(t)
            finally:
                self.is_busy = False
            return bool(self.auth_result)

    conn = _DialedConnection(user, "", "NASSCAN", "SERVER", use_ntlm_v2=True, is_direct_tcp=True)
    ok = conn.connect_socket(sock, timeout)
    return conn if ok else None


def login(sock: socket.socket, user: str, timeout: float) -> bool:
    return connect(sock, user, timeout) is not None


def list_shares(sock: socket.socket, user: str, timeout: float) -> list[EnumeratedShare]:
    """SRVSVC NetShareEnumAll after a login as ``user`` (PermissionError if refused)."""
    conn = connect(sock, user, timeout)
    if conn is None:
        raise PermissionError("login refused")
    return [
        EnumeratedShare(name=s.name, type=s.type, comment=(s.comments or "")[:100])
        for s in conn.listShares(timeout=timeout)
    ]


def operation_failure() -> type[Exception]:
    """pysmb's "the server said no" exception (the connection itself is still usable)."""
    from smb.base import OperationFailure

    return OperationFailure


def _mtime(seconds: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(math.floor(seconds), UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        return None


def entries(files: list[Any]) -> tuple[list[DirEntry], int]:
    """pysmb's ``SharedFile`` list as entries ('.' and '..' dropped), and how many were
    unusable (a size that is not a number)."""
    out: list[DirEntry] = []
    bad = 0
    for f in files:
        if f.filename in (".", ".."):
            continue
        is_dir = bool(f.isDirectory)
        try:
            size = 0 if is_dir else int(f.file_size)
        except (TypeError, ValueError):
            bad += 1
            continue
        attributes = FileAttributes.DIRECTORY if is_dir else 0
        out.append(DirEntry(f.filename, size, _mtime(f.last_write_time), is_dir, attributes))
    return out, bad


def list_path(conn: Any, share: str, path: str, timeout: float) -> tuple[list[DirEntry], int]:
    """One directory (pysmb ``listPath``); raises ``operation_failure()`` when refused."""
    return entries(conn.listPath(share, path, timeout=timeout))


class Head:
    """A write-only buffer that keeps at most ``limit`` bytes (pysmb's ``file_obj``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.offered = 0

    def write(self, chunk: bytes) -> int:
        self.offered += len(chunk)
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        return len(chunk)


def read_heads(
    conn: Any, share: str, paths: list[str], n: int, timeout: float
) -> tuple[dict[str, bytes], dict[str, str]]:
    """INTRUSIVE (``--sample-bytes N``) over SMB1: per path OPEN_ANDX (read, FILE_OPEN),
    READ_ANDX of at most N bytes (pysmb's read size is cut to N for the call), CLOSE.

    Returns (path -> first bytes, path -> error). A refusal skips the file; a broken connection
    (timeout, closed) ends the reads."""
    samples: dict[str, bytes] = {}
    errors: dict[str, str] = {}
    saved = conn.max_raw_size
    # pysmb asks for max_raw_size - 2 bytes per READ_ANDX: never more than N (nor the server's)
    n = max(1, min(n, saved - 2))
    try:
        conn.max_raw_size = n + 2
        for path in paths:
            head = Head(n)
            try:
                conn.retrieveFileFromOffset(
                    share, path, head, offset=0, max_length=n, timeout=timeout
                )
            except Exception as exc:
                errors[path] = f"{type(exc).__name__}: {exc}"[:120]
                if not isinstance(exc, operation_failure()):
                    break  # the connection itself broke (timeout, closed): no more reads
                continue
            samples[path] = bytes(head.data[:n])
    finally:
        conn.max_raw_size = saved
    return samples, errors
