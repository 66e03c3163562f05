"""Directory-listing parsers: a corpus per server family (captured + written from docs) and
non-listing look-alikes, each with its expected parse; plus byte-level and property tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from repo_paths import CORPUS

from scanner.protocols.listing import ListedItem, find_date, parse_listing, parse_size
from scanner.protocols.xmlsafe import UnsafeXMLError, parse_xml, xml_root

CASES = sorted(CORPUS.glob("*.expected.json"))

FAMILIES = {
    "nginx", "nginx-json", "nginx-xml", "apache-ul", "apache-fancy-table", "apache-fancy-pre",
    "lighttpd", "iis", "tomcat", "caddy", "caddy-json", "python", "generic", "generic-json",
}  # fmt: skip


def _case(exp_path: Path) -> tuple[bytes, dict[str, object]]:
    page = exp_path.with_name(exp_path.name.removesuffix(".expected.json"))
    return page.read_bytes(), json.loads(exp_path.read_text())


@pytest.mark.parametrize("exp_path", CASES, ids=lambda p: p.name.split(".")[0])
def test_corpus_page_parses_as_expected(exp_path: Path) -> None:
    body, exp = _case(exp_path)
    got = parse_listing(
        body, path=str(exp["path"]), content_type=str(exp["content_type"]),
        server=str(exp["server"]),
    )  # fmt: skip
    if exp["family"] is None:
        assert got is None
        return
    assert got is not None
    assert got.family == exp["family"]
    if "sizes" in exp:  # captured by listing_corpus/capture.py: the tree's truth + what is shown
        _check_captured(got.entries, exp)
        return
    assert [e.as_dict() for e in got.entries] == exp["entries"]


def _check_captured(entries: list[ListedItem], exp: dict[str, Any]) -> None:
    want = {e["name"]: e for e in exp["entries"]}
    assert len(entries) == len(want)
    assert {e.name for e in entries} == set(want)
    for e in entries:
        w = want[e.name]
        if exp["dirs"]:
            assert e.is_dir == w["is_dir"], e
        if w["is_dir"] or exp["sizes"] == "none":
            assert e.size is None or not exp["dirs"], e
        elif exp["sizes"] == "exact":
            assert e.size == w["size"], e
        else:  # human sizes (19.5K, 1.2M, 53 kB): within rounding
            assert e.size is not None and abs(e.size - w["size"]) <= max(1024, w["size"] // 5), e
        if exp["dates"] and not e.is_dir:
            assert e.mtime is not None and e.mtime.startswith("2019-03-14"), e


def test_corpus_covers_every_family_and_lookalikes() -> None:
    families = {json.loads(p.read_text())["family"] for p in CASES}
    assert families - {None} == FAMILIES
    assert sum(1 for p in CASES if json.loads(p.read_text())["family"] is None) >= 16
    # >= 20 server programs captured on this machine by listing_corpus/capture.py
    programs = {
        str(json.loads(p.read_text())["captured_from"]).split(":", 1)[0]
        for p in CASES if "captured_from" in json.loads(p.read_text())
    }  # fmt: skip
    assert len(programs) >= 20, programs
    assert sum(1 for p in CASES if p.name.startswith("neg_")) >= 10


def test_nginx_captured_recording_row() -> None:
    body, _ = _case(CORPUS / "nginx_autoindex_sub.html.expected.json")
    got = parse_listing(body, path="/2019/03/")
    assert got is not None and got.family == "nginx"
    (e,) = got.entries
    assert e.name == "19790312-2391_0701234567_20190314T101500.wav"
    assert (e.size, e.mtime, e.is_dir) == (1234, "2019-03-14T10:15:00", False)


def test_entries_resolve_against_the_page_path_only() -> None:
    page = (
        b"<html><head><title>Index of /a/</title></head><body><h1>Index of /a/</h1><hr><pre>"
        b'<a href="../">../</a>\n<a href="x.txt">x.txt</a>   14-Mar-2019 10:15   7\n'
        b'<a href="/elsewhere/y.txt">y.txt</a>   14-Mar-2019 10:15   7\n</pre><hr></body></html>'
    )
    # /elsewhere/y.txt is no child of /a/: the page is then not link-dominated by children
    assert parse_listing(page, path="/a/") is None
    page2 = page.replace(b"/elsewhere/y.txt", b"/a/y.txt")
    got = parse_listing(page2, path="/a/")
    assert got is not None and [e.name for e in got.entries] == ["x.txt", "y.txt"]


def test_index_of_title_alone_is_no_listing() -> None:
    page = b"<html><head><title>Index of /</title></head><body><h1>Index of /</h1><p>hi</p></body>"
    assert parse_listing(page, path="/") is None


@pytest.mark.parametrize(
    ("text", "size"),
    [("20000", 20000), ("20K", 20480), ("19.5K", 19968), ("1.2 kb", 1228), ("1.5M", 1572864),
     ("  - ", None), ("3 B", 3), ("2 GiB", 2 * 1024**3)],
)  # fmt: skip
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "iso"),
    [("23-Nov-2026 12:52", "2026-11-23T12:52:00"), ("2019-03-14 10:15", "2019-03-14T10:15:00"),
     ("2019-Mar-14 10:15:00", "2019-03-14T10:15:00"),
     ("Thu, 14 Mar 2019 10:15:00 GMT", "2019-03-14T10:15:00"),
     ("3/14/2019 10:15 PM", "2019-03-14T22:15:00"),
     ("Thursday, March 14, 2019 12:05 AM", "2019-03-14T00:05:00"),
     ("2019-03-14T10:15:00Z", "2019-03-14T10:15:00"), ("no date", None),
     ("2019-13-14 10:15", None)],
)  # fmt: skip
def test_find_date(text: str, iso: str | None) -> None:
    assert find_date(text)[0] == iso


def test_xml_with_entities_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><list><file>&b;</file></list>'
    )
    with pytest.raises(UnsafeXMLError):
        parse_xml(bomb)
    assert parse_listing(bomb, content_type="text/xml") is None
    xxe = b'<?xml version="1.0"?><!DOCTYPE l SYSTEM "file:///etc/passwd"><list/>'
    with pytest.raises(UnsafeXMLError):
        parse_xml(xxe)
    assert xml_root(bomb, "list") is None and xml_root(xxe, "list") is None


def test_xml_root_is_the_named_document_or_none() -> None:
    root = xml_root(b'<x:Error xmlns:x="urn:s3"><x:Code>NoSuchBucket</x:Code></x:Error>', "Error")
    assert root is not None and root.findtext("Code") == "NoSuchBucket"  # namespace stripped
    assert xml_root(b"<Error><Code>A</Code></Error>", "ListBucketResult") is None
    assert xml_root(b"<Error><Code>A</Code>", "Error") is None  # malformed
    assert xml_root(b"", "Error") is None


_name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1, max_size=30,
).filter(lambda s: s.strip() not in ("", ".", "..") and s == s.strip())  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_name, st.integers(0, 10**12), st.booleans()), max_size=25,
                unique_by=lambda t: t[0]))  # fmt: skip
def test_nginx_json_roundtrip(items: list[tuple[str, int, bool]]) -> None:
    data = [
        {"name": n, "type": "directory" if d else "file", "mtime": "Thu, 14 Mar 2019 10:15:00 GMT"}
        | ({} if d else {"size": s})
        for n, s, d in items
    ]
    got = parse_listing(json.dumps(data).encode(), content_type="application/json")
    assert got is not None and got.family == "nginx-json"
    assert [(e.name, e.size, e.is_dir) for e in got.entries] == [
        (n, None if d else s, d) for n, s, d in items
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_name, st.integers(0, 10**9), st.booleans()), min_size=1, max_size=20,
                unique_by=lambda t: t[0]))  # fmt: skip
def test_nginx_html_roundtrip(items: list[tuple[str, int, bool]]) -> None:
    from html import escape
    from urllib.parse import quote

    rows = "".join(
        f'<a href="{quote(n)}{"/" if d else ""}">{escape(n)}{"/" if d else ""}</a>'
        f"   14-Mar-2019 10:15   {'-' if d else s}\n"
        for n, s, d in items
    )
    page = (
        "<html><head><title>Index of /x/</title></head><body><h1>Index of /x/</h1><hr><pre>"
        f'<a href="../">../</a>\n{rows}</pre><hr></body></html>'
    ).encode()
    got = parse_listing(page, path="/x/")
    assert got is not None and got.family == "nginx"
    assert [(e.name, e.size, e.is_dir, e.mtime) for e in got.entries] == [
        (n, None if d else s, d, "2019-03-14T10:15:00") for n, s, d in items
    ]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    got = parse_listing(body, path="/")
    assert got is None or isinstance(got.entries, list)


def test_webdav_multistatus_captured_from_nginx() -> None:
    from scanner.protocols.webdav import advertised_write_methods, dav_classes, parse_multistatus

    res = parse_multistatus((CORPUS / "webdav_nginx_propfind.xml").read_bytes())
    by = {r.href: r for r in res}
    assert by["/"].is_collection and by["/2019/"].is_collection and by["/my dir/"].is_collection
    assert (by["/readme.txt"].size, by["/readme.txt"].mtime) == (3, "2019-03-14T10:15:00")
    assert by["/logo & icon.png"].size == 20000 and not by["/logo & icon.png"].is_collection
    assert all(r.ok for r in res) and len(res) == 6
    allow = "GET,HEAD,PUT,DELETE,MKCOL,COPY,MOVE,PROPFIND,OPTIONS,LOCK,UNLOCK"
    assert advertised_write_methods(allow) == ["PUT", "DELETE", "MKCOL", "MOVE", "COPY", "LOCK"]
    assert advertised_write_methods("GET, HEAD, OPTIONS") == []
    assert dav_classes("1, 2, <http://apache.org/dav/propset/fs/1>")[:2] == ["1", "2"]


def test_webdav_rejects_non_multistatus_and_entities() -> None:
    from scanner.protocols.webdav import parse_multistatus

    with pytest.raises(ValueError):
        parse_multistatus(b"<html><body>Index of /</body></html>")
    with pytest.raises(ValueError):  # UnsafeXMLError is a ValueError
        parse_multistatus(
            b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x "y">]>'
            b'<D:multistatus xmlns:D="DAV:"><D:response><D:href>&x;</D:href></D:response>'
            b"</D:multistatus>"
        )


def _render(family: str, path: str, items: list[tuple[str, int, bool]]) -> bytes:
    from html import escape
    from urllib.parse import quote

    def href(n: str, d: bool) -> str:
        return quote(n) + ("/" if d else "")

    if family == "python":
        rows = "".join(
            f'<li><a href="{href(n, d)}">{escape(n)}{"/" if d else ""}</a></li>\n'
            for n, _, d in items
        )
        return (
            f"<!DOCTYPE HTML><html><head><title>Directory listing for {escape(path)}</title>"
            f"</head><body><h1>Directory listing for {escape(path)}</h1><hr><ul>\n{rows}</ul>"
            "<hr></body></html>"
        ).encode()
    if family == "apache-ul":
        rows = "".join(
            f'<li><a href="{href(n, d)}"> {escape(n)}{"/" if d else ""}</a></li>\n'
            for n, _, d in items
        )
        return (
            f"<html><head><title>Index of {escape(path)}</title></head><body>"
            f'<h1>Index of {escape(path)}</h1><ul><li><a href="../"> Parent Directory</a></li>\n'
            f"{rows}</ul></body></html>"
        ).encode()
    rows = "".join(  # lighttpd
        f'<tr><td class="n"><a href="{href(n, d)}">{escape(n)}</a>{"/" if d else ""}</td>'
        f'<td class="m">2019-Mar-14 10:15:00</td><td class="s">{"- &nbsp;" if d else s}</td>'
        f'<td class="t">{"Directory" if d else "application/octet-stream"}</td></tr>\n'
        for n, s, d in items
    )
    return (
        f"<html><head><title>Index of {escape(path)}</title></head><body>"
        f'<h2>Index of {escape(path)}</h2><div class="list">'
        f'<table summary="Directory Listing"><tbody>{rows}</tbody></table></div>'
        '<div class="foot">lighttpd/1.4.69</div></body></html>'
    ).encode()


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["python", "apache-ul", "lighttpd"]),
    st.lists(st.tuples(_name, st.integers(0, 10**6), st.booleans()), min_size=1, max_size=15,
             unique_by=lambda t: t[0]),
)  # fmt: skip
def test_family_roundtrip(family: str, items: list[tuple[str, int, bool]]) -> None:
    got = parse_listing(_render(family, "/rec/", items), path="/rec/")
    assert got is not None and got.family == family
    assert [(e.name, e.is_dir) for e in got.entries] == [(n, d) for n, _, d in items]
    if family == "lighttpd":
        assert [e.size for e in got.entries] == [None if d else s for n, s, d in items]


@settings(max_examples=60, deadline=None)
@given(
    st.text(max_size=200),
    st.lists(st.sampled_from(["https://example.org/", "/", "#top", "?q=1", "/a/b/c.html"]),
             max_size=8),
)  # fmt: skip
def test_index_of_titled_pages_without_child_links_are_no_listing(
    text: str, hrefs: list[str]
) -> None:
    from html import escape

    links = "".join(f'<a href="{h}">link</a> ' for h in hrefs)
    page = (
        "<html><head><title>Index of /</title></head><body><h1>Index of /</h1>"
        f"<p>{escape(text)}</p><p>{links}</p></body></html>"
    ).encode()
    assert parse_listing(page, path="/") is None


def test_multistatus_cut_by_the_byte_bound_keeps_its_whole_responses() -> None:
    """A PROPFIND answer cut mid-response (a directory larger than the byte bound) is listed as
    far as it got: whole responses only, never the cut one; nothing whole -> an error."""
    from scanner.protocols.webdav import parse_multistatus, whole_responses

    def resp(name: str, size: int) -> bytes:
        return (f"<D:response><D:href>/flat/{name}</D:href><D:propstat><D:prop>"
                f"<D:resourcetype/><D:getcontentlength>{size}</D:getcontentlength></D:prop>"
                "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>").encode()

    head = b'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
    body = head + resp("a.wav", 1) + resp("b.wav", 22) + resp("c.wav", 333)
    cut = body[: len(body) - 40]  # inside the third response
    got = parse_multistatus(cut, truncated=True)
    assert [(r.href, r.size) for r in got] == [("/flat/a.wav", 1), ("/flat/b.wav", 22)]
    whole = whole_responses(cut)
    assert whole is not None and whole.endswith(b"</D:response></D:multistatus>")
    with pytest.raises(ValueError):
        parse_multistatus(cut)  # not marked truncated: a broken document stays an error
    with pytest.raises(ValueError):
        parse_multistatus(head + resp("a.wav", 1)[:30], truncated=True)
    # another prefix (or none) for the DAV namespace
    plain = body.replace(b"D:", b"").replace(b"xmlns:D=", b"xmlns=")
    assert len(parse_multistatus(plain[: len(plain) - 40], truncated=True)) == 2
