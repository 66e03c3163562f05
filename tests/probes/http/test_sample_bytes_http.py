"""``--sample-bytes N`` in the HTTP probe (intrusive, off by default).

- The client's ``first_bytes``: ``Range: bytes=0-(N-1)`` and a hard cap of N body bytes, against
  in-process hostile servers on 127.0.93.x that ignore Range and send an endless body (no length,
  a lying Content-Length, endless chunks): at most N bytes come back, at most max(512, N) body
  bytes are taken off the connection, and the connection is closed (the server sees it).
- The probe against in-process servers that count requests per path (tests/sampling_http.py):
  files are sampled only on listings already reported as unauthenticated, only on the same host,
  and with ``sample_bytes == 0`` no file body is ever requested.
- Against the real lab (nginx autoindex on plain 443; marked ``lab``): a recording dialer logs
  every request the probe sends; the sniffed WAVs make the finding critical by content; at 0 no
  file path is ever requested. A real nginx with its access log on shows the same server-side.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shlex
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lab_fixtures import Lab
from sampling_http import (
    BOUNDS,
    GZ_HEAD,
    PN_NAME,
    PNG_HEAD,
    SERVER_BOUND,
    WAV_HEAD,
    Handler,
    Log,
    RecordingDialer,
    Req,
    _is_file_request,
    _lab_ctx,
    endless,
    respond,
    serve,
    stream,
)

from probes.http import PROBE as HTTP
from scanner.classify.magic import sniff
from scanner.dialer import Dialer
from scanner.lab import content
from scanner.models import Finding, Kind, ProbeResult, ServiceInfo, Severity
from scanner.probe import ProbeContext
from scanner.protocols.http_client import HttpTarget
from scanner.triage import triage_finding

ADDR = "127.0.93.1"
OTHER = "127.0.93.2"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


@pytest.mark.parametrize("framing", ["none", "length", "chunked"])
@pytest.mark.parametrize("n", [1, 16, 600, 4096, 70000])
async def test_first_bytes_stops_at_n_when_range_is_ignored(
    dialer: Dialer, framing: str, n: int
) -> None:
    async def handler(req: Req, w: asyncio.StreamWriter, log: Log) -> None:
        await endless(w, log, req.path, WAV_HEAD, framing)

    async with serve(ADDR, handler) as (port, log):
        t = HttpTarget(dialer, ADDR, port, tls=False, request_timeout=5.0)
        t0 = time.monotonic()
        resp = await t.first_bytes("/a.wav", n)
        elapsed = time.monotonic() - t0
        for _ in range(50):  # the server notices the close (bounded wait)
            if "/a.wav" in log.closed_early:
                break
            await asyncio.sleep(0.1)
    assert resp.status == 200
    assert resp.body == stream(WAV_HEAD, n) and len(resp.body) == n
    assert resp.truncated
    framing_bytes = 32 if framing == "chunked" else 0  # chunk-size lines and CRLFs
    assert resp.received - resp.head_bytes <= max(512, n) + framing_bytes
    assert elapsed < 3.0
    (req,) = log.requests
    assert req.method == "GET" and req.headers["range"] == f"bytes=0-{n - 1}"
    assert "/a.wav" in log.closed_early, "the client did not close the connection"
    assert log.sent["/a.wav"] < SERVER_BOUND * 65536


async def test_first_bytes_honoured_range_is_206(dialer: Dialer) -> None:
    async def handler(req: Req, w: asyncio.StreamWriter, log: Log) -> None:
        lo, hi = req.headers["range"].removeprefix("bytes=").split("-")
        part = stream(WAV_HEAD, 1000)[int(lo) : int(hi) + 1]
        respond(w, "206 Partial Content", part, "audio/wav",
                f"Content-Range: bytes {lo}-{hi}/1000\r\n")  # fmt: skip

    async with serve(ADDR, handler) as (port, _log):
        t = HttpTarget(dialer, ADDR, port, tls=False)
        resp = await t.first_bytes("/x.wav", 12)
    assert (resp.status, resp.body, resp.truncated) == (206, WAV_HEAD[:12], False)


async def test_first_bytes_refuses_zero(dialer: Dialer) -> None:
    t = HttpTarget(dialer, ADDR, 9, tls=False)
    with pytest.raises(ValueError):
        await t.first_bytes("/x.wav", 0)
    assert t.requests == 0


async def _one_response(raw: bytes, n: int) -> tuple[bytes, int, int]:
    """Serve ``raw`` (a whole response, then keep the connection open) and read ``n``."""

    async def handler(req: Req, w: asyncio.StreamWriter, log: Log) -> None:
        w.write(raw)
        await w.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.sleep(0.5)

    d = Dialer(LOOPBACK, connect_timeout=2.0, read_timeout=3.0)
    try:
        async with serve(ADDR, handler) as (port, _log):
            t = HttpTarget(d, ADDR, port, tls=False, request_timeout=0.3)
            resp = await t.first_bytes("/f", n)
    finally:
        d.shutdown()
    return resp.body, resp.received, resp.head_bytes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(min_size=0, max_size=3000),
    n=st.integers(min_value=1, max_value=2000),
    framing=st.sampled_from(["none", "length", "chunked"]),
    chunk=st.integers(min_value=1, max_value=700),
)
def test_first_bytes_property_prefix_and_cap(body: bytes, n: int, framing: str, chunk: int) -> None:
    """Whatever the framing, the body read is the first min(n, len) bytes, never more, and at
    most max(512, n) body bytes (plus chunk framing) are taken off the connection."""
    head = b"HTTP/1.1 200 OK\r\nServer: x\r\n"
    if framing == "length":
        raw = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    elif framing == "chunked":
        parts = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        raw = head + b"Transfer-Encoding: chunked\r\n\r\n"
        raw += b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    else:
        raw = head + b"\r\n" + body
    got, received, head_len = asyncio.run(_one_response(raw, n))
    assert got == body[:n]
    overhead = 0 if framing != "chunked" else (n // chunk + 2) * 8 + 16
    assert received - head_len <= max(512, n) + overhead


FILES = {
    # name: (size in listing, first bytes, framing of the endless body)
    PN_NAME: (2084, WAV_HEAD, "none"),
    "db_backup_2019.sql.gz": (9000, GZ_HEAD, "length"),
    "logo.png": (120, PNG_HEAD, "chunked"),
    "readme.txt": (40, b"Call recording archive.\n", "none"),
}


def listing_page(path: str, names: dict[str, int], extra_rows: str = "") -> bytes:
    rows = "".join(
        f'<a href="{name}">{name}</a>                    14-Mar-2019 10:15    {size}\n'
        for name, size in names.items()
    )
    return (
        f"<html>\r\n<head><title>Index of {path}</title></head>\r\n<body>\r\n"
        f'<h1>Index of {path}</h1><hr><pre><a href="../">../</a>\n{rows}{extra_rows}'
        "</pre><hr></body>\r\n</html>\r\n"
    ).encode()


def storage_handler(extra_rows: str = "", extra: dict[str, str] | None = None) -> Handler:
    """nginx-like autoindex at ``/`` with FILES; every file ignores Range and never ends."""

    async def handler(req: Req, w: asyncio.StreamWriter, log: Log) -> None:
        path = unquote(urlsplit(req.path).path)
        if req.method == "GET" and path == "/":
            body = listing_page("/", {k: v[0] for k, v in FILES.items()}, extra_rows)
            respond(w, "200 OK", body)
        elif req.method == "GET" and path.lstrip("/") in FILES:
            _, first, framing = FILES[path.lstrip("/")]
            await endless(w, log, path, first, framing)
        elif extra and path in extra:
            respond(w, "302 Found", b"", extra=f"Location: {extra[path]}\r\n")
        elif req.method == "GET":
            respond(w, "404 Not Found", b"<html>not found</html>")
        else:
            respond(w, "405 Not Allowed", b"")

    return handler


async def _run_http(make_ctx: Callable[..., ProbeContext], port: int, **kw: Any) -> ProbeResult:
    ctx = make_ctx(bounds=BOUNDS, timeout=20.0, **kw)
    return await asyncio.wait_for(HTTP.run(ServiceInfo(host=ADDR, port=port), ctx), 30)


def _unauth(result: ProbeResult) -> Finding:
    (f,) = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    return f


async def test_http_probe_samples_hostile_files_up_to_n(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    async with serve(ADDR, storage_handler()) as (port, log):
        result = await _run_http(make_ctx, port, sample_bytes=16)
        for _ in range(50):
            if len(log.closed_early) >= 3:
                break
            await asyncio.sleep(0.1)
    f = _unauth(result)
    ev = f.evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == 16
    # default 3 files, the telling ones first (choose_samples: the recording, the backup, ...)
    assert ev["sampled_files"] == 3 == ev["sample_requests"]
    assert ev["sniffed"]["/" + PN_NAME] == "wav"
    assert ev["sniffed"]["/db_backup_2019.sql.gz"] == "gzip"
    assert set(ev["sample_range"].values()) == {"ignored (200, cut at N bytes)"}
    ranged = log.ranged()
    assert len(ranged) == 3 and {r.headers["range"] for r in ranged} == {"bytes=0-15"}
    assert all(r.method == "GET" for r in ranged)
    # every file request had a Range header; no file was asked for twice
    file_reqs = [p for p in log.paths("GET") if unquote(p).lstrip("/") in FILES]
    assert sorted(file_reqs) == sorted(r.path for r in ranged)
    assert len(set(file_reqs)) == len(file_reqs)
    # the client hung up on every endless body
    assert len(log.closed_early) == 3
    assert result.info["intrusive"] == ["sample-bytes"] and result.info["sample_requests"] == 3
    tri = triage_finding(f)
    assert tri.severity == Severity.CRITICAL
    assert "recording" in tri.evidence["confirmed_by_content"]
    assert "2391" not in str(tri.evidence["sniffed"])  # triage masks the sampled paths


async def test_http_probe_sample_files_option(make_ctx: Callable[..., ProbeContext]) -> None:
    async with serve(ADDR, storage_handler()) as (port, log):
        result = await _run_http(
            make_ctx, port, sample_bytes=12, options={"http.sample_files": "1"}
        )
    ev = _unauth(result).evidence
    # "RIFF....WAVE" is 12 bytes: exactly enough to know a WAV
    assert ev["sampled_files"] == 1 and list(ev["sniffed"].values()) == ["wav"]
    assert [r.headers["range"] for r in log.ranged()] == ["bytes=0-11"]


async def test_http_probe_never_reads_bodies_at_zero(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    async with serve(ADDR, storage_handler()) as (port, log):
        result = await _run_http(make_ctx, port)  # sample_bytes defaults to 0
    f = _unauth(result)
    assert f.listing is not None and len(f.listing.entries) == len(FILES)
    per_path: dict[str, int] = {}
    for r in log.requests:
        per_path[unquote(r.path)] = per_path.get(unquote(r.path), 0) + 1
    assert log.requests and per_path["/"] >= 1
    assert [p for p in per_path if p.lstrip("/") in FILES] == []
    assert all(p.endswith("/") for p in per_path), per_path  # directories only
    assert log.ranged() == [] and log.sent == {}
    for key in ("sniffed", "intrusive", "sample_bytes", "sampled_files"):
        assert key not in f.evidence
    assert "intrusive" not in result.info


async def test_http_probe_samples_same_host_only(make_ctx: Callable[..., ProbeContext]) -> None:
    async def other(req: Req, w: asyncio.StreamWriter, log: Log) -> None:
        respond(w, "200 OK", WAV_HEAD + bytes(100), "audio/wav")

    async with serve(OTHER, other) as (oport, olog):
        away = f"http://{OTHER}:{oport}/stolen.wav"
        rows = f'<a href="{away}">stolen.wav</a>     14-Mar-2019 10:15    5000\n'
        rows += '<a href="moved.mp3">moved.mp3</a>     14-Mar-2019 10:15    5000\n'
        handler = storage_handler(rows, extra={"/moved.mp3": f"http://{OTHER}:{oport}/x.mp3"})
        async with serve(ADDR, handler) as (port, log):
            result = await _run_http(
                make_ctx, port, sample_bytes=32, options={"http.sample_files": 8}
            )
    ev = _unauth(result).evidence
    assert olog.requests == []  # neither the foreign link nor the redirect reached OTHER
    assert ev.get("sample_errors", {}).get("/moved.mp3") == "HTTP 302"
    assert all(k.startswith("/") and "://" not in k for k in ev["sniffed"])
    assert ev["sniffed"]["/" + PN_NAME] == "wav"
    assert len(log.ranged()) == ev["sample_requests"] <= 8


async def test_http_probe_does_not_sample_what_it_did_not_report(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    """A soft-404 server answering the same listing for every path is no finding: no file of
    it is read, even with --sample-bytes."""

    async def soft404(req: Req, w: asyncio.StreamWriter, log: Log) -> None:
        path = unquote(urlsplit(req.path).path)
        if req.method != "GET":
            respond(w, "405 Not Allowed", b"")
            return
        respond(w, "200 OK", listing_page(path, {k: v[0] for k, v in FILES.items()}))

    async with serve(ADDR, soft404) as (port, log):
        result = await _run_http(make_ctx, port, sample_bytes=64)
    assert [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS] == []
    assert log.ranged() == []
    assert not [p for p in log.paths() if not p.endswith("/")]


@pytest.mark.lab
async def test_lab_nginx_443_sampled_wavs_make_it_critical(
    lab: Lab, rec_dialer: RecordingDialer
) -> None:
    t = lab.target("http-nginx-443")
    result = await HTTP.run(ServiceInfo(host=t.host, port=t.port), _lab_ctx(rec_dialer,
                            sample_bytes=64))  # fmt: skip
    f = _unauth(result)
    ev = f.evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == 64
    assert 1 <= ev["sampled_files"] <= 3
    assert "wav" in ev["sniffed"].values()
    # nginx honours Range: 206 for each sample
    assert set(ev["sample_range"].values()) == {"honoured"}
    files = [r for r in rec_dialer.sent if _is_file_request(r)]
    assert len(files) == ev["sample_requests"] == ev["sampled_files"]
    assert all(r.headers.get("range") == "bytes=0-63" for r in files)
    # what was sniffed is what the start of those files on disk is
    for path, kind in ev["sniffed"].items():
        assert sniff((lab.content / path.lstrip("/")).read_bytes()[:64]) == kind
    tri = triage_finding(f)
    assert tri.severity == Severity.CRITICAL
    assert "recording" in tri.evidence["confirmed_by_content"]


@pytest.mark.lab
async def test_lab_nginx_443_no_file_request_at_zero(lab: Lab, rec_dialer: RecordingDialer) -> None:
    t = lab.target("http-nginx-443")
    result = await HTTP.run(ServiceInfo(host=t.host, port=t.port), _lab_ctx(rec_dialer))
    f = _unauth(result)
    assert f.listing is not None and any(not e.is_dir for e in f.listing.entries)
    assert rec_dialer.sent and [r for r in rec_dialer.sent if _is_file_request(r)] == []
    assert [r for r in rec_dialer.sent if "range" in r.headers] == []
    assert "sniffed" not in f.evidence and "intrusive" not in f.evidence


NGINX_ADDR = "127.0.93.3"
NGINX_CONF = """
user root;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 64; }}
http {{
    types {{ audio/wav wav; audio/mpeg mp3; application/gzip gz; text/plain txt; }}
    default_type application/octet-stream;
    log_format probe '$request_method $request_uri "$http_range" $status $body_bytes_sent';
    access_log {run}/access.log probe;
    client_body_temp_path {run}/tmp; proxy_temp_path {run}/tmp; fastcgi_temp_path {run}/tmp;
    uwsgi_temp_path {run}/tmp; scgi_temp_path {run}/tmp;
    server {{
        listen {addr}:443;
        root {root};
        location / {{ autoindex on; }}
    }}
}}
"""


@dataclass
class AccessLine:
    method: str
    uri: str
    range: str
    status: int
    sent: int


@dataclass
class Nginx:
    run: Path

    def log(self) -> list[AccessLine]:
        out = []
        for line in (self.run / "access.log").read_text().splitlines():
            method, uri, rng, status, sent = shlex.split(line)
            out.append(AccessLine(method, uri, "" if rng == "-" else rng, int(status), int(sent)))
        return out


@pytest.fixture
def nginx_1177(tmp_path: Path) -> Iterator[Nginx]:
    """nginx autoindex over the lab's recordings tree, plain HTTP on 443 (the 1177 server)."""
    root, run = tmp_path / "content", tmp_path / "run"
    (run / "tmp").mkdir(parents=True)
    content.generate(root)
    conf = run / "nginx.conf"
    conf.write_text(NGINX_CONF.format(run=run, root=root, addr=NGINX_ADDR))
    proc = subprocess.Popen(
        ["nginx", "-p", str(run), "-c", str(conf), "-e", str(run / "error.log"),
         "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):  # up to 5 s for the listener
            with contextlib.suppress(OSError), socket.create_connection((NGINX_ADDR, 443), 0.2):
                break
            if proc.poll() is not None:
                pytest.fail(f"nginx exited: {(run / 'error.log').read_text()[-500:]}")
            time.sleep(0.05)
        else:
            pytest.fail("nginx did not listen in 5 s")
        yield Nginx(run)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_real_nginx_log_shows_no_file_request_at_zero(
    nginx_1177: Nginx, make_ctx: Callable[..., ProbeContext]
) -> None:
    ctx = make_ctx(timeout=20.0)
    result = await HTTP.run(ServiceInfo(host=NGINX_ADDR, port=443), ctx)
    f = _unauth(result)
    assert f.listing is not None and sum(not e.is_dir for e in f.listing.entries) > 10
    log = nginx_1177.log()
    assert any(a.uri == "/" and a.status == 200 for a in log)
    assert [a for a in log if a.method == "GET" and not a.uri.split("?")[0].endswith("/")] == []
    assert [a for a in log if a.range] == []
    # nginx sent nothing but listings and error pages: no file body left the server
    assert all(a.status != 206 for a in log)


async def test_real_nginx_log_shows_n_bytes_per_sampled_file(
    nginx_1177: Nginx, make_ctx: Callable[..., ProbeContext]
) -> None:
    ctx = make_ctx(timeout=20.0, sample_bytes=64)
    result = await HTTP.run(ServiceInfo(host=NGINX_ADDR, port=443), ctx)
    ev = _unauth(result).evidence
    assert ev["sampled_files"] == 3 and "wav" in ev["sniffed"].values()
    log = nginx_1177.log()  # ("-" lines: the TLS attempt and the readiness check, no request)
    files = [a for a in log if a.method != "-" and not a.uri.split("?")[0].endswith("/")]
    assert len(files) == 3
    assert all(a.method == "GET" and a.range == "bytes=0-63" for a in files)
    assert [a for a in log if a.range and a not in files] == []
    assert all(a.status == 206 and a.sent == 64 for a in files)
    assert {unquote(a.uri) for a in files} == set(ev["sniffed"])
    assert triage_finding(_unauth(result)).severity == Severity.CRITICAL
