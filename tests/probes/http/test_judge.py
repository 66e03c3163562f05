"""The HTTP probe's judge (listings, WebDAV, plain HTTP) on facts built here: no server."""

from __future__ import annotations

from probes.http import PROBE, HttpFacts, ResourceFacts
from scanner.catchall import CatchAllCheck
from scanner.crawl import CrawlResult
from scanner.models import Access, Authentication, Encryption, Entry, Kind, ServiceInfo, Status
from scanner.probe_skeleton import Cut, Samples

HOST = "127.0.0.1"
BASIC = {"path": "/", "scheme": "basic", "challenge": 'Basic realm="x"'}


def http(port: int = 80, **kw: object) -> HttpFacts:
    fields: dict[str, object] = {"tls": False, "answered": True, "server": "nginx", **kw}
    return HttpFacts(ServiceInfo(host=HOST, port=port), **fields)  # type: ignore[arg-type]


def resource(protocol: str = "http", root: str = "/files/", *entries: Entry,
             done: bool = True, truncated: bool = False) -> ResourceFacts:
    family = "webdav" if protocol == "webdav" else "nginx"
    key = ("dav:" if protocol == "webdav" else "") + root
    crawl = CrawlResult(entries=list(entries) or [Entry(path="/a.wav", size=3)],
                        truncated=truncated, dirs_listed=1, requests=4)
    return ResourceFacts(protocol, root, f"http://{HOST}{root}", family, key, crawl=crawl,
                         done=done)


def test_no_answer_and_s3_are_not_applicable() -> None:
    res = PROBE.judge(HttpFacts(ServiceInfo(host=HOST, port=80), tls=False), None)
    assert res.status is Status.NOT_APPLICABLE and res.detail == "no HTTP answer"
    res = PROBE.judge(http(s3=True), None)
    assert res.status is Status.NOT_APPLICABLE and res.protocol == "s3"
    assert res.detail == "S3 API endpoint: reported by the s3 probe"


def test_listing_is_unauthenticated_and_plain_http_is_cleartext() -> None:
    f = http(resources=[resource("http", "/files/", Entry(path="/2019", is_dir=True),
                                 Entry(path="/2019/a.wav", size=3))])
    res = PROBE.judge(f, None)
    assert res.status is Status.SUCCESS and res.protocol == "http" and res.detail is None
    unauth, clear = res.findings
    assert unauth.kind is Kind.UNAUTHENTICATED_ACCESS and unauth.resource == "/files/"
    assert (unauth.host, unauth.port, unauth.protocol, unauth.probe) == (HOST, 80, "http", "http")
    assert unauth.authentication is Authentication.NONE
    assert unauth.encryption is Encryption.NONE and unauth.access is Access.LIST
    assert unauth.title == (f"directory listing at http://{HOST}/files/ readable without "
                            "authentication (1 files seen)")
    assert unauth.evidence == {"url": f"http://{HOST}/files/", "family": "nginx", "pages": 4}
    assert clear.kind is Kind.CLEARTEXT_TRANSPORT and clear.protocol == "http"
    assert clear.authentication is Authentication.NONE
    assert clear.evidence["exposed_resources"] == ["/files/"]
    assert clear.evidence["reasons"] == ["listings/WebDAV served without encryption"]
    assert res.info == {"server": "nginx", "tls": False, "soft404": False, "requests": 0,
                        "bytes": 0}


def test_webdav_collection_names_dav_and_advertised_writes() -> None:
    f = http(dav=["1", "2"], write_methods=["PUT", "DELETE"],
             resources=[resource("webdav", "/dav/")])
    res = PROBE.judge(f, None)
    unauth = res.findings[0]
    assert unauth.protocol == "webdav" and unauth.title.startswith("WebDAV collection at ")
    assert unauth.evidence["method"] == "PROPFIND Depth: 1 -> 207 Multi-Status"
    assert unauth.evidence["dav"] == ["1", "2"]
    assert unauth.evidence["write_methods_advertised"] == ["PUT", "DELETE"]
    assert unauth.evidence["note"] == "write methods are advertised (not tried)"
    assert res.info["dav"] == ["1", "2"] and res.info["write_methods_advertised"] == ["PUT",
                                                                                     "DELETE"]


def test_basic_auth_only_is_auth_required_with_a_cleartext_finding() -> None:
    f = http(auth_challenges=[BASIC, {**BASIC, "path": "/nasscan-0123456789ab/"}])
    res = PROBE.judge(f, None)
    assert res.status is Status.AUTH_REQUIRED
    (clear,) = res.findings
    assert clear.authentication is Authentication.REQUIRED
    assert clear.evidence["auth_over_plaintext"] == ["basic"]
    assert clear.evidence["auth_paths"] == ["/"]  # never the random soft-404 path
    assert res.info["auth_challenges"][0] == BASIC


def test_nothing_exposed_on_a_plain_port_is_success_without_findings() -> None:
    res = PROBE.judge(http(), None)
    assert res.status is Status.SUCCESS and not res.findings
    assert res.detail == "no listing or WebDAV without authentication"


def test_plain_http_on_a_tls_port_is_cleartext_even_without_listing() -> None:
    (clear,) = PROBE.judge(http(port=443), None).findings
    assert clear.evidence["tls_conventional_port"] == 443
    assert clear.authentication is Authentication.UNKNOWN


def test_https_listing_has_required_encryption_and_no_cleartext() -> None:
    f = http(tls=True, resources=[resource()])
    res = PROBE.judge(f, None)
    assert res.protocol == "https" and [x.kind for x in res.findings] == [
        Kind.UNAUTHENTICATED_ACCESS]
    assert res.findings[0].encryption is Encryption.REQUIRED


def test_catch_all_marks_listings_not_webdav() -> None:
    f = http(catch_all=CatchAllCheck("/nasscan-abc/", True),
             resources=[resource("http", "/"), resource("webdav", "/")])
    res = PROBE.judge(f, None)
    listing, dav = res.findings[0], res.findings[1]
    assert listing.evidence["accepts_any_name"] is True
    assert "accepts_any_name" not in dav.evidence
    assert res.info["random_name_accepted"] == "/nasscan-abc/"


def test_samples_are_evidence_and_counted() -> None:
    r = resource()
    r.samples = Samples(size=16, files=2, requests=2, ranged={"/files/a.wav": "honoured"},
                        data={"/files/a.wav": b"RIFF\x24\x08\x00\x00WAVEfmt "},
                        errors={"/files/b.txt": "HTTP 403"})
    f = http(sample=Samples(size=16, files=2), resources=[r])
    res = PROBE.judge(f, None)
    ev = res.findings[0].evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sampled_files"] == 1
    assert ev["sniffed"] == {"/files/a.wav": "wav"} and ev["sample_requests"] == 2
    assert ev["sample_range"] == {"/files/a.wav": "honoured"}
    assert res.info["intrusive"] == ["sample-bytes"] and res.info["sample_requests"] == 2


def test_truncated_crawl_says_plus() -> None:
    f = http(resources=[resource(truncated=True)])
    assert PROBE.judge(f, None).findings[0].title.endswith("(1 files+ seen)")


def test_cut_mid_crawl_reports_the_listing_so_far() -> None:
    f = http(resources=[resource(done=False)])
    res = PROBE.judge(f, Cut(Status.TIMEOUT, "timed out", "TimeoutError"))
    assert res.status is Status.TIMEOUT and res.detail == "timed out"
    unauth = res.findings[0]
    assert unauth.listing is not None and unauth.listing.truncated
    assert unauth.listing.stopped_by == "deadline" and unauth.listing.partial == "timed out"


def test_cut_before_an_answer_is_the_cut() -> None:
    f = HttpFacts(ServiceInfo(host=HOST, port=80), tls=False)
    res = PROBE.judge(f, Cut(Status.REFUSED, "connection refused", "ConnectionRefusedError"))
    assert res.status is Status.REFUSED and not res.findings
