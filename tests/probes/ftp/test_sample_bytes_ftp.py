"""``--sample-bytes N`` in the FTP probe (intrusive, off by default), and 2121 as an FTP port.

The FTP client's ``retrieve_head`` against in-process servers (a well-behaved one, one that
streams an endless RETR body and never answers ABOR); then the lab's vsftpd 127.0.10.11
(anonymous on 21 and 2121), every command the probe sends recorded (tests/sampling.py): with
``sample_bytes == 0`` no RETR; with N > 0 at most N bytes per file, from a bounded number of
files, nothing written, and the sniffed types reach the finding's evidence and triage.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hostile_servers import SEND_CAP, Handler, serve
from lab_fixtures import Lab
from sampling import SAMPLE_KEYS, RecordingDialer, assert_reflected_in_triage, unauth

from probes import ftp as ftp_probe
from probes.http import PROBE as HTTP
from scanner.dialer import Connection, Dialer
from scanner.engine import Engine, ScanOptions, default_ports
from scanner.models import Kind, ServiceInfo, Status
from scanner.ports import PortSpec
from scanner.probe import ProbeContext
from scanner.protocols import ftp as ftpp
from scanner.targets import build_scope

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
GUEST, SMB1, ANON = "127.0.10.1", "127.0.10.2", "127.0.10.11"


# -- FTP retrieve_head against in-process servers ----------------------------------------------

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
