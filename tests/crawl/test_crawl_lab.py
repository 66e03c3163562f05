"""The crawl shapes against real daemons (lab service ``crawl``: nginx autoindex + WebDAV, vsftpd,
smbd, rsync, NFS, moto) and the generating S3 endpoint ``scanner.lab.s3gen`` (buckets wide and
flat): the deep tree is critical with leaf names in the samples, the request budget holds as
counted AT THE SERVER (nginx access log, vsftpd protocol log, a counting proxy in front of
smbd, a counting RPC proxy in front of ganesha, moto's and s3gen's request logs), the wide tree's
estimate is within a factor of 2, a finished crawl is exact."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from lab_fixtures import Lab

from probes.ftp import PROBE as FTP
from probes.http import PROBE as HTTP
from probes.nfs import PROBE as NFS
from probes.rsync import PROBE as RSYNC
from probes.s3 import PROBE as S3
from probes.smb import PROBE as SMB
from scanner.lab import shapes
from scanner.lab.content import files as lab_files
from scanner.lab.services import crawl as svc
from scanner.lab.services.nfs import ADDR as NFS_ADDR
from scanner.models import Finding, Kind, ProbeResult, ServiceInfo, Severity
from scanner.probe import ListingBounds, ProbeContext
from scanner.protocols import nfs3, nfs4, rpc
from scanner.protocols.xdr import Unpacker
from scanner.triage import triage_finding

pytestmark = pytest.mark.lab

MakeCtx = Callable[..., ProbeContext]


async def _run(probe: Any, make_ctx: MakeCtx, host: str, port: int, **bounds: int) -> ProbeResult:
    ctx = make_ctx(timeout=60.0, bounds=ListingBounds(**bounds))
    return await probe.run(ServiceInfo(host=host, port=port), ctx)


def _open(result: ProbeResult, protocol: str | None = None, resource: str | None = None) -> Finding:
    found = [
        f
        for f in result.findings
        if f.kind == Kind.UNAUTHENTICATED_ACCESS
        and (protocol is None or f.protocol == protocol)
        and (resource is None or (f.resource or "").strip("/") == resource)
    ]
    assert len(found) == 1, [f.title for f in result.findings]
    return triage_finding(found[0])


async def _deep(proto: str, make_ctx: MakeCtx, **bounds: int) -> Finding:
    if proto in ("http", "webdav"):
        r = await _run(HTTP, make_ctx, svc.HTTP_ADDR, svc.HTTP_PORTS["deep"], **bounds)
        return _open(r, protocol=proto)
    if proto == "ftp":
        return _open(await _run(FTP, make_ctx, svc.FTP_ADDR, svc.FTP_PORTS["deep"], **bounds))
    if proto == "rsync":
        return _open(await _run(RSYNC, make_ctx, svc.RSYNC_ADDR, 873, **bounds), resource="deep")
    if proto == "nfs":
        ctx = make_ctx(timeout=60.0, bounds=ListingBounds(**bounds),
                       options={"nfs.exports": "/export/deep"})  # fmt: skip
        r = await NFS.run(ServiceInfo(host=NFS_ADDR, port=2049), ctx)
        return _open(r, resource="export/deep")
    if proto == "s3":
        return _open(await _run(S3, make_ctx, svc.S3_ADDR, svc.S3_PORT, **bounds), resource="deep")
    r = await _run(SMB, make_ctx, svc.SMB_ADDR, 445, **bounds)
    return _open(r, resource="deep")


@pytest.mark.parametrize("proto", ["http", "webdav", "ftp", "smb", "rsync", "nfs", "s3"])
async def test_deep_tree_is_critical_with_leaf_names(
    lab: Lab, make_ctx: MakeCtx, proto: str
) -> None:
    f = await _deep(proto, make_ctx)
    ev = f.evidence
    assert f.severity is Severity.CRITICAL, ev
    assert ev["categories"].get("recording", 0) > 0
    assert ev["headline"]["category"] == "recording"
    leaves = [s for s in ev["samples"] if s.endswith(".wav")]
    assert leaves and all(s.count("/") == shapes.DEEP_RECORDING_DEPTH for s in leaves)
    assert all("-XXXX_" in s for s in leaves)  # masked in the samples
    assert "sample" not in ev  # one sample list, built by triage
    assert ev["truncated"] and ev["files_estimated"] > ev["files_seen"]
    # the same server under the old depth bound (3 levels) shows only the readme: high, not
    # critical -- the 1177 case, under-rated
    shallow = await _deep(proto, make_ctx, depth=3)
    assert shallow.severity is Severity.HIGH and not shallow.evidence["categories"]


def _log_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


async def test_http_and_webdav_request_budget_at_the_server(lab: Lab, make_ctx: MakeCtx) -> None:
    log = lab.ctx.state / "crawl" / "http" / "access-deep.log"
    budget = 9
    before = len(_log_lines(log))
    await _run(HTTP, make_ctx, svc.HTTP_ADDR, svc.HTTP_PORTS["deep"], requests=budget)
    await asyncio.sleep(0.2)  # nginx writes its log line after the response
    lines = [ln.split() for ln in _log_lines(log)[before:]]
    pages = [ln for ln in lines if ln[0] == "GET" and ln[1].endswith("/") and ln[2] == "200"]
    dav = [ln for ln in lines if ln[0] == "PROPFIND" and ln[2] == "207"]
    assert len(pages) <= budget and len(dav) <= budget
    assert len(pages) >= budget - 1 and len(dav) >= budget - 1  # the crawl used its budget


async def test_ftp_request_budget_at_the_server(lab: Lab, make_ctx: MakeCtx) -> None:
    log = lab.ctx.state / "crawl" / "ftp-deep" / "vsftpd.log"
    budget = 7
    before = len(_log_lines(log))
    await _run(FTP, make_ctx, svc.FTP_ADDR, svc.FTP_PORTS["deep"], requests=budget)
    lines = _log_lines(log)[before:]
    listings = [ln for ln in lines if "FTP command" in ln and ('"MLSD' in ln or '"LIST' in ln)]
    assert budget - 1 <= len(listings) <= budget


async def test_rsync_request_budget_at_the_server(lab: Lab, make_ctx: MakeCtx) -> None:
    """The daemon counts both: connections (its log) and the directories each listing run
    asked for (its pre-xfer exec, from the arguments it received). The budget is directories;
    a run lists a wave of them over one connection."""
    run = lab.ctx.state / "crawl" / "rsync"
    budget = 6
    before = len(_log_lines(run / "rsyncd.log"))
    asked_before = len(_log_lines(run / "requests.log"))
    result = await _run(RSYNC, make_ctx, svc.RSYNC_ADDR, 873, requests=budget)
    await asyncio.sleep(0.2)  # the daemon's exec may still be writing its line
    lines = _log_lines(run / "rsyncd.log")[before:]
    asked = [ln.split() for ln in _log_lines(run / "requests.log")[asked_before:]]
    for module in ("deep", "wide", "flat"):
        opened = [ln for ln in lines if f"allowed access on module {module} " in ln]
        runs = [int(n) for m, n in asked if m == module and int(n)]  # 0: the open check
        low = 1 if module == "flat" else budget - 1  # flat: one directory, one listing
        assert low <= sum(runs) <= budget, (module, runs)
        # each run is one connection, besides the probe's module-open check (@RSYNCD: OK)
        assert len(opened) - 1 == len(runs), (module, opened, runs)
        if module != "flat":  # several directories a run once the tree widens
            assert len(runs) < sum(runs) and max(runs) > 1, runs
        f = _open(result, resource=module)
        assert f.listing is not None and f.listing.requests == len(runs)


async def test_s3_request_budget_at_the_server(lab: Lab, make_ctx: MakeCtx) -> None:
    log = lab.ctx.state / "logs" / "crawl-s3.log"  # moto logs every request it answers
    budget = 7
    before = len(_log_lines(log))
    result = await _run(S3, make_ctx, svc.S3_ADDR, svc.S3_PORT, requests=budget)
    await asyncio.sleep(0.3)
    lines = _log_lines(log)[before:]
    pages = [ln for ln in lines if "GET /deep?list-type=2" in ln and '" 200 ' in ln]
    assert budget - 1 <= len(pages) <= budget
    assert _open(result, resource="deep").evidence["truncated"]


async def test_s3_wide_and_flat_request_budget_at_the_generating_server(
    lab: Lab, make_ctx: MakeCtx
) -> None:
    log = lab.ctx.state / "logs" / "crawl-s3gen.log"  # s3gen logs every request it answers
    budget = 7
    before = len(_log_lines(log))
    result = await _run(S3, make_ctx, svc.S3GEN_ADDR, svc.S3GEN_PORT, requests=budget)
    lines = [ln.split() for ln in _log_lines(log)[before:] if not ln.startswith("#")]
    assert lines and all(len(ln) == 3 for ln in lines), lines[:5]  # METHOD TARGET STATUS
    for bucket in ("wide", "flat"):
        listing = f"/{bucket}?list-type=2"
        pages = [ln for ln in lines if ln[1].startswith(listing) and ln[2] == "200"]
        low = 1 if bucket == "flat" else budget - 1  # flat: one prefix, pages up to the entries
        assert low <= len(pages) <= budget, (bucket, len(pages))
        assert _open(result, resource=bucket).evidence["truncated"]
    assert not [ln for ln in lines if ln[0] != "GET"]  # read-only: the probe never writes


@contextlib.asynccontextmanager
async def _smb_counting_proxy(target: tuple[str, int]) -> AsyncIterator[tuple[int, Counter[int]]]:
    """A TCP proxy in front of smbd counting QUERY_DIRECTORY requests per tree id."""
    counts: Counter[int] = Counter()

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, count: bool) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await r.readexactly(4)
                body = await r.readexactly(int.from_bytes(head[1:], "big"))
                pos = 0
                while count and body[pos : pos + 4] == b"\xfeSMB":
                    (command,) = struct.unpack_from("<H", body, pos + 12)
                    (nxt,) = struct.unpack_from("<I", body, pos + 20)
                    (tree,) = struct.unpack_from("<I", body, pos + 36)
                    if command == 0x0E:
                        counts[tree] += 1
                    if not nxt:
                        break
                    pos += nxt
                w.write(head + body)
                await w.drain()
        w.close()

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(cr, sw, True), pipe(sr, cw, False))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], counts
    finally:
        server.close()


async def test_smb_request_budget_at_the_server(lab: Lab, make_ctx: MakeCtx) -> None:
    budget = 8
    async with _smb_counting_proxy((svc.SMB_ADDR, 445)) as (port, counts):
        result = await _run(SMB, make_ctx, "127.0.0.1", port, requests=budget)
    shares = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert {f.resource for f in shares} == {"deep", "wide", "flat"}
    assert len(counts) >= 3  # one tree per share at least
    assert max(counts.values()) <= budget
    assert max(counts.values()) >= budget - 1


NFS_SPARE = "127.0.10.39"
"""No lab service listens here: the NFS budget test sends the probe to it, rpcbind (111) and
MOUNT (20048) are DNATed on to ganesha's address, NFS (2049) to the counting proxy."""

_NFS_DNAT = """table ip nasscan_nfs_count
delete table ip nasscan_nfs_count
table ip nasscan_nfs_count {{
    chain nat_out {{
        type nat hook output priority -100; policy accept;
        ip daddr {spare} tcp dport {{ 111, 20048 }} dnat to {addr}
        ip daddr {spare} tcp dport 2049 dnat to {spare}:{port}
    }}
}}
"""


def _v4_readdir_path(args: Unpacker) -> str | None:
    """The PUTROOTFH/LOOKUP path of a COMPOUND's READDIR (None: no READDIR in it)."""
    args.string()  # tag
    args.uint()  # minorversion
    path = ""
    for _ in range(args.uint()):
        op = args.uint()
        if op == nfs4.OP_PUTROOTFH:
            path = ""
        elif op == nfs4.OP_LOOKUP:
            path += "/" + args.string()
        elif op == nfs4.OP_READDIR:
            return path or "/"
        elif op in (nfs4.OP_SECINFO, nfs4.OP_ACCESS, nfs4.OP_GETATTR, nfs4.OP_GETFH):
            return None  # the probe puts these last (or alone): no READDIR follows
        else:
            raise AssertionError(f"NFSv4 op {op} the counter does not know")
    return None


def _count_nfs_call(record: bytes, counts: Counter[tuple[int, str]]) -> None:
    u = Unpacker(record)
    u.uint()  # xid
    assert u.uint() == rpc.CALL and u.uint() == rpc.RPC_VERSION
    prog, vers, proc = u.uint(), u.uint(), u.uint()
    for _ in range(2):  # credential, verifier
        u.uint()
        u.opaque()
    if prog != nfs3.NFS_PROG:
        return
    if vers == 3 and proc in (16, 17):  # READDIR, READDIRPLUS
        counts[(3, "")] += 1
    elif vers == 4 and proc == nfs4.NFSPROC4_COMPOUND:
        path = _v4_readdir_path(u)
        if path is not None:
            counts[(4, path)] += 1


@contextlib.asynccontextmanager
async def _nfs_counting_proxy() -> AsyncIterator[Counter[tuple[int, str]]]:
    """A TCP proxy in front of ganesha's 2049 counting READDIR(PLUS) calls (NFSv3, under key
    ``(3, "")``) and COMPOUNDs with a READDIR (NFSv4, under ``(4, directory path)``), reached
    by the probe through a DNAT rule on ``NFS_SPARE`` (ganesha binds every address)."""
    counts: Counter[tuple[int, str]] = Counter()
    errors: list[BaseException] = []

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, count: bool) -> None:
        record = b""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await r.readexactly(4)
                (word,) = struct.unpack(">I", head)
                frag = await r.readexactly(word & 0x7FFFFFFF)
                record += frag
                if count and word & 0x80000000:
                    try:
                        _count_nfs_call(record, counts)
                    except Exception as exc:  # reported by the test, after the crawl
                        errors.append(exc)
                if word & 0x80000000:
                    record = b""
                w.write(head + frag)
                await w.drain()
        w.close()

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(NFS_ADDR, 2049)
        await asyncio.gather(pipe(cr, sw, True), pipe(sr, cw, False))

    server = await asyncio.start_server(handle, NFS_SPARE, 0)
    port = server.sockets[0].getsockname()[1]
    rules = _NFS_DNAT.format(spare=NFS_SPARE, addr=NFS_ADDR, port=port)
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True, timeout=10)
    try:
        yield counts
    finally:
        subprocess.run(["nft", "delete", "table", "ip", "nasscan_nfs_count"], check=True,
                       timeout=10)  # fmt: skip
        server.close()
        assert not errors, errors


async def test_nfs_request_budget_at_the_server(lab: Lab, make_ctx: MakeCtx) -> None:
    budget = 12
    ctx = make_ctx(timeout=60.0, bounds=ListingBounds(requests=budget),
                   options={"nfs.exports": "/export/wide"})  # fmt: skip
    async with _nfs_counting_proxy() as counts:
        result = await NFS.run(ServiceInfo(host=NFS_SPARE, port=2049), ctx)
    f = _open(result, resource="export/wide")
    assert set(f.evidence["versions"]) == {"nfsv3", "nfsv4"}
    # the v4 pseudo-filesystem walk (/ and /export) is not the export's crawl: not charged
    crawled = {k: n for k, n in counts.items() if k[0] == 3 or k[1].startswith("/export/wide")}
    v3 = crawled.get((3, ""), 0)
    v4 = sum(n for (vers, _), n in crawled.items() if vers == 4)
    assert budget - 1 <= v3 <= budget, counts
    assert budget - 1 <= v4 <= budget, counts
    assert counts[(4, "/")] >= 1  # the counter saw the walk too: it reads every COMPOUND


@pytest.mark.parametrize("proto", ["http", "webdav", "ftp", "smb", "rsync", "nfs", "s3"])
async def test_wide_tree_estimate_within_a_factor_of_two(
    lab: Lab, make_ctx: MakeCtx, proto: str
) -> None:
    if proto in ("http", "webdav"):
        r = await _run(HTTP, make_ctx, svc.HTTP_ADDR, svc.HTTP_PORTS["wide"])
        f = _open(r, protocol=proto)
    elif proto == "ftp":
        f = _open(await _run(FTP, make_ctx, svc.FTP_ADDR, svc.FTP_PORTS["wide"]))
    elif proto == "rsync":
        f = _open(await _run(RSYNC, make_ctx, svc.RSYNC_ADDR, 873), resource="wide")
    elif proto == "nfs":
        ctx = make_ctx(timeout=60.0, options={"nfs.exports": "/export/wide"})
        r = await NFS.run(ServiceInfo(host=NFS_ADDR, port=2049), ctx)
        f = _open(r, resource="export/wide")
    elif proto == "s3":  # the generating S3 endpoint (s3gen), bucket "wide"
        f = _open(await _run(S3, make_ctx, svc.S3GEN_ADDR, svc.S3GEN_PORT), resource="wide")
    else:
        f = _open(await _run(SMB, make_ctx, svc.SMB_ADDR, 445), resource="wide")
    ev = f.evidence
    truth = shapes.WIDE_FILES
    assert ev["truncated"] and ev["files_seen"] < truth
    assert truth / 2 <= ev["files_estimated"] <= truth * 2, ev["estimate_basis"]
    assert ev["estimate_text"].startswith("about ") and "estimated from" in ev["estimate_text"]
    assert ev["headline"]["at_least"] is True  # the count stays "at least" what was seen


@pytest.mark.parametrize("proto", ["ftp", "http", "webdav", "s3"])
async def test_flat_directory_is_at_least_the_bound_and_never_invented(
    lab: Lab, make_ctx: MakeCtx, proto: str
) -> None:
    """100,000 files in one directory: "at least" the entry bound, no estimate. Over WebDAV the
    PROPFIND answer is cut by the byte bound; its whole responses are still a listing."""
    if proto == "ftp":
        f = _open(await _run(FTP, make_ctx, svc.FTP_ADDR, svc.FTP_PORTS["flat"]))
    elif proto == "s3":  # the generating S3 endpoint (s3gen), bucket "flat": 100,000 objects
        r = await _run(S3, make_ctx, svc.S3GEN_ADDR, svc.S3GEN_PORT)
        f = _open(r, resource="flat")
    else:
        r = await _run(HTTP, make_ctx, svc.HTTP_ADDR, svc.HTTP_PORTS["flat"])
        f = _open(r, protocol=proto)
    ev = f.evidence
    assert ev["truncated"] and ev["files_seen"] == ListingBounds().entries
    assert "files_estimated" not in ev and ev["files_text"].startswith("at least ")


async def test_finished_crawl_is_exact_without_estimate(lab: Lab, make_ctx: MakeCtx) -> None:
    t = lab.target("http-nginx-443")
    f = _open(await _run(HTTP, make_ctx, t.host, t.port), protocol="http")
    ev = f.evidence
    assert not ev["truncated"] and ev["files_seen"] == len(lab_files())
    assert "files_estimated" not in ev and "estimate_text" not in ev
