"""``--sample-bytes N`` in the SMB probe (intrusive, off by default).

Byte-level tests of the SMB2 READ request/response (constructed bytes, hypothesis); then the real
lab (Samba 127.0.10.1 share ``recordings``, SMB1-only Samba 127.0.10.2 share ``public``). What
goes over the wire is recorded by a dialer that keeps every byte the probe sends
(tests/sampling.py): with ``sample_bytes == 0`` no file is opened for reading and nothing is read;
with N > 0 at most N bytes are asked for and kept per file, from a bounded number of files,
nothing is written, and the sniffed types reach the finding's evidence and triage.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lab_fixtures import Lab
from sampling import SAMPLE_KEYS, RecordingDialer, assert_reflected_in_triage, unauth

from probes import smb as smb_probe
from scanner.dialer import Dialer
from scanner.lab import content
from scanner.models import Access, ServiceInfo
from scanner.probe import ProbeContext
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
