"""``--sample-bytes N`` in the SMB and FTP probes (intrusive, off by default).

Byte-level tests of the SMB2 READ request/response (constructed bytes, hypothesis) and of the FTP
client's ``retrieve_head`` against in-process servers (a well-behaved one, one that streams an
endless RETR body and never answers ABOR); then the real lab (Samba 127.0.10.1 share
``recordings``, SMB1-only Samba 127.0.10.2 share ``public``, vsftpd 127.0.10.11 anonymous on 21
and 2121). What goes over the wire is recorded by a dialer that keeps every byte the probe sends:
with ``sample_bytes == 0`` no file is opened for reading and nothing is read; with N > 0 at most
N bytes are asked for and kept per file, from a bounded number of files, nothing is written, and
the sniffed types reach the finding's evidence and triage.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lab_fixtures import Lab

from probes import ftp as ftp_probe
from probes import smb as smb_probe
from probes.http import PROBE as HTTP
from scanner.dialer import Connection, Dialer
from scanner.engine import Engine, ScanOptions, default_ports
from scanner.lab import content
from scanner.models import Access, Entry, Finding, Kind, Listing, ServiceInfo, Severity, Status
from scanner.ports import PortSpec
from scanner.probe import ProbeContext
from scanner.protocols import ftp as ftpp
from scanner.protocols.smb import client, messages
from scanner.protocols.smb.constants import (
    MAX_READ_LENGTH,
    WRITE_BITS,
    AccessMask,
    Command,
    CreateOptions,
    HeaderFlags,
    NtStatus,
    ShareAccess,
)
from scanner.protocols.smb.errors import SmbProtocolError
from scanner.protocols.smb.header import frame, parse_header
from scanner.targets import build_scope
from scanner.triage import triage_finding

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
GUEST, SMB1, ANON = "127.0.10.1", "127.0.10.2", "127.0.10.11"
FID = bytes(range(16))
WAV_NAME = content.RECORDING_EXAMPLE.rsplit("/", 1)[1]


# -- SMB2 READ on constructed bytes ------------------------------------------------------------
def read_response(
    data: bytes,
    *,
    status: int = NtStatus.SUCCESS,
    command: int = Command.READ,
    size: int = 17,
    offset: int | None = None,
    length: int | None = None,
) -> bytes:
    hdr = struct.pack(
        "<4sHHIHHIIQIIQ16s",
        b"\xfeSMB", 64, 1, status, command, 1, HeaderFlags.RESPONSE, 0, 7, 0xFEFF, 5, 9, b"\0" * 16
    )  # fmt: skip
    off = 64 + 16 if offset is None else offset
    n = len(data) if length is None else length
    body = struct.pack("<HBBIII", size, off, 0, n, 0, 0)
    return hdr + body + data


def test_build_read_is_byte_exact() -> None:
    msg = messages.build_read(3, 0x1122, 5, FID, 4096, credit_charge=1, credit_request=64)
    hdr = parse_header(msg)
    assert (hdr.command, hdr.message_id, hdr.session_id, hdr.tree_id) == (0x0008, 3, 0x1122, 5)
    body = msg[64:]
    assert len(body) == 49  # StructureSize 49: 48 fixed bytes and the one-byte buffer
    assert body == (
        struct.pack("<HBBIQ", 49, 0x50, 0, 4096, 0)
        + FID
        + struct.pack("<IIIHH", 0, 0, 0, 0, 0)
        + b"\0"
    )
    assert struct.unpack_from("<H", msg, 6)[0] == 1  # credit charge in the header
    at = messages.build_read(4, 1, 1, FID, 16, offset=512)
    assert struct.unpack_from("<IQ", at, 64 + 4) == (16, 512)
    for length, off, fid in ((0, 0, FID), (-1, 0, FID), (1, -1, FID), (1, 0, b"short")):
        with pytest.raises(ValueError):
            messages.build_read(1, 1, 1, fid, length, offset=off)


def test_create_for_sampling_is_read_only_and_never_creates() -> None:
    msg = messages.build_create(
        2, 7, 5, "2019/03/a.wav",
        desired_access=client.READ_ONLY,
        create_options=CreateOptions.FILE_NON_DIRECTORY_FILE, maximal_access=False,
        share_access=ShareAccess.READ,
    )  # fmt: skip
    access, _attrs, share, disposition, options = struct.unpack_from("<IIIII", msg, 64 + 24)
    assert access == 0x00100081  # SYNCHRONIZE | FILE_READ_ATTRIBUTES | FILE_READ_DATA
    assert access & WRITE_BITS == 0
    assert share == 0x1  # FILE_SHARE_READ
    assert disposition == 1  # FILE_OPEN: fails if missing, never creates or overwrites
    assert options == CreateOptions.FILE_NON_DIRECTORY_FILE
    assert "2019\\03\\a.wav".encode("utf-16-le") in msg
    # the default (listing) CREATE keeps sharing everything
    dflt = messages.build_create(2, 7, 5, "")
    assert struct.unpack_from("<I", dflt, 64 + 32)[0] == 0x7


def test_parse_read_response() -> None:
    r = messages.parse_read_response(read_response(b"RIFF\x24\0\0\0WAVEfmt "), 64)
    assert r.status == NtStatus.SUCCESS and r.data == b"RIFF\x24\0\0\0WAVEfmt "
    assert not r.overlong
    # a server sending more than asked: only the asked-for bytes are kept
    big = messages.parse_read_response(read_response(b"A" * 100), 16)
    assert big.data == b"A" * 16 and big.overlong
    # end of file (an empty file) is no data, not an error
    eof = messages.parse_read_response(read_response(b"", status=NtStatus.END_OF_FILE), 16)
    assert eof.status == NtStatus.SUCCESS and eof.data == b""
    denied = messages.parse_read_response(read_response(b"", status=NtStatus.ACCESS_DENIED), 16)
    assert denied.status == NtStatus.ACCESS_DENIED and denied.data == b""


@pytest.mark.parametrize(
    "msg",
    [
        read_response(b"abc", command=Command.CREATE),  # an answer to another command
        read_response(b"abc", size=9),  # wrong structure size
        read_response(b"abc", length=4000),  # data length past the message
        read_response(b"abc", offset=10),  # data offset inside the header
        read_response(b"")[:70],  # body cut short
        b"\xffSMB" + b"\0" * 80,  # SMB1
    ],
)
def test_parse_read_response_refuses_malformed(msg: bytes) -> None:
    with pytest.raises(SmbProtocolError):
        messages.parse_read_response(msg, 16)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), wanted=st.integers(min_value=1, max_value=400))
def test_read_response_round_trip_within_the_bound(data: bytes, wanted: int) -> None:
    r = messages.parse_read_response(read_response(data), wanted)
    assert r.data == data[:wanted] and len(r.data) <= wanted
    assert r.overlong == (len(data) > wanted)


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=200), cut=st.integers(min_value=0, max_value=120))
def test_read_response_garbage_is_a_protocol_error(garbage: bytes, cut: int) -> None:
    for msg in (garbage, read_response(garbage)[:cut], b"\xfeSMB" + garbage):
        try:
            r = messages.parse_read_response(msg, 32)
        except SmbProtocolError:
            continue
        assert len(r.data) <= 32


def smb2_response(command: int, body: bytes, status: int = NtStatus.SUCCESS) -> bytes:
    hdr = struct.pack(
        "<4sHHIHHIIQIIQ16s",
        b"\xfeSMB", 64, 1, status, command, 1, HeaderFlags.RESPONSE, 0, 0, 0xFEFF, 5, 9, b"\0" * 16
    )  # fmt: skip
    return hdr + body


def create_response(file_id: bytes) -> bytes:
    body = struct.pack(
        "<HBBIQQQQQQII16sII", 89, 0, 0, 1, 0, 0, 0, 0, 0, 844, 0x20, 0, file_id, 0, 0
    )
    return smb2_response(Command.CREATE, body + b"\0")


class CannedStream:
    """A byte-level stand-in for a connection: replays constructed answers, keeps requests."""

    def __init__(self, answers: list[bytes]) -> None:
        self.buf = b"".join(frame(a) for a in answers)
        self.sent: list[bytes] = []

    async def send(self, data: bytes) -> None:
        self.sent.append(data[4:])

    async def recv_exactly(self, n: int, timeout: float | None = None) -> bytes:
        if len(self.buf) < n:
            raise asyncio.IncompleteReadError(self.buf, n)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _neg(max_read: int = 8 * 1024 * 1024) -> messages.NegotiateInfo:
    return messages.NegotiateInfo(0x0311, 0, 0, b"\0" * 16, 65536, max_read)


async def test_read_head_create_read_close_and_an_overlong_answer_is_cut() -> None:
    stream = CannedStream(
        [
            create_response(FID),
            read_response(b"RIFF" + b"x" * 500),  # far more than asked
            smb2_response(Command.CLOSE, struct.pack("<HHI", 60, 0, 0) + b"\0" * 52),
        ]
    )
    sess = client.Smb2Session(stream, _neg())
    r = await sess.read_head(5, "a/b.wav", 16)
    assert r.data == b"RIFF" + b"x" * 12 and r.overlong
    cmds = [struct.unpack_from("<H", m, 12)[0] for m in stream.sent]
    assert cmds == [Command.CREATE, Command.READ, Command.CLOSE]
    assert struct.unpack_from("<I", stream.sent[1], 64 + 4)[0] == 16  # asked for N, no more
    assert stream.sent[1][64 + 16 : 64 + 32] == FID and stream.sent[2][64 + 8 :] == FID
    # a 64 KiB cap, and the server's MaxReadSize if it is smaller
    close = smb2_response(Command.CLOSE, b"")
    big = CannedStream([create_response(FID), read_response(b""), close])
    await client.Smb2Session(big, _neg(4096)).read_head(5, "x", 10**6)
    assert struct.unpack_from("<I", big.sent[1], 64 + 4)[0] == 4096
    close = smb2_response(Command.CLOSE, b"")
    big = CannedStream([create_response(FID), read_response(b""), close])
    await client.Smb2Session(big, _neg()).read_head(5, "x", 10**6)
    assert struct.unpack_from("<I", big.sent[1], 64 + 4)[0] == MAX_READ_LENGTH


async def test_read_head_refused_open_sends_no_read_and_broken_read_still_closes() -> None:
    denied = CannedStream([smb2_response(Command.CREATE, b"", NtStatus.ACCESS_DENIED)])
    r = await client.Smb2Session(denied, _neg()).read_head(5, "secret.wav", 16)
    assert r.status == NtStatus.ACCESS_DENIED and r.data == b""
    assert len(denied.sent) == 1  # no READ, no CLOSE of a handle never opened
    broken = CannedStream([create_response(FID), read_response(b"abc", size=3)])
    with pytest.raises(SmbProtocolError):
        await client.Smb2Session(broken, _neg()).read_head(5, "a.wav", 16)
    cmds = [struct.unpack_from("<H", m, 12)[0] for m in broken.sent]
    # the handle is closed all the same
    assert cmds == [Command.CREATE, Command.READ, Command.CLOSE]


def test_sample_settings_clamp() -> None:
    d = Dialer(LOOPBACK)
    try:
        for name in ("smb", "ftp", "http", "s3", "nfs"):
            key = f"{name}.sample_files"

            def settings_of(ctx: ProbeContext, name: str = name) -> tuple[int, int]:
                return ctx.sample_settings(name)

            assert settings_of(ProbeContext(dialer=d)) == (0, 0)
            assert settings_of(ProbeContext(dialer=d, sample_bytes=16)) == (16, 3)
            huge = ProbeContext(dialer=d, sample_bytes=10**9, options={key: 100})
            assert settings_of(huge) == (64 * 1024, 8)
            assert settings_of(ProbeContext(dialer=d, sample_bytes=8, options={key: -2})) == (8, 0)
            assert settings_of(ProbeContext(dialer=d, sample_bytes=8, options={key: "x"})) == (8, 3)
    finally:
        d.shutdown()


# -- FTP retrieve_head against in-process servers ----------------------------------------------
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
SEND_CAP = 64 * 1024 * 1024  # an "endless" body is still bounded in the test


@contextlib.asynccontextmanager
async def serve(host: str, handler: Handler, port: int = 0) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[Any]] = set()

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


class DataServer:
    """A passive data listener: what it sends per connection, and how much it got out."""

    def __init__(self, body: bytes, endless: bool) -> None:
        self.body = body
        self.endless = endless
        self.sent = 0
        self.closed_by_peer = asyncio.Event()

    async def __call__(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            w.write(self.body)
            await w.drain()
            self.sent += len(self.body)
            while self.endless and self.sent < SEND_CAP:
                chunk = b"\0" * 65536
                w.write(chunk)
                await w.drain()
                self.sent += len(chunk)
        except OSError:
            self.closed_by_peer.set()
            raise


def control(
    data_port: Callable[[], int],
    *,
    answers_abor: bool,
    retr_ends: Callable[[], bool] = lambda: False,
) -> tuple[Handler, list[str]]:
    """An FTP control connection: anonymous login, EPSV, LIST (1xx, 226), RETR (1xx, and 226
    when ``retr_ends()``); after a hang-up, either 426/226 + the NOOP's 200 (``answers_abor``)
    or silence."""
    seen: list[str] = []

    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"220 test server\r\n")
        await w.drain()
        while len(seen) < 200:
            line = await r.readline()
            if not line:
                return
            cmd = line.decode().strip()
            seen.append(cmd)
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "USER":
                reply = "331 ok" if cmd.endswith("anonymous") else "530 no"
            elif verb == "PASS":
                reply = "230 in"
            elif verb in ("TYPE", "NOOP"):
                reply = "200 ok"
            elif verb == "EPSV":
                reply = f"229 Entering Extended Passive Mode (|||{data_port()}|)"
            elif verb == "LIST":
                w.write(b"150 here\r\n")
                await w.drain()
                await asyncio.sleep(0.2)  # the data server sends the listing lines
                reply = "226 done"
            elif verb == "RETR":
                reply = "150 Opening BINARY mode data connection"
                if retr_ends():
                    w.write(reply.encode() + b"\r\n")
                    await w.drain()
                    await asyncio.sleep(0.2)
                    reply = "226 Transfer complete"
            elif verb == "ABOR":
                if not answers_abor:
                    await asyncio.sleep(30)  # hostile: never answers again
                reply = "426 Transfer aborted\r\n226 ABOR successful"
            elif verb == "QUIT":
                reply = "221 bye"
            else:
                reply = "500 unknown"
            w.write(reply.encode() + b"\r\n")
            await w.drain()

    return h, seen


WAV_HEAD = b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\0\0\0\x01\0\x01\0@\x1f\0\0\x80>\0\0\x02\0\x10\0data"


async def test_retrieve_head_stops_at_n_on_an_endless_body() -> None:
    host = "127.0.79.1"
    data = DataServer(WAV_HEAD, endless=True)
    async with serve(host, data) as dport:
        handler, seen = control(lambda: dport, answers_abor=False)
        async with serve(host, handler) as cport:
            d = Dialer(LOOPBACK, connect_timeout=2.0, read_timeout=2.0)
            try:
                async with d.tcp(host, cport) as conn:
                    client = ftpp.FtpClient(conn)
                    await client.greeting()
                    await client.login("anonymous", "x@y")

                    @contextlib.asynccontextmanager
                    async def open_data(port: int) -> AsyncIterator[Connection]:
                        async with d.tcp(host, port) as c:
                            yield c

                    t0 = time.monotonic()
                    res = await client.retrieve_head("rec.wav", open_data, 20, reply_timeout=1.0)
                    elapsed = time.monotonic() - t0
            finally:
                d.shutdown()
    assert res.data == WAV_HEAD[:20] and len(res.data) == 20
    assert res.aborted and not res.in_sync and res.closing_replies == ()
    assert elapsed < 5
    assert seen[-2:] == ["RETR rec.wav", "ABOR"]  # the server never got to the NOOP
    assert not any(c.split(" ")[0] in ("STOR", "DELE", "APPE", "RNFR", "MKD") for c in seen)


async def test_retrieve_head_resyncs_after_abor_and_short_file_ends_with_226() -> None:
    host = "127.0.79.2"
    data = DataServer(WAV_HEAD, endless=True)
    async with serve(host, data) as dport:
        handler, seen = control(
            lambda: dport, answers_abor=True, retr_ends=lambda: not data.endless
        )
        async with serve(host, handler) as cport:
            d = Dialer(LOOPBACK, connect_timeout=2.0, read_timeout=2.0)
            try:
                async with d.tcp(host, cport) as conn:
                    client = ftpp.FtpClient(conn)
                    await client.greeting()
                    await client.login("anonymous", "x@y")

                    @contextlib.asynccontextmanager
                    async def open_data(port: int) -> AsyncIterator[Connection]:
                        async with d.tcp(host, port) as c:
                            yield c

                    res = await client.retrieve_head("rec.wav", open_data, 12, reply_timeout=1.0)
                    # in step again: the next command gets its own answer
                    after = await client.command("TYPE I")
                    data.endless = False  # next file: the whole body, then EOF
                    short = await client.retrieve_head("b.wav", open_data, 4096)
            finally:
                d.shutdown()
    assert res.data == b"RIFF\xff\xff\xff\x7fWAVE" and res.aborted and res.in_sync
    assert res.closing_replies == (426, 226, 200)
    assert res.reply is not None and res.reply.code == 426
    assert after.code == 200
    assert short.data == WAV_HEAD and not short.aborted
    assert short.reply is not None and short.reply.code == 226
    with pytest.raises(ValueError):
        await client.retrieve_head("x", open_data, 0)
    assert seen.count("RETR rec.wav") == 1 and seen.count("RETR b.wav") == 1


async def test_ftp_probe_against_an_endless_retr_ends_in_time_with_n_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hostile server: the RETR body never ends and ABOR is never answered. The probe reads N
    bytes, hangs up, gives up on that control connection and finishes within its budget."""
    host = "127.0.79.3"
    listing = b"-rw-r--r-- 1 ftp ftp 100000000 Mar 14 2019 rec.wav\r\n"
    state = {"listing": True}

    async def data_handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if state["listing"]:
            state["listing"] = False
            w.write(listing)
            await w.drain()
            return
        await DataServer(WAV_HEAD, endless=True)(r, w)

    kept: list[int] = []
    real = ftpp.FtpClient.retrieve_head

    async def spy(self: ftpp.FtpClient, *a: Any, **kw: Any) -> ftpp.RetrieveResult:
        res = await real(self, *a, **kw)
        kept.append(len(res.data))
        return res

    monkeypatch.setattr(ftpp.FtpClient, "retrieve_head", spy)
    budget = 10.0
    async with serve(host, data_handler) as dport:
        handler, seen = control(lambda: dport, answers_abor=False)
        async with serve(host, handler) as cport:
            d = Dialer(LOOPBACK, connect_timeout=2.0, read_timeout=2.0)
            tracemalloc.start()
            t0 = time.monotonic()
            try:
                ctx = ProbeContext(dialer=d, timeout=budget, sample_bytes=32)
                result = await asyncio.wait_for(
                    ftp_probe.PROBE.run(ServiceInfo(host=host, port=cport), ctx), budget + 5
                )
            finally:
                elapsed = time.monotonic() - t0
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                d.shutdown()
    assert elapsed < budget
    assert peak < 24 * 1024 * 1024
    assert kept == [32]  # exactly N bytes kept from an endless body
    anon = next(f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    ev = anon.evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == 32
    assert ev["sniffed"] == {"/rec.wav": "wav"} and ev["sampled_files"] == 1
    assert ev["sample_errors"] == {"/rec.wav": "no clean end after ABOR"}
    assert "RETR rec.wav" in seen and "ABOR" in seen


# -- recording what the probes send ------------------------------------------------------------
class _SockSpy:
    """A blocking socket that records what pysmb sends on it (everything else passes through)."""

    def __init__(self, sock: socket.socket, log: bytearray) -> None:
        self._sock = sock
        self._log = log

    def send(self, data: bytes) -> int:
        n = self._sock.send(data)
        self._log += bytes(data[:n])
        return n

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)
        self._log += bytes(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class RecordingDialer(Dialer):
    """The normal dialer; every byte sent on every connection is also kept, per connection."""

    def __init__(self) -> None:
        super().__init__(
            LOOPBACK, concurrency=64, per_host=8, connect_timeout=2.0, read_timeout=3.0
        )
        self.streams: list[tuple[int, str, bytearray]] = []
        """(port, "async" for our own clients or "pysmb" for blocking sockets, bytes sent)."""

    @contextlib.asynccontextmanager
    async def tcp(self, host: str, port: int, **kw: Any) -> AsyncIterator[Connection]:
        async with super().tcp(host, port, **kw) as conn:
            log = bytearray()
            self.streams.append((port, "async", log))
            real = conn.send

            async def send(data: bytes) -> None:
                log.extend(data)
                await real(data)

            conn.send = send  # type: ignore[method-assign]
            yield conn

    @contextlib.asynccontextmanager
    async def blocking_socket(
        self, host: str, port: int, *, source_port: int | None = None
    ) -> AsyncIterator[socket.socket]:
        async with super().blocking_socket(host, port, source_port=source_port) as sock:
            log = bytearray()
            self.streams.append((port, "pysmb", log))
            yield _SockSpy(sock, log)  # type: ignore[misc]

    def smb_streams(self, kind: str) -> list[list[bytes]]:
        """The SMB messages sent on each port-445 stream of ``kind`` (direct-TCP frames)."""
        out = []
        for port, k, log in self.streams:
            if port != 445 or k != kind:
                continue
            msgs = []
            pos = 0
            while pos + 4 <= len(log):
                n = int.from_bytes(log[pos + 1 : pos + 4], "big")
                msgs.append(bytes(log[pos + 4 : pos + 4 + n]))
                pos += 4 + n
            out.append(msgs)
        return out

    def smb_messages(self, kind: str = "async") -> list[bytes]:
        return [m for msgs in self.smb_streams(kind) for m in msgs]

    def ftp_commands(self) -> list[str]:
        text = b"".join(bytes(log) for port, _, log in self.streams if port in (21, 2121))
        return [c.decode("utf-8", "replace") for c in text.split(b"\r\n") if c]


@pytest.fixture
async def rec() -> AsyncIterator[RecordingDialer]:
    d = RecordingDialer()
    yield d
    d.shutdown()


def smb2_creates(msgs: list[bytes]) -> list[tuple[int, int, int, int, str]]:
    """(desired access, share access, disposition, create options, name) of every CREATE."""
    out = []
    for m in msgs:
        if m[:4] != b"\xfeSMB" or struct.unpack_from("<H", m, 12)[0] != Command.CREATE:
            continue
        access, share, disposition, options, n_off, n_len = struct.unpack_from(
            "<IxxxxIIIHH", m, 64 + 24
        )
        out.append(
            (access, share, disposition, options, m[n_off : n_off + n_len].decode("utf-16-le"))
        )
    return out


def file_opens_for_reading(msgs: list[bytes]) -> list[tuple[int, int, int, int, str]]:
    """CREATEs asking for FILE_READ_DATA on something that is not opened as a directory
    (FILE_LIST_DIRECTORY is the same bit as FILE_READ_DATA)."""
    return [
        c
        for c in smb2_creates(msgs)
        if c[0] & AccessMask.FILE_READ_DATA and not c[3] & CreateOptions.FILE_DIRECTORY_FILE
    ]


def pysmb_smb2_names(d: RecordingDialer) -> set[str]:
    return {c[4].lower() for c in smb2_creates(d.smb_messages("pysmb"))}


def smb2_reads(msgs: list[bytes]) -> list[tuple[int, int]]:
    """(length, offset) of every SMB2 READ sent."""
    return [
        struct.unpack_from("<IQ", m, 64 + 4)
        for m in msgs
        if m[:4] == b"\xfeSMB" and struct.unpack_from("<H", m, 12)[0] == Command.READ
    ]


SMB1_OPEN_ANDX, SMB1_READ_ANDX, SMB1_NT_CREATE_ANDX = 0x2D, 0x2E, 0xA2
SMB1_WRITES = {0x00, 0x01, 0x06, 0x07, 0x0B, 0x2F}  # MKDIR, RMDIR, DELETE, RENAME, WRITE(_ANDX)


SMB1_TRANS2 = 0x32  # FIND_FIRST2/FIND_NEXT2: listing a share


def smb1_commands(msgs: list[bytes]) -> list[tuple[int, bytes]]:
    return [(m[4], m) for m in msgs if m[:4] == b"\xffSMB" and len(m) > 4]


def smb1_share_streams(d: RecordingDialer) -> tuple[list[list[tuple[int, bytes]]], list[bytes]]:
    """pysmb's SMB1 streams that list shares (TRANS2), and every message of the others."""
    listing: list[list[tuple[int, bytes]]] = []
    others: list[bytes] = []
    for msgs in d.smb_streams("pysmb"):
        cmds = smb1_commands(msgs)
        if any(c == SMB1_TRANS2 for c, _ in cmds):
            listing.append(cmds)
        else:
            others.extend(m for _, m in cmds)
    return listing, others


def assert_smb1_others_only_pipe(others: list[bytes]) -> None:
    """Outside the share checks (enumeration): every open names the srvsvc pipe."""
    for m in others:
        if m[4] in (SMB1_OPEN_ANDX, SMB1_NT_CREATE_ANDX):
            assert "srvsvc".encode("utf-16-le") in m or b"srvsvc" in m, m


def unauth(result: Any, resource: str) -> Finding:
    found = [
        f for f in result.findings
        if f.kind is Kind.UNAUTHENTICATED_ACCESS and f.resource == resource
    ]  # fmt: skip
    assert len(found) == 1, (result.status, result.detail, result.info)
    return found[0]


def assert_reflected_in_triage(f: Finding) -> None:
    """The sniffed WAV makes triage confirm a recording; it alone makes a dull listing critical."""
    t = triage_finding(f)
    assert t.severity == Severity.CRITICAL
    assert t.evidence["confirmed_by_content"].get("recording", 0) >= 1
    dull = Listing(entries=[Entry(path="data/file.bin", size=1000)], truncated=False)
    ev = dict(f.evidence)
    bare = f.model_copy(update={"listing": dull, "resource": "data", "evidence": ev})
    assert triage_finding(bare).severity == Severity.CRITICAL
    no_sniff = {k: v for k, v in ev.items() if k != "sniffed"}
    assert triage_finding(bare.model_copy(update={"evidence": no_sniff})).severity == Severity.HIGH


SAMPLE_KEYS = {"intrusive", "sample_bytes", "sampled_files", "sniffed", "sample_errors"}


# -- SMB2/3 against the lab's Samba ------------------------------------------------------------
@pytest.mark.lab
async def test_smb2_without_sample_bytes_opens_no_file_for_reading(
    lab: Lab, rec: RecordingDialer
) -> None:
    result = await smb_probe.PROBE.run(
        ServiceInfo(host=GUEST, port=445), ProbeContext(dialer=rec, timeout=60.0)
    )
    f = unauth(result, "recordings")
    assert f.access is Access.READ  # from MxAc, not from an open for reading
    msgs = rec.smb_messages()
    creates = smb2_creates(msgs)
    file_opens = [c for c in creates if c[3] & CreateOptions.FILE_NON_DIRECTORY_FILE]
    assert file_opens, "no file CREATE recorded"
    assert file_opens_for_reading(msgs) == []
    assert smb2_reads(msgs) == []
    # pysmb (SRVSVC share enumeration) opens the srvsvc pipe and nothing else
    assert pysmb_smb2_names(rec) <= {"srvsvc"}
    assert not SAMPLE_KEYS & set(f.evidence)


@pytest.mark.lab
async def test_smb2_samples_the_lab_wav(lab: Lab, rec: RecordingDialer) -> None:
    n = 24
    ctx = ProbeContext(dialer=rec, timeout=60.0, sample_bytes=n)
    result = await smb_probe.PROBE.run(ServiceInfo(host=GUEST, port=445), ctx)
    f = unauth(result, "recordings")
    ev = f.evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == n
    assert 1 <= ev["sampled_files"] <= 3
    wavs = [p for p, kind in ev["sniffed"].items() if kind == "wav"]
    assert wavs and all(p.endswith(".wav") for p in wavs)
    assert "sample_errors" not in ev
    msgs = rec.smb_messages()
    reads = smb2_reads(msgs)
    assert len(reads) == ev["sampled_files"] <= 3
    assert all(length == n and offset == 0 for length, offset in reads)
    reading = file_opens_for_reading(msgs)
    assert len(reading) == len(reads)
    for access, share, disposition, _options, name in reading:
        assert access == (
            AccessMask.FILE_READ_DATA | AccessMask.FILE_READ_ATTRIBUTES | AccessMask.SYNCHRONIZE
        )
        assert share == ShareAccess.READ and disposition == 1
        assert "/" + name.replace("\\", "/") in ev["sniffed"]
    assert pysmb_smb2_names(rec) <= {"srvsvc"}
    # the bytes really are the file's first N bytes
    path = wavs[0].lstrip("/")  # entry paths are absolute from the share root
    assert (lab.content / path).read_bytes()[:n] == await _first_bytes(rec, path, n)
    assert_reflected_in_triage(f)


async def _first_bytes(d: Dialer, path: str, n: int) -> bytes:
    """The same bytes read again with our client in a fresh session (a cross-check)."""
    async with d.tcp(GUEST, 445) as conn:
        neg = await client.negotiate(conn)
        sess = client.Smb2Session(conn, neg)
        assert (await sess.login("guest")).status == NtStatus.SUCCESS
        tc = await sess.tree_connect(GUEST, "recordings")
        r = await sess.read_head(tc.tree_id, path, n)
    assert r.status == NtStatus.SUCCESS
    return r.data


@pytest.mark.lab
async def test_smb2_sample_files_option_and_missing_file(lab: Lab, rec: RecordingDialer) -> None:
    ctx = ProbeContext(dialer=rec, timeout=60.0, sample_bytes=8, options={"smb.sample_files": 1})
    result = await smb_probe.PROBE.run(ServiceInfo(host=GUEST, port=445), ctx)
    f = unauth(result, "recordings")
    assert f.evidence["sampled_files"] == 1 and len(smb2_reads(rec.smb_messages())) == 1
    # a name that is not there: the read-only CREATE fails, no file comes into being
    async with rec.tcp(GUEST, 445) as conn:
        neg = await client.negotiate(conn)
        sess = client.Smb2Session(conn, neg)
        await sess.login("guest")
        tc = await sess.tree_connect(GUEST, "recordings")
        r = await sess.read_head(tc.tree_id, "no/such-file.wav", 8)
    assert r.status in (0xC000003A, 0xC0000034)  # path / name not found
    assert not (lab.content / "no").exists()


# -- SMB1-only (pysmb) -------------------------------------------------------------------------
@pytest.mark.lab
async def test_smb1_without_sample_bytes_opens_nothing(lab: Lab, rec: RecordingDialer) -> None:
    result = await smb_probe.PROBE.run(
        ServiceInfo(host=SMB1, port=445), ProbeContext(dialer=rec, timeout=60.0)
    )
    f = unauth(result, "public")
    listing, others = smb1_share_streams(rec)
    assert listing, "pysmb's SMB1 share listing was not recorded"
    sent = {c for cmds in listing for c, _ in cmds}
    assert not sent & {SMB1_OPEN_ANDX, SMB1_READ_ANDX, SMB1_NT_CREATE_ANDX}, sent
    assert_smb1_others_only_pipe(others)
    assert not SAMPLE_KEYS & set(f.evidence)


@pytest.mark.lab
async def test_smb1_samples_the_lab_wav_within_n(lab: Lab, rec: RecordingDialer) -> None:
    n = 20
    ctx = ProbeContext(dialer=rec, timeout=60.0, sample_bytes=n)
    result = await smb_probe.PROBE.run(ServiceInfo(host=SMB1, port=445), ctx)
    f = unauth(result, "public")
    ev = f.evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == n
    assert any(kind == "wav" for kind in ev["sniffed"].values()), ev
    assert 1 <= ev["sampled_files"] <= 3
    listing, others = smb1_share_streams(rec)
    assert_smb1_others_only_pipe(others)
    cmds = [x for stream in listing for x in stream]
    assert not [m for c, m in cmds if c == SMB1_NT_CREATE_ANDX]
    opens = [m for c, m in cmds if c == SMB1_OPEN_ANDX]
    reads = [m for c, m in cmds if c == SMB1_READ_ANDX]
    assert len(opens) == ev["sampled_files"] and len(reads) == len(opens)
    for m in reads:
        # READ_ANDX words: AndX(4) FID(2) Offset(4) MaxCount(2): never more than N asked for
        max_count = struct.unpack_from("<H", m, 32 + 1 + 4 + 2 + 4)[0]
        assert max_count <= n
    for m in opens:
        # OPEN_ANDX words: AndX(4) Flags(2) AccessMode(2) ... OpenMode(2) at word 8
        access_mode = struct.unpack_from("<H", m, 32 + 1 + 4 + 2)[0]
        open_mode = struct.unpack_from("<H", m, 32 + 1 + 16)[0]
        assert access_mode & 0x7 == 0  # read only
        assert open_mode == 0x0001  # open if it exists, never create or truncate
    assert not {c for c, _ in cmds} & SMB1_WRITES
    assert_reflected_in_triage(f)


# -- FTP against the lab's vsftpd --------------------------------------------------------------
FTP_WRITING = ("STOR", "STOU", "APPE", "DELE", "RMD", "MKD", "RNFR", "RNTO", "SITE")


@pytest.mark.lab
async def test_ftp_without_sample_bytes_sends_no_retr(lab: Lab, rec: RecordingDialer) -> None:
    result = await ftp_probe.PROBE.run(
        ServiceInfo(host=ANON, port=21), ProbeContext(dialer=rec, timeout=60.0)
    )
    f = unauth(result, "/")
    cmds = rec.ftp_commands()
    assert any(c.startswith("LIST") or c.startswith("MLSD") for c in cmds), cmds
    assert not [c for c in cmds if c.split(" ")[0].upper() in ("RETR", "ABOR")]
    assert not SAMPLE_KEYS & set(f.evidence)


@pytest.mark.lab
@pytest.mark.parametrize("port", [21, 2121])
async def test_ftp_samples_the_lab_wav(lab: Lab, rec: RecordingDialer, port: int) -> None:
    n = 16
    ctx = ProbeContext(dialer=rec, timeout=60.0, sample_bytes=n)
    result = await ftp_probe.PROBE.run(ServiceInfo(host=ANON, port=port), ctx)
    assert result.status is Status.SUCCESS, result.detail
    f = unauth(result, "/")
    ev = f.evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == n
    assert ev["sampled_files"] == 3 and "sample_errors" not in ev
    wavs = [p for p, kind in ev["sniffed"].items() if kind == "wav"]
    assert wavs and all(p.endswith(".wav") for p in wavs)
    assert ev["sample_aborted"] == 3  # every lab file is longer than 16 bytes
    cmds = rec.ftp_commands()
    retrs = [c for c in cmds if c.startswith("RETR ")]
    assert len(retrs) == 3 and cmds.count("ABOR") == 3
    assert not [c for c in cmds if c.split(" ")[0].upper() in FTP_WRITING]
    assert_reflected_in_triage(f)


@pytest.mark.lab
async def test_ftp_whole_small_file_and_cap(lab: Lab, rec: RecordingDialer) -> None:
    """N larger than the lab's small files: read to the end (226), no ABOR; N above 64 KiB is cut
    to 64 KiB and says so."""
    ctx = ProbeContext(
        dialer=rec, timeout=60.0, sample_bytes=10**6, options={"ftp.sample_files": 1}
    )
    result = await ftp_probe.PROBE.run(ServiceInfo(host=ANON, port=21), ctx)
    ev = unauth(result, "/").evidence
    assert ev["sampled_files"] == 1 and ev["sample_aborted"] == 0
    assert ev["sample_bytes"] == 64 * 1024 and "65536" in ev["sample_note"]
    assert "ABOR" not in rec.ftp_commands()


# -- 2121 is an FTP default port now; greeting detection still covered on other ports ----------
def test_2121_is_an_ftp_default_port() -> None:
    assert ftp_probe.PROBE.claims_port(2121, ftp_probe.PROBE.transport)
    assert 2121 in default_ports([ftp_probe.PROBE]).tcp


@pytest.mark.lab
async def test_default_port_scan_finds_the_anonymous_ftp_on_2121(lab: Lab) -> None:
    scope = await build_scope([ANON])
    options = ScanOptions(
        ports=default_ports([ftp_probe.PROBE]),
        probes=[ftp_probe.PROBE],
        connect_timeout=1.0,
        retries=0,
        probe_timeout=60.0,
        processes=1,
    )
    report = await Engine(scope, options).run()
    found = {(s.port, s.protocol, s.probes.get("ftp")) for s in report.services}
    assert (2121, "ftp", Status.SUCCESS) in found and (21, "ftp", Status.SUCCESS) in found
    on_2121 = [f for f in report.findings if f.port == 2121]
    assert Kind.UNAUTHENTICATED_ACCESS in {f.kind for f in on_2121}


async def test_http_on_2121_still_identified_as_http() -> None:
    """A claimed default port that another service uses: the FTP probe says not-applicable when
    no FTP greeting comes, and identification finds the HTTP server."""
    host = "127.0.79.4"

    async def http(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        body = b"<html><title>hello</title></html>"
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await w.drain()

    async with serve(host, http, port=2121):
        scope = await build_scope([host])
        options = ScanOptions(
            ports=PortSpec.of([2121]),
            probes=[ftp_probe.PROBE, HTTP],
            connect_timeout=1.0,
            read_timeout=1.5,
            retries=0,
            probe_timeout=20.0,
            processes=1,
        )
        report = await Engine(scope, options).run()
    assert [(s.port, s.protocol) for s in report.services] == [(2121, "http")]
    assert report.services[0].probes.get("ftp") in (None, Status.NOT_APPLICABLE)


async def test_ftp_greeting_detection_on_an_unclaimed_port() -> None:
    """An FTP server on a port no probe claims is still found by its 220 greeting."""
    host = "127.0.79.5"
    handler, seen = control(lambda: 1, answers_abor=True)
    async with serve(host, handler) as port:
        assert not ftp_probe.PROBE.claims_port(port, ftp_probe.PROBE.transport)
        scope = await build_scope([host])
        options = ScanOptions(
            ports=PortSpec.of([port]),
            probes=[ftp_probe.PROBE, HTTP],
            connect_timeout=1.0,
            read_timeout=1.5,
            retries=0,
            probe_timeout=20.0,
            processes=1,
        )
        report = await Engine(scope, options).run()
    assert [(s.port, s.protocol) for s in report.services] == [(port, "ftp")]
    assert "USER anonymous" in seen
