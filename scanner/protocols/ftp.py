"""FTP plumbing: reply parsing (multi-line), FEAT, PASV/EPSV, MLSD facts, LIST parsers, a client.

The client is our own small asyncio client over the dialer's ``Connection`` rather than ftplib
(blocking, creates its own data sockets, follows the address in a 227 reply) or aioftp (creates
its own connections): every line, reply and data stream here is bounded in bytes and time, and
the passive data connection goes to the host we dialed, through the dialer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from scanner.protocols.sizes import parse_decimal

MAX_LINE = 8192
MAX_REPLY_LINES = 200
MAX_REPLY_BYTES = 64 * 1024


class FtpProtocolError(Exception):
    """The peer does not speak FTP (or breaks our bounds)."""


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def message(self) -> str:
        """The text without the code prefixes (first line's text, for short evidence)."""
        first = self.lines[0] if self.lines else ""
        return first[4:].strip() if len(first) >= 4 else first

    @property
    def kind(self) -> int:
        """1 preliminary, 2 completion, 3 intermediate, 4 transient failure, 5 permanent failure."""
        return self.code // 100


_CODE = re.compile(r"^([1-5][0-9][0-9])([ -])")


class ReplyParser:
    """Incremental RFC 959 reply parser: feed lines, get a ``Reply`` when one is complete.

    Multi-line: ``123-first`` ... ``123 last``; lines in between may be anything (some servers
    indent them, some repeat the code with a dash). Bounded in lines and bytes.
    """

    def __init__(self, max_lines: int = MAX_REPLY_LINES, max_bytes: int = MAX_REPLY_BYTES) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._code: int | None = None
        self._lines: list[str] = []
        self._bytes = 0

    def feed(self, raw: bytes) -> Reply | None:
        line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
        self._bytes += len(raw)
        if self._bytes > self.max_bytes or len(self._lines) >= self.max_lines:
            raise FtpProtocolError("reply exceeds the size bound")
        if self._code is None:
            m = _CODE.match(line)
            if not m:
                raise FtpProtocolError(f"not an FTP reply line: {line[:60]!r}")
            code = int(m.group(1))
            if m.group(2) == " ":
                return self._done(code, [line])
            self._code = code
            self._lines = [line]
            return None
        self._lines.append(line)
        if line.startswith(f"{self._code} ") or line == str(self._code):
            return self._done(self._code, self._lines)
        return None

    def _done(self, code: int, lines: list[str]) -> Reply:
        reply = Reply(code, tuple(lines))
        self._code = None
        self._lines = []
        self._bytes = 0
        return reply


def parse_replies(data: bytes) -> list[Reply]:
    """All complete replies in ``data`` (for tests and captured transcripts)."""
    parser = ReplyParser()
    out = []
    for raw in data.splitlines(keepends=True):
        r = parser.feed(raw)
        if r is not None:
            out.append(r)
    return out


def parse_feat(reply: Reply) -> set[str]:
    """FEAT (RFC 2389) lines as upper-case feature strings, e.g. {'AUTH TLS', 'MLST ...'}."""
    if reply.code != 211:
        return set()
    feats = set()
    for line in reply.lines[1:-1]:
        s = line.strip()
        if s:
            feats.add(s.upper())
    return feats


def feat_has(feats: set[str], name: str) -> bool:
    name = name.upper()
    return any(f == name or f.startswith(name + " ") for f in feats)


def auth_tls_offered(feats: set[str]) -> bool:
    return any(f.startswith("AUTH") and ("TLS" in f or "SSL" in f) for f in feats)


_PASV = re.compile(r"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_EPSV = re.compile(r"\((.)\1\1(\d{1,5})\1\)")


def parse_pasv(reply: Reply) -> int:
    """Port from a 227 reply. The address in it is ignored on purpose (we use the dialed host)."""
    if reply.code != 227:
        raise FtpProtocolError(f"PASV answered {reply.code}")
    m = _PASV.search(reply.text)
    if not m:
        raise FtpProtocolError("no address in the 227 reply")
    p1, p2 = int(m.group(5)), int(m.group(6))
    if p1 > 255 or p2 > 255:
        raise FtpProtocolError("bad port in the 227 reply")
    port = p1 * 256 + p2
    if not 0 < port < 65536:
        raise FtpProtocolError("bad port in the 227 reply")
    return port


def parse_epsv(reply: Reply) -> int:
    if reply.code != 229:
        raise FtpProtocolError(f"EPSV answered {reply.code}")
    m = _EPSV.search(reply.text)
    if not m:
        raise FtpProtocolError("no port in the 229 reply")
    port = int(m.group(2))
    if not 0 < port < 65536:
        raise FtpProtocolError("bad port in the 229 reply")
    return port


# -- listings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FtpEntry:
    name: str
    is_dir: bool
    size: int | None = None
    mtime: str | None = None
    mode: str | None = None
    """unix mode string (``drwxr-xr-x``) or MLSD ``perm`` fact, when given."""
    is_link: bool = False


def parse_mlsd_line(line: str) -> FtpEntry | None:
    """``type=file;size=12;modify=20190314101500; name`` (RFC 3659). cdir/pdir -> None."""
    line = line.rstrip("\r\n")
    # facts contain no spaces; exactly one space separates them from the name
    facts_part, _, name = line.partition(" ")
    if not name or "=" not in facts_part:
        return None
    facts: dict[str, str] = {}
    for fact in facts_part.split(";"):
        if "=" in fact:
            k, _, v = fact.partition("=")
            facts[k.strip().lower()] = v.strip()
    typ = facts.get("type", "").lower()
    if typ in ("cdir", "pdir") or name in (".", ".."):
        return None
    is_dir = typ == "dir"
    is_link = typ.startswith("os.unix=slink") or typ.startswith("os.unix=symlink")
    size = None
    for key in ("size", "sizd"):
        if key in facts:
            size = parse_decimal(facts[key])  # BAD_SIZE for '²' or 400 digits
            break
    mtime = _mlsd_time(facts.get("modify", ""))
    return FtpEntry(
        name=name,
        is_dir=is_dir,
        size=None if is_dir else size,
        mtime=mtime,
        mode=facts.get("perm") or facts.get("unix.mode"),
        is_link=is_link,
    )


def _mlsd_time(value: str) -> str | None:
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d+)?", value)
    if not m:
        return None
    try:
        y, mo, d, hh, mi, ss = (int(m.group(i)) for i in range(1, 7))
        dt = datetime(y, mo, d, hh, mi, min(ss, 59), tzinfo=UTC)
    except ValueError:
        return None
    return dt.isoformat()


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}

# drwxr-xr-x    2 0        0            4096 Mar 14  2019 2019
# -rw-r--r--   1 ftp      ftp         12345 Mar 14 10:15 file name.wav
# (pure-ftpd and ProFTPD print the same shape; some servers omit the group column)
_UNIX = re.compile(
    r"^(?P<mode>[bcdlps-][rwxsStTl-]{9})[+@.]?\s+"
    r"(?P<links>\d+)\s+"
    r"(?P<owner>\S+)\s+"
    r"(?:(?P<group>\S+)\s+)?"
    r"(?P<size>\d+)\s+"
    r"(?P<month>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+(?P<timeyear>\d{1,2}:\d{2}|\d{4})\s"
    r"(?P<name>.+)$"
)
# 03-14-19  10:15AM       <DIR>          2019
# 03-14-2019  10:15AM                12345 file.wav
_DOS = re.compile(
    r"^(?P<date>\d{2}-\d{2}-\d{2,4})\s+(?P<time>\d{1,2}:\d{2}\s*[AaPp][Mm]|\d{1,2}:\d{2})\s+"
    r"(?P<dir><DIR>|\d+)\s+(?P<name>.+)$"
)


def parse_list_line(line: str, *, now: datetime | None = None) -> FtpEntry | None:
    """One LIST line in unix (vsftpd, ProFTPD, pure-ftpd) or DOS/IIS style; None if not one."""
    line = line.rstrip("\r\n")
    if not line or line.lower().startswith("total "):
        return None
    m = _UNIX.match(line)
    if m:
        mode = m.group("mode")
        name = m.group("name")
        is_link = mode[0] == "l"
        if is_link and " -> " in name:
            name = name.split(" -> ", 1)[0]
        if name in (".", ".."):
            return None
        is_dir = mode[0] == "d"
        return FtpEntry(
            name=name,
            is_dir=is_dir,
            size=None if is_dir else parse_decimal(m.group("size")),
            mtime=_unix_time(m.group("month"), m.group("day"), m.group("timeyear"), now),
            mode=mode,
            is_link=is_link,
        )
    m = _DOS.match(line)
    if m:
        name = m.group("name").rstrip()
        if name in (".", ".."):
            return None
        is_dir = m.group("dir") == "<DIR>"
        return FtpEntry(
            name=name,
            is_dir=is_dir,
            size=None if is_dir else parse_decimal(m.group("dir")),
            mtime=_dos_time(m.group("date"), m.group("time")),
        )
    return None


def _unix_time(month: str, day: str, timeyear: str, now: datetime | None) -> str | None:
    mon = _MONTHS.get(month.lower())
    if mon is None:
        return None
    now = now or datetime.now(UTC)
    try:
        if ":" in timeyear:
            hh, mm = (int(x) for x in timeyear.split(":"))
            dt = datetime(now.year, mon, int(day), hh, mm, tzinfo=UTC)
            if dt > now.replace(tzinfo=UTC) and (dt - now).days > 1:
                dt = dt.replace(year=now.year - 1)  # "recent" = within the last 6 months
        else:
            dt = datetime(int(timeyear), mon, int(day), tzinfo=UTC)
    except ValueError:
        return None
    return dt.isoformat()


def _dos_time(date: str, tm: str) -> str | None:
    try:
        mo, d, y = (int(x) for x in date.split("-"))
        if y < 100:
            y += 2000 if y < 70 else 1900
        t = tm.replace(" ", "").upper()
        pm = t.endswith("PM")
        am = t.endswith("AM")
        hh, mm = (int(x) for x in t.rstrip("APM").split(":"))
        if pm and hh < 12:
            hh += 12
        if am and hh == 12:
            hh = 0
        return datetime(y, mo, d, hh, mm, tzinfo=UTC).isoformat()
    except ValueError:
        return None


# -- the client ----------------------------------------------------------------------------------
class LineStream(Protocol):
    async def send(self, data: bytes) -> None: ...

    async def recv_line(self, limit: int = 8192, timeout: float | None = None) -> bytes: ...


class DataStream(Protocol):
    async def recv(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes: ...


DataDialer = Callable[[int], AbstractAsyncContextManager[DataStream]]
"""Opens the passive data connection to ``port`` on the dialed host (through the dialer)."""


@dataclass
class RetrieveResult:
    """The first bytes of a file (``FtpClient.retrieve_head``)."""

    data: bytes = b""
    reply: Reply | None = None
    """The RETR preliminary reply when it was refused, else the transfer's final reply."""
    aborted: bool = False
    """We hung up on the data connection after N bytes (the file is longer, or may be)."""
    closing_replies: tuple[int, ...] = ()
    """Codes read after the hang-up (426/226/225 ...) up to and including the NOOP's 200."""
    in_sync: bool = True
    """The control connection is known to be in step (safe for another command)."""


@dataclass
class ListResult:
    entries: list[FtpEntry] = field(default_factory=list)
    truncated: bool = False
    reply: Reply | None = None
    bytes_read: int = 0
    bad: int = 0
    """Lines that are neither an entry nor a known non-entry (total, ., .., cdir, pdir)."""


class FtpClient:
    """A small FTP client over a dialer ``Connection``: bounded replies, passive data only."""

    def __init__(self, conn: LineStream, *, max_line: int = MAX_LINE) -> None:
        self.conn = conn
        self.max_line = max_line
        self.transcript: list[str] = []

    async def read_reply(self) -> Reply:
        parser = ReplyParser()
        for _ in range(MAX_REPLY_LINES + 1):
            raw = await self.conn.recv_line(self.max_line)
            if not raw:
                raise FtpProtocolError("connection closed in the middle of a reply")
            if not raw.endswith(b"\n"):
                raise FtpProtocolError("connection closed in the middle of a line")
            reply = parser.feed(raw)
            if reply is not None:
                if len(self.transcript) < 40:
                    self.transcript.append(f"< {reply.lines[0][:120]}")
                return reply
        raise FtpProtocolError("reply exceeds the line bound")

    async def command(self, line: str) -> Reply:
        if "\r" in line or "\n" in line:
            raise ValueError("CR/LF in an FTP command")
        shown = "PASS ****" if line.upper().startswith("PASS ") else line
        if len(self.transcript) < 40:
            self.transcript.append(f"> {shown[:120]}")
        await self.conn.send(line.encode("utf-8") + b"\r\n")
        return await self.read_reply()

    async def greeting(self) -> Reply:
        reply = await self.read_reply()
        for _ in range(3):  # 120 "ready in n minutes": one more reply follows
            if reply.code != 120:
                break
            reply = await self.read_reply()
        return reply

    async def login(self, user: str, password: str) -> tuple[Reply, Reply | None]:
        """USER then (on 331/332) PASS. Returns (USER reply, PASS reply or None)."""
        r1 = await self.command(f"USER {user}")
        if r1.code in (331, 332):
            return r1, await self.command(f"PASS {password}")
        return r1, None

    async def passive_port(self) -> int:
        """EPSV, falling back to PASV; either way only the port is used."""
        r = await self.command("EPSV")
        if r.code == 229:
            return parse_epsv(r)
        return parse_pasv(await self.command("PASV"))

    async def list_dir(
        self,
        path: str,
        open_data: DataDialer,
        *,
        mlsd: bool,
        max_entries: int,
        max_bytes: int,
        upgrade: Callable[[DataStream], Awaitable[None]] | None = None,
    ) -> ListResult:
        """One directory listing (MLSD or LIST) over a passive connection, bounded.

        ``upgrade`` (PROT P) starts TLS on the data connection after the 1xx reply: servers
        begin the handshake only once the transfer command has arrived.
        """
        res = ListResult()
        port = await self.passive_port()
        verb = "MLSD" if mlsd else "LIST"
        cmd = f"{verb} {path}" if path else verb
        async with open_data(port) as data:
            prelim = await self.command(cmd)
            if prelim.kind != 1:
                res.reply = prelim
                return res
            if upgrade is not None:
                await upgrade(data)
            buf = b""
            async for chunk in _chunks(data, max_bytes):
                res.bytes_read += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                if len(buf) > MAX_LINE:
                    raise FtpProtocolError("listing line exceeds the line bound")
                for raw in lines:
                    self._add(res, raw, mlsd)
                    if len(res.entries) >= max_entries:
                        res.truncated = True
                        break
                if res.truncated:
                    break
            else:
                if buf.strip():
                    self._add(res, buf, mlsd)
            if res.bytes_read >= max_bytes:
                res.truncated = True
        if res.truncated:
            # we hung up on the data connection: the server answers 426 or 226 (or nothing)
            try:
                res.reply = await self.read_reply()
            except (TimeoutError, FtpProtocolError, ValueError):
                res.reply = None
            return res
        res.reply = await self.read_reply()
        return res

    async def retrieve_head(
        self,
        path: str,
        open_data: DataDialer,
        max_bytes: int,
        *,
        upgrade: Callable[[DataStream], Awaitable[None]] | None = None,
        reply_timeout: float | None = None,
    ) -> RetrieveResult:
        """INTRUSIVE: the first ``max_bytes`` bytes of a file; nothing is ever written.

        Passive data connection (to the dialed host), ``RETR path``, at most ``max_bytes`` read
        off the data connection; if the file goes on, the data connection is closed and ABOR
        sent, and the replies are read (bounded in count and time) up to the answer to a NOOP
        sent behind it, so that the control connection is in step again. TYPE I is the caller's.
        """
        if max_bytes <= 0:
            raise ValueError("retrieve_head needs max_bytes > 0")
        if "\r" in path or "\n" in path:
            raise ValueError("CR/LF in a path")
        res = RetrieveResult()
        port = await self.passive_port()
        buf = bytearray()
        eof = False
        async with open_data(port) as data:
            prelim = await self.command(f"RETR {path}")
            if prelim.kind != 1:
                res.reply = prelim
                return res
            if upgrade is not None:
                await upgrade(data)
            while len(buf) < max_bytes:
                chunk = await data.recv(min(65536, max_bytes - len(buf)))
                if not chunk:
                    eof = True
                    break
                buf += chunk[: max_bytes - len(buf)]
        res.data = bytes(buf)
        if eof:
            res.reply = await self.read_reply()  # 226 (or 426/451)
            return res
        # N bytes taken and the file may go on: the data connection is closed (above); ABOR and
        # a NOOP behind it, then read up to the NOOP's 200 (RFC 959: 426 then 226, or just 226,
        # or 225 when the transfer had already ended)
        res.aborted = True
        codes: list[int] = []
        await self.conn.send(b"ABOR\r\nNOOP\r\n")
        if len(self.transcript) < 40:
            self.transcript.append("> ABOR")
        try:
            for _ in range(6):
                r = await self._reply_within(reply_timeout)
                codes.append(r.code)
                if r.code == 200:
                    break
                if r.code in (225, 226, 426, 451) and res.reply is None:
                    res.reply = r
            else:
                res.in_sync = False
        except (TimeoutError, FtpProtocolError, ValueError):
            res.in_sync = False
        res.closing_replies = tuple(codes)
        if not codes or codes[-1] != 200:
            res.in_sync = False
        return res

    async def _reply_within(self, timeout: float | None) -> Reply:
        if timeout is None:
            return await self.read_reply()
        return await asyncio.wait_for(self.read_reply(), timeout)

    @staticmethod
    def _add(res: ListResult, raw: bytes, mlsd: bool) -> None:
        # undecodable bytes stay lone surrogates: the crawler skips and counts such names
        line = raw.rstrip(b"\r").decode("utf-8", "surrogateescape")
        if not line.strip():
            return
        entry = parse_mlsd_line(line) if mlsd else parse_list_line(line)
        if entry is not None and "/" not in entry.name:
            res.entries.append(entry)
        elif entry is None and not _not_an_entry(line):
            res.bad += 1


def _not_an_entry(line: str) -> bool:
    low = line.lower()
    return (
        low.startswith("total ")
        or "type=cdir" in low
        or "type=pdir" in low
        or line.rstrip().endswith((" .", " .."))
    )


async def _chunks(data: DataStream, max_bytes: int) -> AsyncIterator[bytes]:
    total = 0
    while total < max_bytes:
        chunk = await data.recv(min(65536, max_bytes - total))
        if not chunk:
            return
        total += len(chunk)
        yield chunk
