"""The S3 probe's judge on facts built here: no server, no network."""

from __future__ import annotations

from probes.s3 import PROBE, BucketFacts, S3Facts
from scanner.catchall import CatchAllCheck
from scanner.crawl import CrawlResult
from scanner.models import Access, Authentication, Encryption, Entry, Kind, ServiceInfo, Status
from scanner.probe_skeleton import Cut, Samples

HOST, PORT = "127.0.0.1", 9000
BASE = f"http://{HOST}:{PORT}"


def s3(**kw: object) -> S3Facts:
    fields: dict[str, object] = {"tls": False, "root_status": 200, "flavour": "aws-xml",
                                 "server": "Werkzeug", "base_url": BASE, **kw}
    return S3Facts(ServiceInfo(host=HOST, port=PORT), **fields)  # type: ignore[arg-type]


def bucket(name: str, *entries: Entry, truncated: bool = False) -> BucketFacts:
    crawl = CrawlResult(entries=list(entries), truncated=truncated, dirs_listed=1, requests=2)
    return BucketFacts(name, crawl=crawl, done=True)


def test_no_answer_and_no_fingerprint_are_not_applicable() -> None:
    silent = S3Facts(ServiceInfo(host=HOST, port=PORT), tls=False)
    res = PROBE.judge(silent, None)
    assert res.status is Status.NOT_APPLICABLE and res.detail == "no HTTP answer"
    other = S3Facts(ServiceInfo(host=HOST, port=80), tls=False, root_status=200)
    res = PROBE.judge(other, None)
    assert res.status is Status.NOT_APPLICABLE and res.detail == "no S3 API fingerprint"


def test_listed_bucket_is_anonymous_access_and_plain_http_is_cleartext() -> None:
    f = s3(list_buckets="allowed", listed=True, buckets=["recordings"])
    f.tried = [bucket("recordings", Entry(path="/2019", is_dir=True),
                      Entry(path="/2019/a.wav", size=10), Entry(path="/b.wav", size=5))]
    res = PROBE.judge(f, None)
    assert res.status is Status.SUCCESS and res.protocol == "s3" and res.tls is False
    unauth, clear = res.findings
    assert unauth.kind is Kind.UNAUTHENTICATED_ACCESS and unauth.resource == "recordings"
    assert (unauth.host, unauth.port, unauth.protocol, unauth.probe) == (HOST, PORT, "s3", "s3")
    assert unauth.authentication is Authentication.ANONYMOUS
    assert unauth.encryption is Encryption.NONE and unauth.access is Access.LIST
    assert unauth.title == "S3 bucket 'recordings' listable without credentials (2 objects)"
    assert unauth.evidence == {"url": f"{BASE}/recordings?list-type=2", "flavour": "aws-xml",
                               "objects": 2, "pages": 2, "bucket_listed_by_listbuckets": True}
    assert clear.kind is Kind.CLEARTEXT_TRANSPORT
    assert clear.authentication is Authentication.ANONYMOUS
    assert clear.evidence == {"url": BASE + "/", "flavour": "aws-xml", "list_buckets": "allowed"}
    assert res.info == {"flavour": "aws-xml", "server": "Werkzeug", "list_buckets": "allowed",
                        "buckets": ["recordings"]}


def test_every_bucket_denied_is_auth_required_and_named() -> None:
    f = s3(list_buckets="AccessDenied")
    f.tried = [BucketFacts(f"b{i}", error="AccessDenied") for i in range(7)]
    f.tried.append(BucketFacts("silent"))
    res = PROBE.judge(f, None)
    assert res.status is Status.AUTH_REQUIRED
    assert res.info["access_denied"] == ["b0", "b1", "b2", "b3", "b4"]  # guessed: five named
    (clear,) = res.findings
    assert clear.authentication is Authentication.REQUIRED


def test_listbuckets_allowed_but_no_bucket_open_is_success() -> None:
    f = s3(list_buckets="allowed", listed=True, buckets=["a", "b", "c", "d", "e", "f"])
    f.tried = [BucketFacts(n, error="AccessDenied") for n in f.buckets]
    res = PROBE.judge(f, None)
    assert res.status is Status.SUCCESS
    assert res.info["access_denied"] == f.buckets  # named by ListBuckets: all of them


def test_https_endpoint_has_no_cleartext_finding() -> None:
    f = s3(tls=True, base_url=f"https://{HOST}:{PORT}")
    f.tried = [bucket("pub", Entry(path="/x", size=1), truncated=True)]
    (unauth,) = PROBE.judge(f, None).findings
    assert unauth.encryption is Encryption.REQUIRED
    assert unauth.title.endswith("(1+ objects)")


def test_catch_all_endpoint_marks_findings_and_info() -> None:
    f = s3(catch_all=CatchAllCheck("nasscan-abc", True))
    f.tried = [bucket("x", Entry(path="/a", size=1))]
    res = PROBE.judge(f, None)
    assert res.findings[0].evidence["accepts_any_name"] is True
    assert res.info["random_name_accepted"] == "nasscan-abc"


def test_samples_are_evidence_and_counted_in_info() -> None:
    f = s3(sample=Samples(size=32, files=2))
    b = bucket("r", Entry(path="/a.wav", size=100))
    b.samples = Samples(size=32, files=2, requests=2, ranged={"/a.wav": "honoured"},
                        data={"/a.wav": b"RIFF\x24\x08\x00\x00WAVEfmt " + b"\0" * 16},
                        errors={"/b.txt": "AccessDenied"})
    f.tried = [b]
    res = PROBE.judge(f, None)
    ev = res.findings[0].evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == 32
    assert ev["sample_requests"] == 2 and ev["sample_range"] == {"/a.wav": "honoured"}
    assert ev["sniffed"] == {"/a.wav": "wav"} and ev["sample_errors"] == {"/b.txt": "AccessDenied"}
    assert res.info["intrusive"] == ["sample-bytes"] and res.info["sample_requests"] == 2


def test_cut_mid_crawl_keeps_the_bucket_as_truncated() -> None:
    f = s3()
    b = bucket("r", Entry(path="/a.wav", size=100))
    b.done = False
    f.tried = [b]
    res = PROBE.judge(f, Cut(Status.TIMEOUT, "timed out", "TimeoutError"))
    assert res.status is Status.TIMEOUT
    unauth = res.findings[0]
    assert unauth.listing is not None and unauth.listing.truncated
    assert unauth.listing.stopped_by == "deadline" and unauth.title.endswith("(1+ objects)")


def test_cut_before_any_answer_is_the_cut() -> None:
    f = S3Facts(ServiceInfo(host=HOST, port=PORT), tls=False)
    res = PROBE.judge(f, Cut(Status.REFUSED, "connection refused", "ConnectionRefusedError"))
    assert res.status is Status.REFUSED and not res.findings
