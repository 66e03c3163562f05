"""``--sample-bytes N`` in the NFS probe (intrusive, off by default).

Byte-level tests of the NFSv3 READ encoding/decoding (constructed bytes, hypothesis), a hostile
in-process RPC server that answers READ with more data than asked, then the real lab
(nfs-ganesha at 127.0.10.31 exporting the recordings tree): the first bytes are read only when
``ctx.sample_bytes > 0``, never more than N per file, from a bounded number of files, and the
sniffed types reach the finding's evidence and triage; end to end, a scan of the NFS and TFTP
services with ``--sample-bytes`` masks what it sampled.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lab_fixtures import Lab

from probes import nfs as nfs_probe
from scanner.dialer import Dialer
from scanner.masking import mask_text
from scanner.models import Finding, Kind, ServiceInfo, Severity, Status
from scanner.probe import MAX_SAMPLE_FILES, ProbeContext
from scanner.protocols import nfs3, rpc
from scanner.protocols.xdr import Unpacker, XDRError
from scanner.triage import triage_finding

FH = bytes(range(1, 29))  # a 28-byte file handle


def u32(v: int) -> bytes:
    return struct.pack(">I", v)


def u64(v: int) -> bytes:
    return struct.pack(">Q", v)


def fattr3(size: int) -> bytes:
    """A regular file's fattr3 (84 bytes), built field by field."""
    return (
        u32(1) + u32(0o644) + u32(1) + u32(0) + u32(0)  # type, mode, nlink, uid, gid
        + u64(size) + u64(size)  # size, used
        + u32(0) + u32(0)  # rdev
        + u64(7) + u64(1234)  # fsid, fileid
        + u32(1) + u32(0) + u32(2) + u32(0) + u32(3) + u32(0)  # atime, mtime, ctime
    )


def read_ok(data: bytes, *, eof: bool, attrs: bytes | None = None, count: int | None = None
            ) -> bytes:
    post_op = u32(0) if attrs is None else u32(1) + attrs
    pad = b"\0" * (-len(data) % 4)
    n = len(data) if count is None else count
    return u32(0) + post_op + u32(n) + u32(int(eof)) + u32(len(data)) + data + pad


def test_read_args_are_byte_exact() -> None:
    args = nfs3.read_args(FH, 16)
    assert args == u32(28) + FH + u64(0) + u32(16)
    assert nfs3.read_args(b"\x01\x02\x03", 512, offset=4096) == (
        u32(3) + b"\x01\x02\x03\0" + u64(4096) + u32(512)
    )
    assert nfs3.NFSPROC3_READ == 6  # RFC 1813: READ is procedure 6 (WRITE would be 7)
    for bad in (0, -1, nfs3.MAX_READ + 1):
        with pytest.raises(ValueError):
            nfs3.read_args(FH, bad)


def test_decode_read_ok_with_and_without_attributes() -> None:
    r = nfs3.decode_read(Unpacker(read_ok(b"RIFF\x24\x00\x00\x00WAVE", eof=False,
                                          attrs=fattr3(844))), 16)
    assert r.data == b"RIFF\x24\x00\x00\x00WAVE" and r.eof is False
    assert r.attrs is not None and r.attrs.size == 844 and r.attrs.type == nfs3.FileType.NF3REG
    # 5 data bytes: 3 pad bytes follow; whole short file: eof set, no attributes
    r = nfs3.decode_read(Unpacker(read_ok(b"hello", eof=True)), 16)
    assert r.data == b"hello" and r.eof is True and r.attrs is None
    r = nfs3.decode_read(Unpacker(read_ok(b"", eof=True)), 16)
    assert r.data == b"" and r.eof


def test_decode_read_error_status_is_nfs3_error() -> None:
    body = u32(nfs3.NFS3Stat.NFS3ERR_ACCES) + u32(1) + fattr3(10)
    with pytest.raises(nfs3.NFS3Error) as exc:
        nfs3.decode_read(Unpacker(body), 16)
    assert exc.value.status == nfs3.NFS3Stat.NFS3ERR_ACCES and "NFS3ERR_ACCES" in str(exc.value)


def test_decode_read_refuses_more_than_asked_and_inconsistent_counts() -> None:
    # 17 bytes of data for a 16-byte READ: never accepted
    with pytest.raises(XDRError, match="exceeds the limit 16"):
        nfs3.decode_read(Unpacker(read_ok(b"x" * 17, eof=False)), 16)
    # count field disagrees with the opaque length
    with pytest.raises(XDRError, match="disagrees"):
        nfs3.decode_read(Unpacker(read_ok(b"abcd", eof=False, count=8)), 16)
    # trailing garbage after the reply
    with pytest.raises(XDRError):
        nfs3.decode_read(Unpacker(read_ok(b"abcd", eof=False) + b"\0\0\0\0"), 16)


def test_every_truncation_of_a_read_reply_is_an_xdr_error() -> None:
    whole = read_ok(b"RIFF\x24\x00\x00\x00WAVEfmt ", eof=False, attrs=fattr3(844))
    assert nfs3.decode_read(Unpacker(whole), 16).data.startswith(b"RIFF")
    for cut in range(len(whole)):
        with pytest.raises(XDRError):
            nfs3.decode_read(Unpacker(whole[:cut]), 16)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64), extra=st.integers(0, 64), eof=st.booleans(),
       with_attrs=st.booleans())
def test_read_round_trip_within_the_bound(data: bytes, extra: int, eof: bool,
                                          with_attrs: bool) -> None:
    ask = max(len(data) + extra, 1)
    body = read_ok(data, eof=eof, attrs=fattr3(ask) if with_attrs else None)
    r = nfs3.decode_read(Unpacker(body), ask)
    assert r.data == data and r.eof == eof and len(r.data) <= ask
    if len(data) > 1:  # one byte less allowed than sent: refused
        with pytest.raises(XDRError):
            nfs3.decode_read(Unpacker(body), len(data) - 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_read_garbage_never_escapes_as_another_exception(data: bytes) -> None:
    with contextlib.suppress(XDRError, nfs3.NFS3Error):
        r = nfs3.decode_read(Unpacker(data), 32)
        assert len(r.data) <= 32


@pytest.fixture
async def greedy_server() -> AsyncIterator[int]:
    """Answers every RPC call with a READ reply carrying 4096 bytes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            (word,) = struct.unpack(">I", await reader.readexactly(4))
            call = await reader.readexactly(word & 0x7FFFFFFF)
            xid = struct.unpack(">I", call[:4])[0]
            writer.write(rpc.record_mark(rpc.encode_reply_success(
                xid, read_ok(b"\xaa" * 4096, eof=False))))
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield int(srv.sockets[0].getsockname()[1])
    srv.close()
    await srv.wait_closed()


async def test_read_over_the_wire_refuses_a_greedy_server(greedy_server: int,
                                                          dialer: Dialer) -> None:
    async with rpc.connect(dialer, "127.0.0.1", greedy_server, privileged_port=False) as c:
        with pytest.raises(XDRError, match="exceeds the limit 16"):
            await nfs3.read(c, FH, 16)


Call = tuple[int, int, int, bytes]


@pytest.fixture
def rpc_calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every RPC call any client makes, as (prog, vers, proc, args); the call still goes out."""
    calls: list[Call] = []
    real = rpc.RPCClient.call

    async def spy(self: rpc.RPCClient, prog: int, vers: int, proc: int, args: bytes = b"",
                  cred: rpc.OpaqueAuth = rpc.AUTH_NULL) -> Unpacker:
        calls.append((prog, vers, proc, args))
        return await real(self, prog, vers, proc, args, cred)

    monkeypatch.setattr(rpc.RPCClient, "call", spy)
    return calls


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bytes]]:
    """(count asked, data returned) of every nfs3.read; the real READ still runs."""
    seen: list[tuple[int, bytes]] = []
    real: Callable[..., Awaitable[nfs3.ReadReply]] = nfs3.read

    async def spy(client: rpc.RPCClient, fh: bytes, count: int, *a: Any, **kw: Any
                  ) -> nfs3.ReadReply:
        r = await real(client, fh, count, *a, **kw)
        seen.append((count, r.data))
        return r

    monkeypatch.setattr(nfs3, "read", spy)
    return seen


def nfs_procs(calls: list[Call]) -> list[int]:
    return [proc for prog, vers, proc, _ in calls if prog == nfs3.NFS_PROG and vers == 3]


def read_counts(calls: list[Call]) -> list[int]:
    out = []
    for prog, vers, proc, args in calls:
        if (prog, vers, proc) == (nfs3.NFS_PROG, 3, nfs3.NFSPROC3_READ):
            u = Unpacker(args)
            u.opaque(nfs3.NFS3_FHSIZE), u.uhyper()
            out.append(u.uint())
    return out


# the only NFSv3 procedures the probe may send: NULL, ACCESS, READ, READDIRPLUS, FSINFO
READ_ONLY_V3 = {0, nfs3.NFSPROC3_ACCESS, nfs3.NFSPROC3_READ, nfs3.NFSPROC3_READDIRPLUS,
                nfs3.NFSPROC3_FSINFO}
OPEN_ONLY = {"nfs.exports": "/export/open"}


"""The lab also exports the crawl shapes: the sampling tests look at /export/open alone."""


async def nfs_unauth(lab: Lab, ctx: ProbeContext) -> Finding:
    t = lab.target("nfs")
    ctx = dataclasses.replace(ctx, options={**ctx.options, **OPEN_ONLY})
    res = await nfs_probe.PROBE.run(ServiceInfo(host=t.host, port=2049), ctx)
    assert res.status == Status.SUCCESS, res.detail
    (f,) = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.resource == "/export/open"
    return f


@pytest.mark.lab
async def test_nfs_without_sample_bytes_sends_no_read(
    lab: Lab, make_ctx: Callable[..., ProbeContext], rpc_calls: list[Call]
) -> None:
    f = await nfs_unauth(lab, make_ctx(timeout=60.0))
    procs = nfs_procs(rpc_calls)
    assert nfs3.NFSPROC3_READDIRPLUS in procs  # the spy saw the crawl...
    assert nfs3.NFSPROC3_READ not in procs  # ...and not one READ
    assert set(procs) <= READ_ONLY_V3
    for key in ("sniffed", "intrusive", "sample_bytes", "sampled_files"):
        assert key not in f.evidence


@pytest.mark.lab
async def test_nfs_samples_a_lab_wav(
    lab: Lab, make_ctx: Callable[..., ProbeContext], rpc_calls: list[Call],
    reads: list[tuple[int, bytes]],
) -> None:
    f = await nfs_unauth(lab, make_ctx(timeout=60.0, sample_bytes=16))
    assert f.evidence["intrusive"] == ["sample-bytes"] and f.evidence["sample_bytes"] == 16
    sniffed: dict[str, str | None] = f.evidence["sniffed"]
    # default: 3 files, one READ each, each asking exactly N bytes, nothing written
    assert len(sniffed) == f.evidence["sampled_files"] == 3
    assert read_counts(rpc_calls) == [16, 16, 16]
    assert set(nfs_procs(rpc_calls)) <= READ_ONLY_V3
    # the bytes read are the real files' first 16 bytes, never more
    assert len(reads) == 3
    for path, (count, data) in zip(sniffed, reads, strict=True):
        assert count == 16 and data == (lab.content / path.lstrip("/")).read_bytes()[:16]
    wavs = [p for p in sniffed if p.endswith(".wav")]
    assert wavs and all(sniffed[p] == "wav" for p in wavs)
    assert all(sniffed[p] == "mp3" for p in sniffed if p.endswith(".mp3"))
    listed = {e.path for e in f.listing.entries} if f.listing else set()
    assert set(sniffed) <= listed

    t = triage_finding(f)
    assert t.severity == Severity.CRITICAL
    assert t.evidence["confirmed_by_content"]["recording"] >= 1
    assert "recording" in t.evidence["critical_content"]
    assert all("-XXXX_" in p for p in t.evidence["sniffed"] if p.startswith("/2019/"))
    # the sniffed types alone make it critical: without the listing's names it is critical
    # with the sniffed evidence and only high without it
    bare = f.model_copy(update={"listing": None})
    assert triage_finding(bare).severity == Severity.CRITICAL
    no_sniff = {k: v for k, v in f.evidence.items() if k != "sniffed"}
    assert triage_finding(bare.model_copy(update={"evidence": no_sniff})).severity == Severity.HIGH


@pytest.mark.lab
async def test_nfs_sample_bound_is_per_file_and_per_export(
    lab: Lab, make_ctx: Callable[..., ProbeContext], rpc_calls: list[Call],
    reads: list[tuple[int, bytes]],
) -> None:
    # 8 bytes cut a WAV header before "WAVE": never read past N, so it stays unrecognised
    f = await nfs_unauth(lab, make_ctx(timeout=60.0, sample_bytes=8))
    assert read_counts(rpc_calls) == [8, 8, 8]
    sniffed = f.evidence["sniffed"]
    wavs = [p for p in sniffed if p.endswith(".wav")]
    assert wavs and all(sniffed[p] is None for p in wavs)
    assert [(8, (lab.content / p.lstrip("/")).read_bytes()[:8]) for p in sniffed] == reads

    rpc_calls.clear()
    f = await nfs_unauth(lab, make_ctx(timeout=60.0, sample_bytes=16,
                                       options={"nfs.sample_files": 1}))
    assert read_counts(rpc_calls) == [16] and len(f.evidence["sniffed"]) == 1

    rpc_calls.clear()
    f = await nfs_unauth(lab, make_ctx(timeout=60.0, sample_bytes=1 << 20,
                                       options={"nfs.sample_files": 1000}))
    counts = read_counts(rpc_calls)
    assert 3 <= len(counts) <= MAX_SAMPLE_FILES
    assert set(counts) == {nfs_probe.MAX_SAMPLE_READ}  # one READ per file, capped
    assert len(f.evidence["sniffed"]) == len(counts)
    assert any(v == "wav" for v in f.evidence["sniffed"].values())

    rpc_calls.clear()
    f = await nfs_unauth(lab, make_ctx(timeout=60.0, sample_bytes=64,
                                       options={"nfs.sample_files": 0}))
    assert nfs3.NFSPROC3_READ not in nfs_procs(rpc_calls)
    assert f.evidence["sampled_files"] == 0 and "sniffed" not in f.evidence


@pytest.mark.lab
async def test_nfs_samples_over_udp_within_one_datagram(
    lab: Lab, make_ctx: Callable[..., ProbeContext], rpc_calls: list[Call]
) -> None:
    t = lab.target("nfs")
    ctx = make_ctx(
        timeout=60.0, sample_bytes=1 << 20, options={"nfs.transport": "udp", **OPEN_ONLY}
    )
    res = await nfs_probe.PROBE.run(ServiceInfo(host=t.host, port=111), ctx)
    assert res.status == Status.SUCCESS and res.info["transport"] == "udp"
    (f,) = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert read_counts(rpc_calls) == [nfs_probe.MAX_SAMPLE_READ_UDP] * 3
    assert "wav" in f.evidence["sniffed"].values()


@pytest.mark.lab
async def test_nfs_v4_only_does_not_sample(
    lab: Lab, make_ctx: Callable[..., ProbeContext], rpc_calls: list[Call]
) -> None:
    ctx = make_ctx(timeout=60.0, sample_bytes=16, options={"nfs.versions": "4"})
    f = await nfs_unauth(lab, ctx)
    assert nfs3.NFSPROC3_READ not in nfs_procs(rpc_calls)
    assert "sniffed" not in f.evidence and f.evidence["sample_note"].endswith("NFSv3 only")


@pytest.mark.lab
async def test_scan_with_sample_bytes_end_to_end(lab: Lab) -> None:
    from scanner.engine import scan_targets

    nfs_host, tftp_host = lab.target("nfs").host, lab.target("tftp").host
    ports, probes = "T:2049,U:69", "nfs,tftp"
    hosts = [nfs_host, tftp_host]
    off = await scan_targets(hosts, ports=ports, probes=probes, probe_options=OPEN_ONLY)
    on = await scan_targets(
        hosts, ports=ports, probes=probes, sample_bytes=16, probe_options=OPEN_ONLY
    )

    def unauth(report: Any, protocol: str) -> Finding:
        (f,) = [f for f in report.findings
                if f.protocol == protocol and f.kind == Kind.UNAUTHENTICATED_ACCESS]
        return f

    for proto in ("nfs", "tftp"):
        assert "sniffed" not in unauth(off, proto).evidence
        assert unauth(on, proto).evidence["intrusive"] == ["sample-bytes"]
    f = unauth(on, "nfs")
    assert f.severity == Severity.CRITICAL
    assert "wav" in f.evidence["sniffed"].values()
    assert f.evidence["confirmed_by_content"]["recording"] >= 1
    dumped = on.model_dump_json()
    assert "sniffed" in dumped and "-XXXX_" in dumped
    assert mask_text(dumped) == dumped  # nothing left to mask
    # no unmasked identity number from the sampled paths leaves in the JSON output
    for path in f.evidence["sniffed"]:
        if path.startswith("/2019/"):
            stem = path.rsplit("/", 1)[1]
            assert stem.split("_")[0].endswith("-XXXX")
