"""The rsync daemon protocol (``rsync://``, TCP 873), just far enough to list modules.

Exchange (rsync clientserver.c): the server greets ``@RSYNCD: <major>.<minor> [digests]\\n``
(modern daemons append their auth digest list, e.g. ``@RSYNCD: 32.0 sha512 sha256 sha1 md5
md4``); the client answers with its own version line, then sends ``#list\\n`` for the module
list or ``<module>\\n`` to open one. The server may send MOTD lines first; module lists end in
``@RSYNCD: EXIT``. Opening a module answers ``@RSYNCD: OK`` (no password), ``@RSYNCD:
AUTHREQD <challenge>`` (password required) or ``@ERROR: ...`` (unknown module, refused host).
The protocol has no encryption at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from scanner.dialer import Connection
from scanner.protocols.sizes import parse_decimal

CLIENT_VERSION = b"@RSYNCD: 30.0\n"
MAX_LINE = 4096
MAX_LINES = 2000

_GREETING = re.compile(rb"^@RSYNCD: (\d+)(?:\.(\d+))?((?: [\w-]+)*)\s*$")


class RsyncProtocolError(Exception):
    """The peer is not an rsync daemon or broke the exchange."""


@dataclass(frozen=True)
class Greeting:
    major: int
    minor: int
    digests: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"


def parse_greeting(line: bytes) -> Greeting:
    """``b'@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\\n'`` -> Greeting(32, 0, (...))."""
    m = _GREETING.match(line.rstrip(b"\r\n"))
    if not m:
        raise RsyncProtocolError(f"not an rsync greeting: {line[:60]!r}")
    digests = tuple(d.decode("ascii") for d in m.group(3).split())
    if len(m.group(1)) > 9 or len(m.group(2) or b"") > 9:
        raise RsyncProtocolError(f"absurd rsync protocol version: {line[:60]!r}")
    return Greeting(int(m.group(1)), int(m.group(2) or 0), digests)


def matches_greeting(data: bytes) -> bool:
    return data.startswith(b"@RSYNCD: ")


@dataclass(frozen=True)
class Module:
    name: str
    comment: str = ""


def parse_module_list(lines: list[bytes]) -> tuple[list[Module], list[str]]:
    """Module lines (``name<TAB or spaces>comment``) and MOTD lines, up to ``@RSYNCD: EXIT``."""
    modules: list[Module] = []
    motd: list[str] = []
    for raw in lines:
        line = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
        if line.startswith("@RSYNCD: EXIT"):
            break
        if line.startswith("@ERROR"):
            raise RsyncProtocolError(line)
        if line.startswith("@RSYNCD:"):
            continue
        if "\t" in line:
            name, _, comment = line.partition("\t")
            name = name.strip()
            if name:
                modules.append(Module(name, comment.strip()))
        elif line.strip():
            motd.append(line)
    return modules, motd


class ModuleAccess(StrEnum):
    OPEN = "open"
    AUTH_REQUIRED = "auth-required"
    UNKNOWN_MODULE = "unknown-module"
    REFUSED = "refused"
    BUSY = "busy"
    """``@ERROR: max connections (N) reached -- try again later``: says nothing of access."""


@dataclass(frozen=True)
class ModuleReply:
    access: ModuleAccess
    detail: str = ""
    answered: bool = True
    """False: no reply came (the connection failed or timed out); ``access`` is then REFUSED."""


def parse_module_reply(line: bytes) -> ModuleReply | None:
    """Classify one reply line to a module request; None for a MOTD line (keep reading)."""
    text = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
    if text.startswith("@RSYNCD: OK"):
        return ModuleReply(ModuleAccess.OPEN)
    if text.startswith("@RSYNCD: AUTHREQD"):
        return ModuleReply(ModuleAccess.AUTH_REQUIRED, text[len("@RSYNCD: AUTHREQD") :].strip())
    if text.startswith("@RSYNCD: EXIT"):
        return ModuleReply(ModuleAccess.REFUSED, "EXIT")
    if text.startswith("@ERROR"):
        low = text.lower()
        if "unknown module" in low:
            return ModuleReply(ModuleAccess.UNKNOWN_MODULE, text)
        if "max connections" in low:
            return ModuleReply(ModuleAccess.BUSY, text)
        return ModuleReply(ModuleAccess.REFUSED, text)
    return None


async def handshake(conn: Connection, greeting: bytes = b"") -> Greeting:
    """Read (or reuse) the server greeting and send ours."""
    line = greeting if greeting.endswith(b"\n") else greeting + await conn.recv_line(MAX_LINE)
    g = parse_greeting(line)
    await conn.send(CLIENT_VERSION)
    return g


async def list_modules(conn: Connection) -> tuple[Greeting, list[Module], list[str]]:
    g = await handshake(conn)
    await conn.send(b"#list\n")
    lines: list[bytes] = []
    for _ in range(MAX_LINES):
        line = await conn.recv_line(MAX_LINE)
        if not line:
            break
        lines.append(line)
        if line.startswith(b"@RSYNCD: EXIT") or line.startswith(b"@ERROR"):
            break
    modules, motd = parse_module_list(lines)
    return g, modules, motd


async def open_module(conn: Connection, name: str) -> ModuleReply:
    """Ask for one module and classify the answer; the connection is then dropped."""
    if not name or any(c in name for c in "\n\r\x00/") or name.startswith("#"):
        raise ValueError(f"bad module name {name!r}")
    await handshake(conn)
    await conn.send(name.encode() + b"\n")
    for _ in range(MAX_LINES):
        line = await conn.recv_line(MAX_LINE)
        if not line:
            raise RsyncProtocolError("connection closed before the module reply")
        reply = parse_module_reply(line)
        if reply is not None:
            return reply
    raise RsyncProtocolError("no module reply")


_LIST_LINE = re.compile(
    r"^([dl\-bcps])[rwxsStT\-]{9}\S*\s+([\d,.]+)\s+(\d{4}/\d{2}/\d{2}) (\d{2}:\d{2}:\d{2}) (.+)$"
)


@dataclass(frozen=True)
class ListLine:
    path: str
    size: int
    mtime: str
    is_dir: bool


def parse_list_only(line: str) -> ListLine | None:
    """A line of ``rsync --list-only`` output:
    ``drwxr-xr-x          4,096 2019/03/14 10:15:00 2019/03``."""
    m = _LIST_LINE.match(line.rstrip("\n"))
    if not m:
        return None
    size = parse_decimal(m.group(2).replace(",", "").replace(".", ""))
    if size is None:
        return None
    mtime = m.group(3).replace("/", "-") + "T" + m.group(4)
    return ListLine(m.group(5), size, mtime, m.group(1) == "d")
