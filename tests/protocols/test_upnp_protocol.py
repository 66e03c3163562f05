"""UPnP/DLNA wire formats on bytes: SSDP replies, device descriptions, SOAP Browse and DIDL-Lite
(captures from the lab's MiniDLNA 1.3.0 in tests/captures/dlna/), hostile XML, and hypothesis
properties of every parser."""

from __future__ import annotations

import html
import time
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from repo_paths import CAPTURES

from scanner.protocols import upnp
from scanner.protocols.xmlsafe import UnsafeXMLError, parse_xml

CAPTURES = CAPTURES / "dlna"
ParseErrors = (upnp.UPnPError, UnsafeXMLError, ValueError)


# ------------------------------------------------------------------------------------ SSDP


def _reply(location: str, status: str = "200 OK", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nCACHE-CONTROL: max-age=1810\r\nDATE: Tue, 01 Dec 2026 10:00:00 GMT"
        f"\r\nST: urn:schemas-upnp-org:device:MediaServer:1\r\nUSN: uuid:4d69::urn:x\r\nEXT:\r\n"
        f"SERVER: Debian DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.3.0\r\nLOCATION: {location}\r\n"
        f"{extra}Content-Length: 0\r\n\r\n"
    ).encode("latin-1")


def test_msearch_is_a_unicast_search_for_the_target() -> None:
    data = upnp.msearch("127.0.10.81")
    lines = data.decode().split("\r\n")
    assert lines[0] == "M-SEARCH * HTTP/1.1"
    assert "HOST: 127.0.10.81:1900" in lines and 'MAN: "ssdp:discover"' in lines
    assert "239.255.255.250" not in data.decode() and "MX:" not in data.decode()
    assert data.endswith(b"\r\n\r\n")
    assert b"HOST: [fd00::7]:1900" in upnp.msearch("fd00::7")
    with pytest.raises(ValueError):
        upnp.msearch("127.0.0.1\r\nX: y")


def test_ssdp_reply_parsed() -> None:
    r = upnp.parse_ssdp_reply(_reply("http://127.0.10.81:8200/rootDesc.xml"))
    assert r is not None
    assert r.location == "http://127.0.10.81:8200/rootDesc.xml"
    assert r.st == "urn:schemas-upnp-org:device:MediaServer:1"
    assert "MiniDLNA" in r.server
    lower = b"http/1.1 200 OK\nlocation: http://10.0.0.9:49152/d.xml\n\n"
    r2 = upnp.parse_ssdp_reply(lower)
    assert r2 is not None and r2.location == "http://10.0.0.9:49152/d.xml"


@pytest.mark.parametrize(
    "data",
    [
        _reply("http://127.0.10.81:8200/rootDesc.xml", status="404 Not Found"),
        _reply("ftp://127.0.10.81/x"),
        _reply("http:///nohost"),
        _reply("http://127.0.10.81:99999/x"),
        _reply("http://127.0.10.81:8200/a\x00b"),
        b"NOTIFY * HTTP/1.1\r\nLOCATION: http://127.0.0.1/x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"",
        b"HTTP/1.1 200 OK\r\nLOCATION: http://127.0.0.1/" + b"a" * 9000 + b"\r\n\r\n",
    ],
)
def test_ssdp_non_replies_are_none(data: bytes) -> None:
    assert upnp.parse_ssdp_reply(data) is None


@given(st.binary(max_size=2048))
def test_ssdp_parser_never_raises(data: bytes) -> None:
    r = upnp.parse_ssdp_reply(data)
    assert r is None or r.location.startswith(("http://", "https://"))


_host = st.one_of(
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5})?", fullmatch=True),
)  # fmt: skip
_path = st.from_regex(r"(/[A-Za-z0-9._~%-]{0,12}){0,4}", fullmatch=True)


@given(_host, st.integers(1, 65535), _path, st.sampled_from(["\r\n", "\n"]))
def test_ssdp_location_round_trip(host: str, port: int, path: str, eol: str) -> None:
    loc = f"http://{host}:{port}{path}"
    data = _reply(loc).replace(b"\r\n", eol.encode())
    r = upnp.parse_ssdp_reply(data)
    assert r is not None and r.location == loc


# --------------------------------------------------------------------------- descriptions


def test_minidlna_description_capture() -> None:
    dev = upnp.parse_description(
        (CAPTURES / "minidlna-rootDesc.xml").read_bytes(), "http://127.0.10.81:8200/rootDesc.xml"
    )
    assert dev.device_type == "urn:schemas-upnp-org:device:MediaServer:1"
    assert dev.friendly_name == "nasscan-lab-media" and dev.model_number == "1.3.0"
    cd = dev.content_directory()
    assert cd is not None
    assert cd.control_url == "http://127.0.10.81:8200/ctl/ContentDir"
    assert cd.scpd_url == "http://127.0.10.81:8200/ContentDir.xml"
    assert len(dev.services) == 3


def _desc(services: str, urlbase: str = "", embedded: str = "") -> bytes:
    return (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">'
        f"{urlbase}<device><deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>"
        f"<friendlyName>x</friendlyName><serviceList>{services}</serviceList>{embedded}"
        "</device></root>"
    ).encode()


def _svc(st_: str, ctl: str) -> str:
    return f"<service><serviceType>{st_}</serviceType><controlURL>{ctl}</controlURL></service>"


def test_description_urlbase_and_embedded_devices() -> None:
    cd = _svc("urn:schemas-upnp-org:service:ContentDirectory:2", "ctl/cd")
    emb = f"<deviceList><device><serviceList>{cd}</serviceList></device></deviceList>"
    dev = upnp.parse_description(
        _desc(_svc("urn:x:service:Other:1", "/o"), "<URLBase>http://10.1.1.1:9000/base/</URLBase>",
              emb), "http://127.0.0.1:1/desc.xml",
    )  # fmt: skip
    found = dev.content_directory()
    assert found is not None and found.control_url == "http://10.1.1.1:9000/base/ctl/cd"
    # without URLBase the description's own URL is the base; no ContentDirectory: None
    dev2 = upnp.parse_description(_desc(_svc("urn:x:service:Other:1", "o")), "http://h:2/a/d.xml")
    assert dev2.content_directory() is None and dev2.services[0].control_url == "http://h:2/a/o"


@pytest.mark.parametrize(
    "data",
    [b"<html><body>hi</body></html>", b"<root/>", b"not xml", b"<root><device>"],
)
def test_description_rejects_other_documents(data: bytes) -> None:
    with pytest.raises(upnp.UPnPError):
        upnp.parse_description(data, "http://127.0.0.1/")


# ------------------------------------------------------------------------------------ SOAP


def test_browse_request_is_a_read_only_browse_with_escaped_id() -> None:
    body = upnp.browse_request('64$0<&">', 200, 50)
    root = parse_xml(body)
    browse = root.find("Body/Browse")
    assert browse is not None
    assert browse.findtext("ObjectID") == '64$0<&">'
    assert browse.findtext("BrowseFlag") == "BrowseDirectChildren"
    assert browse.findtext("StartingIndex") == "200" and browse.findtext("RequestedCount") == "50"
    with pytest.raises(ValueError):
        upnp.browse_request("0", 0, 1, flag="DestroyObject")


def test_minidlna_browse_captures() -> None:
    root = upnp.parse_browse_response((CAPTURES / "minidlna-browse-0.xml").read_bytes())
    assert root.number_returned == 3
    objs = upnp.parse_didl(root.didl)
    assert [o.title for o in objs] == ["Browse Folders", "Music", "Pictures"]
    assert all(o.is_container for o in objs) and objs[0].id == "64"
    assert objs[0].child_count == 4
    leaf = upnp.parse_browse_response((CAPTURES / "minidlna-browse-64_0_0.xml").read_bytes())
    assert leaf.number_returned == 3 and leaf.total_matches == 7
    items = upnp.parse_didl(leaf.didl)
    wav = items[0]
    assert not wav.is_container and wav.upnp_class.startswith("object.item.audioItem")
    assert wav.resources[0].size == 844 and wav.resources[0].mime == "audio/x-wav"
    assert wav.resources[0].url.endswith(".wav")
    assert upnp.file_name(wav) == "19420209-3953_0703352854_20190302T154400.wav"
    assert upnp.file_name(items[1]) == "call.mp3"  # the MP3's ID3 title, extension from its URL


def test_soap_fault_carries_the_upnp_error_code() -> None:
    fault = (
        b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>"
        b'<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>701'
        b"</errorCode><errorDescription>No such object</errorDescription></UPnPError></detail>"
        b"</s:Fault></s:Body></s:Envelope>"
    )
    with pytest.raises(upnp.SoapFault) as ei:
        upnp.parse_browse_response(fault)
    assert ei.value.code == 701 and "No such object" in str(ei.value)


@pytest.mark.parametrize(
    "data",
    [b"<html/>", b"<Envelope><Body/></Envelope>", b"<Envelope><Body><Other/></Body></Envelope>"],
)
def test_browse_response_rejects_other_documents(data: bytes) -> None:
    with pytest.raises(upnp.UPnPError):
        upnp.parse_browse_response(data)


def test_file_name_extension_from_mime_and_slashes() -> None:
    res = (upnp.Resource("http://h/MediaItems/7", 5, "audio/mpeg"),)
    o = upnp.DidlObject("1", "AC/DC live", "object.item.audioItem", False, resources=res)
    assert upnp.file_name(o) == "AC_DC live.mp3"
    kept = upnp.DidlObject("2", "call.wav", "object.item.audioItem", False)
    assert upnp.file_name(kept) == "call.wav"
    assert upnp.file_name(upnp.DidlObject("3", "  ", "object.item", False)) == ""


# ------------------------------------------------------------------------- hostile XML

BOMB = (
    '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + ']><DIDL-Lite><item id="1"><dc:title>&j;</dc:title></item></DIDL-Lite>'
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<DIDL-Lite><item><title>&x;</title></item></DIDL-Lite>"
)


@pytest.mark.parametrize("doc", [BOMB, XXE], ids=["billion-laughs", "xxe"])
def test_didl_entity_declarations_refused_fast(doc: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(UnsafeXMLError):
        upnp.parse_didl(doc)
    # the same document escaped inside a SOAP <Result> is refused when the DIDL is parsed
    env = _envelope(escape(doc))
    result = upnp.parse_browse_response(env)
    with pytest.raises(UnsafeXMLError):
        upnp.parse_didl(result.didl)
    # and a DOCTYPE on the envelope itself is refused before anything is expanded
    with pytest.raises(UnsafeXMLError):
        upnp.parse_browse_response(doc.replace("DIDL-Lite", "Envelope").encode())
    assert time.monotonic() - t0 < 1.0


def test_deep_nesting_refused() -> None:
    deep = "<DIDL-Lite>" + "<container>" * 5000 + "</container>" * 5000 + "</DIDL-Lite>"
    with pytest.raises(UnsafeXMLError):
        upnp.parse_didl(deep)
    with pytest.raises(UnsafeXMLError):
        upnp.parse_description(("<root>" + "<device>" * 200 + "</device>" * 200
                                + "</root>").encode(), "http://h/")  # fmt: skip


def _envelope(result_text: str, returned: int = 1, total: int = 1) -> bytes:
    return (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        '<s:Body><u:BrowseResponse xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1">'
        f"<Result>{result_text}</Result><NumberReturned>{returned}</NumberReturned>"
        f"<TotalMatches>{total}</TotalMatches><UpdateID>0</UpdateID>"
        "</u:BrowseResponse></s:Body></s:Envelope>"
    ).encode()


# ----------------------------------------------------------------------- DIDL properties

_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(lambda s: s.strip() == s and s != "")
_obj = st.tuples(st.booleans(), _text, _text, st.one_of(st.none(), st.integers(0, 10**15)))

NS = (
    'xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" xmlns:dc="http://purl.org/dc/elements/'
    '1.1/" xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/"'
)


def _didl(objs: list[tuple[bool, str, str, int | None]]) -> str:
    parts = []
    for is_c, oid, title, size in objs:
        tag = "container" if is_c else "item"
        cls = "object.container.storageFolder" if is_c else "object.item.audioItem"
        res = "" if is_c else (
            f'<res protocolInfo="http-get:*:audio/x-wav:*"'
            f'{"" if size is None else f" size={quoteattr(str(size))}"}>http://h/m/1.wav</res>'
        )  # fmt: skip
        parts.append(f"<{tag} id={quoteattr(oid)} parentID=\"0\"><dc:title>{escape(title)}"
                     f"</dc:title><upnp:class>{cls}</upnp:class>{res}</{tag}>")  # fmt: skip
    return f"<DIDL-Lite {NS}>{''.join(parts)}</DIDL-Lite>"


@settings(max_examples=60, deadline=None)
@given(st.lists(_obj, max_size=12))
def test_didl_round_trip(objs: list[tuple[bool, str, str, int | None]]) -> None:
    didl = _didl(objs)
    # through the SOAP envelope, escaped as servers send it
    back = upnp.parse_didl(upnp.parse_browse_response(_envelope(escape(didl), len(objs))).didl)
    assert [(o.is_container, o.id, o.title) for o in back] == [(c, i, t.strip())
                                                              for c, i, t, _ in objs]  # fmt: skip
    for o, (is_c, _, _, size) in zip(back, objs, strict=True):
        if not is_c:
            assert o.resources[0].size == size and o.resources[0].mime == "audio/x-wav"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_didl_parser_fails_only_with_value_errors(text: str) -> None:
    try:
        out = upnp.parse_didl(text)
    except ParseErrors:
        return
    assert isinstance(out, list)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_browse_parser_fails_only_with_value_errors(data: bytes) -> None:
    try:
        upnp.parse_browse_response(data)
    except ParseErrors:
        return


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_description_parser_fails_only_with_value_errors(data: bytes) -> None:
    try:
        upnp.parse_description(b"<root><device>" + data, "http://h/")
    except ParseErrors:
        return


def test_html_unescaped_result_matches_lab_item_count() -> None:
    text = html.unescape((CAPTURES / "minidlna-browse-64_0_0.xml").read_text())
    assert text.count("<item ") == len(
        upnp.parse_didl(upnp.parse_browse_response(
            (CAPTURES / "minidlna-browse-64_0_0.xml").read_bytes()).didl)
    )  # fmt: skip
