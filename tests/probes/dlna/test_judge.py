"""The DLNA probe's judge on facts built here: no server, no network."""

from __future__ import annotations

from probes.dlna import PROBE, DlnaFacts
from scanner.crawl import CrawlResult
from scanner.models import Access, Encryption, Entry, Kind, ServiceInfo, Status
from scanner.probe_skeleton import Cut, Samples
from scanner.protocols import upnp

HOST, PORT = "127.0.0.1", 8200
CONTROL = f"http://{HOST}:{PORT}/ctl/ContentDir"
DESC = f"http://{HOST}:{PORT}/rootDesc.xml"


def device(name: str = "NAS media") -> upnp.Device:
    return upnp.Device(device_type="urn:schemas-upnp-org:device:MediaServer:1",
                       friendly_name=name, manufacturer="Justin Maggard")


def crawl(*entries: Entry, truncated: bool = False, requests: int = 3) -> CrawlResult:
    return CrawlResult(entries=list(entries), truncated=truncated, dirs_listed=1,
                       requests=requests)


def listed(**kw: object) -> DlnaFacts:
    f = DlnaFacts(ServiceInfo(host=HOST, port=PORT), tls=False, ssdp="1 replies",
                  ssdp_server="Linux DLNADOC/1.50 MiniDLNA/1.3.2", description_url=DESC,
                  device=device(), control_url=CONTROL, requests=5, bytes=4096,
                  **{"crawl_done": True, **kw})  # type: ignore[arg-type]
    f.crawl = crawl(Entry(path="/Music", is_dir=True), Entry(path="/Music/call.mp3", size=900),
                    Entry(path="/Music/b.mp3", size=800))
    f.classes = {"object.item.audioItem.musicTrack": 2}
    f.mimes = {"audio/mpeg": 2}
    f.res_urls = {"/Music/call.mp3": f"http://10.9.9.9:{PORT}/MediaItems/1.mp3"}
    f.res_of = {"/Music/call.mp3": "/MediaItems/1.mp3"}
    return f


def test_no_description_is_not_applicable_with_the_last_status() -> None:
    f = DlnaFacts(ServiceInfo(host=HOST, port=9000), tls=False, ssdp="no reply", last_http=404)
    res = PROBE.judge(f, None)
    assert res.status is Status.NOT_APPLICABLE and not res.findings
    assert res.detail == "no UPnP device description (last HTTP status 404)"
    assert res.info == {"ssdp": "no reply"}


def test_device_without_content_directory_is_not_a_media_server() -> None:
    f = DlnaFacts(ServiceInfo(host=HOST, port=PORT), tls=False, description_url=DESC,
                  device=device())
    res = PROBE.judge(f, None)
    assert res.status is Status.NOT_APPLICABLE and res.protocol == "upnp"
    assert res.info["device"]["friendly_name"] == "NAS media"


def test_refused_browse_is_auth_required_and_a_fault_a_protocol_error() -> None:
    f = DlnaFacts(ServiceInfo(host=HOST, port=PORT), tls=False, description_url=DESC,
                  device=device(), control_url=CONTROL, browse_refused="UPnP error 606")
    res = PROBE.judge(f, None)
    assert res.status is Status.AUTH_REQUIRED and not res.findings
    assert res.detail == "Browse refused: UPnP error 606" and res.protocol == "dlna"
    f.browse_refused, f.browse_fault = None, "UPnP error 701: No such object"
    res = PROBE.judge(f, None)
    assert res.status is Status.PROTOCOL_ERROR and res.detail == "UPnP error 701: No such object"


def test_listed_library_is_unauthenticated_and_cleartext() -> None:
    f = listed(repeated_items=4, head={"item": "/Music/call.mp3", "url": "u", "status": 200},
               head_status=200)
    res = PROBE.judge(f, None)
    assert res.status is Status.SUCCESS and res.protocol == "dlna" and res.tls is False
    unauth, clear = res.findings
    assert unauth.kind is Kind.UNAUTHENTICATED_ACCESS and unauth.resource == "/ctl/ContentDir"
    assert (unauth.host, unauth.port, unauth.protocol, unauth.probe) == (HOST, PORT, "dlna",
                                                                         "dlna")
    assert unauth.access is Access.READ and unauth.encryption is Encryption.NONE
    assert unauth.title == (f"DLNA/UPnP media library 'NAS media' on {HOST}:{PORT} browsable "
                            "by anyone (2 items seen)")
    assert unauth.evidence["browse_requests"] == 3
    assert unauth.evidence["items_in_several_views"] == 4
    assert unauth.evidence["mime_types"] == {"audio/mpeg": 2}
    assert unauth.listing is not None and len(unauth.listing.entries) == 3
    assert "intrusive" not in unauth.evidence
    assert clear.kind is Kind.CLEARTEXT_TRANSPORT and clear.resource is None
    assert clear.evidence["sample_resource_urls"] == [f"http://10.9.9.9:{PORT}/MediaItems/1.mp3"]
    assert res.info["requests"] == 5 and res.info["bytes"] == 4096
    assert res.info["control_url"] == CONTROL


def test_head_not_answering_leaves_list_access() -> None:
    f = listed(head="TimeoutError")
    unauth = PROBE.judge(f, None).findings[0]
    assert unauth.access is Access.LIST and unauth.evidence["head"] == "TimeoutError"
    f = listed(head={"item": "/Music/call.mp3", "url": "u", "status": 403}, head_status=403)
    assert PROBE.judge(f, None).findings[0].access is Access.LIST


def test_over_tls_there_is_no_cleartext_finding() -> None:
    f = listed()
    f.tls = True
    res = PROBE.judge(f, None)
    assert [x.kind for x in res.findings] == [Kind.UNAUTHENTICATED_ACCESS]


def test_truncated_crawl_says_plus_and_out_of_scope_control_url_is_noted() -> None:
    f = listed(control_out_of_scope=True)
    f.crawl = crawl(Entry(path="/a.mp3", size=1), truncated=True)
    res = PROBE.judge(f, None)
    assert res.findings[0].title.endswith("(1+ items seen)")
    assert res.info["control_url_out_of_scope"] is True


def test_samples_are_evidence() -> None:
    samples = Samples(size=64, files=2, data={"/Music/call.mp3": b"ID3\x04\x00" + b"\0" * 59},
                      errors={"/Music/b.mp3": "HTTP 404"})
    f = listed(samples=samples)
    res = PROBE.judge(f, None)
    ev = res.findings[0].evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == 64
    assert ev["sampled_files"] == 1 and ev["sample_errors"] == {"/Music/b.mp3": "HTTP 404"}
    assert "/Music/call.mp3" in ev["sniffed"]
    assert res.info["intrusive"] == ["sample-bytes"]


def test_cut_mid_crawl_reports_what_was_listed_as_truncated() -> None:
    f = listed(crawl_done=False)
    f.crawl = crawl(Entry(path="/Music/call.mp3", size=900))
    cut = Cut(Status.TIMEOUT, "timed out", "TimeoutError")
    res = PROBE.judge(f, cut)
    assert res.status is Status.TIMEOUT and res.detail == "timed out"
    unauth = res.findings[0]
    assert unauth.listing is not None and unauth.listing.truncated
    assert unauth.listing.stopped_by == "deadline" and unauth.title.endswith("(1+ items seen)")


def test_cut_before_anything_is_the_cut_alone() -> None:
    f = DlnaFacts(ServiceInfo(host=HOST, port=PORT), tls=False)
    res = PROBE.judge(f, Cut(Status.REFUSED, "connection refused", "ConnectionRefusedError"))
    assert res.status is Status.REFUSED and not res.findings and not res.info
    f = DlnaFacts(ServiceInfo(host=HOST, port=PORT), tls=False, description_url=DESC,
                  device=device(), control_url=CONTROL)
    res = PROBE.judge(f, Cut(Status.PROTOCOL_ERROR, "DTD/entity refused", "UnsafeXMLError"))
    assert res.status is Status.PROTOCOL_ERROR and res.protocol == "dlna" and not res.findings
