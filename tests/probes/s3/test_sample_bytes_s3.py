"""``--sample-bytes N`` in the S3 probe (intrusive, off by default).

- Against an in-process hostile S3 on 127.0.93.x whose objects ignore Range and never end
  (tests/sampling_http.py counts requests per path): objects are sampled up to N bytes, never
  fetched at 0, and a denied GetObject is recorded.
- Against the lab's moto (``call-recordings``; marked ``lab``): a recording dialer logs every
  request; the sniffed WAVs make the bucket critical by content, unsigned; at 0 only the list
  calls are sent; the AccessDenied twin gives nothing to sample.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from lab_fixtures import Lab
from sampling_http import (
    BOUNDS,
    GZ_HEAD,
    PN_NAME,
    PNG_HEAD,
    WAV_HEAD,
    Handler,
    Log,
    RecordingDialer,
    Req,
    _lab_ctx,
    endless,
    respond,
    serve,
)

from probes.s3 import PROBE as S3
from scanner.classify.magic import sniff
from scanner.models import Finding, Kind, ProbeResult, ServiceInfo, Severity
from scanner.probe import ProbeContext
from scanner.triage import triage_finding

ADDR = "127.0.93.1"
S3_KEYS = {
    "2019/03/" + PN_NAME: (2084, WAV_HEAD),
    "backups/db_backup_2019.sql.gz": (9000, GZ_HEAD),
    "logo.png": (120, PNG_HEAD),
}


def _xml(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>' + body).encode()


def s3_handler(get_object: str = "endless") -> Handler:
    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'

    async def handler(req: Req, w: asyncio.StreamWriter, log: Log) -> None:
        parts = urlsplit(req.path)
        path = unquote(parts.path)
        amz = "x-amz-request-id: 4442587FB7D0A2F9\r\n"
        if path == "/":
            body = _xml(
                f"<ListAllMyBucketsResult {ns}><Owner><ID>x</ID></Owner><Buckets>"
                "<Bucket><Name>rec</Name></Bucket></Buckets></ListAllMyBucketsResult>"
            )
            respond(w, "200 OK", body, "application/xml", amz)  # fmt: skip
        elif path == "/rec" and "list-type=2" in parts.query:
            items = "".join(
                f"<Contents><Key>{k}</Key><Size>{s}</Size>"
                "<LastModified>2019-03-14T10:15:00.000Z</LastModified></Contents>"
                for k, (s, _) in S3_KEYS.items()
            )
            body = _xml(
                f"<ListBucketResult {ns}><Name>rec</Name><KeyCount>{len(S3_KEYS)}"
                f"</KeyCount><IsTruncated>false</IsTruncated>{items}</ListBucketResult>"
            )
            respond(w, "200 OK", body, "application/xml", amz)  # fmt: skip
        elif path.startswith("/rec/") and path[5:] in S3_KEYS:
            if get_object == "denied":
                body = _xml("<Error><Code>AccessDenied</Code><Message>no</Message></Error>")
                respond(w, "403 Forbidden", body, "application/xml", amz)
                return
            await endless(w, log, path, S3_KEYS[path[5:]][1], "length")
        else:
            body = _xml("<Error><Code>NoSuchBucket</Code><Message>none</Message></Error>")
            respond(w, "404 Not Found", body, "application/xml", amz)

    return handler


async def _run_s3(make_ctx: Callable[..., ProbeContext], port: int, **kw: Any) -> ProbeResult:
    # buckets are crawled by prefix ("/" delimiter): 2019/03/<key> sits 3 levels down
    ctx = make_ctx(bounds=dataclasses.replace(BOUNDS, depth=4), timeout=20.0, **kw)
    return await asyncio.wait_for(S3.run(ServiceInfo(host=ADDR, port=port), ctx), 30)


def _bucket(result: ProbeResult, name: str) -> Finding:
    (f,) = [
        f for f in result.findings
        if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.resource == name
    ]  # fmt: skip
    return f


async def test_s3_probe_samples_objects_up_to_n(make_ctx: Callable[..., ProbeContext]) -> None:
    async with serve(ADDR, s3_handler()) as (port, log):
        result = await _run_s3(make_ctx, port, sample_bytes=24)
        for _ in range(50):
            if len(log.closed_early) >= 3:
                break
            await asyncio.sleep(0.1)
    ev = _bucket(result, "rec").evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sampled_files"] == 3
    assert ev["sniffed"] == {
        "/2019/03/" + PN_NAME: "wav", "/backups/db_backup_2019.sql.gz": "gzip",
        "/logo.png": "png",
    }  # fmt: skip
    gets = [r for r in log.requests if r.path.startswith("/rec/")]
    assert len(gets) == 3 and all(r.headers.get("range") == "bytes=0-23" for r in gets)
    assert all("authorization" not in r.headers for r in log.requests)  # anonymous
    assert len(log.closed_early) == 3  # every endless object was hung up on
    assert triage_finding(_bucket(result, "rec")).severity == Severity.CRITICAL


async def test_s3_probe_never_gets_objects_at_zero(make_ctx: Callable[..., ProbeContext]) -> None:
    async with serve(ADDR, s3_handler()) as (port, log):
        result = await _run_s3(make_ctx, port, sample_bytes=0)
    f = _bucket(result, "rec")
    assert f.listing is not None
    assert len([e for e in f.listing.entries if not e.is_dir]) == len(S3_KEYS)
    assert [r.path for r in log.requests if r.path.startswith("/rec/")] == []
    assert log.ranged() == [] and log.sent == {}
    assert "sniffed" not in f.evidence and "intrusive" not in f.evidence


@pytest.mark.parametrize(("n", "error"), [(24, "HTTP 403"), (4096, "AccessDenied")])
async def test_s3_probe_records_denied_get_object(
    make_ctx: Callable[..., ProbeContext], n: int, error: str
) -> None:
    """The error body is capped at N too: a short cap cannot name the S3 error code."""
    async with serve(ADDR, s3_handler("denied")) as (port, _log):
        result = await _run_s3(make_ctx, port, sample_bytes=n)
    ev = _bucket(result, "rec").evidence
    assert ev["sampled_files"] == 0 and "sniffed" not in ev
    assert set(ev["sample_errors"].values()) == {error}
    assert ev["intrusive"] == ["sample-bytes"]  # it still tried: the finding says so


@pytest.mark.lab
async def test_lab_moto_call_recordings_sampled(lab: Lab, rec_dialer: RecordingDialer) -> None:
    t = lab.target("s3-open")
    result = await S3.run(ServiceInfo(host=t.host, port=t.port), _lab_ctx(rec_dialer,
                          sample_bytes=64))  # fmt: skip
    f = _bucket(result, "call-recordings")
    ev = f.evidence
    assert ev["intrusive"] == ["sample-bytes"] and 1 <= ev["sampled_files"] <= 3
    assert "wav" in ev["sniffed"].values()
    gets = [r for r in rec_dialer.sent if r.path.startswith("/call-recordings/")]
    assert gets and all(r.headers.get("range") == "bytes=0-63" for r in gets)
    assert all("authorization" not in r.headers for r in rec_dialer.sent)
    # the sniffed type is what the start of the seeded file on disk is
    for key, kind in ev["sniffed"].items():
        assert sniff((lab.content / key.lstrip("/")).read_bytes()[:64]) == kind
    tri = triage_finding(f)
    assert tri.severity == Severity.CRITICAL
    assert "recording" in tri.evidence["confirmed_by_content"]


@pytest.mark.lab
async def test_lab_moto_no_get_object_at_zero(lab: Lab, rec_dialer: RecordingDialer) -> None:
    t = lab.target("s3-open")
    result = await S3.run(ServiceInfo(host=t.host, port=t.port), _lab_ctx(rec_dialer))
    f = _bucket(result, "call-recordings")
    assert f.listing is not None and f.listing.entries
    # only ListBuckets (/) and ListObjectsV2 (/bucket?list-type=2...) were sent
    for r in rec_dialer.sent:
        parts = urlsplit(r.path)
        assert r.method == "GET" and "range" not in r.headers
        assert parts.path == "/" or (parts.path.count("/") == 1 and "list-type=2" in parts.query)
    assert "sniffed" not in f.evidence


@pytest.mark.lab
async def test_lab_s3_twin_nothing_sampled(lab: Lab, rec_dialer: RecordingDialer) -> None:
    t = lab.target("s3-twin")
    result = await S3.run(ServiceInfo(host=t.host, port=t.port), _lab_ctx(rec_dialer,
                          sample_bytes=64))  # fmt: skip
    assert [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS] == []
    assert [r for r in rec_dialer.sent if "range" in r.headers] == []
