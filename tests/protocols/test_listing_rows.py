"""The listing parser (scanner/protocols/listing.py) row by row: the HTML tokenizer's state after
hand-traced pages, the token and text bounds at their edges, which links are children, charsets,
each family's distinguishing marks with their look-alikes, the truncation edges, and the JSON
and XML routes.

Every expected value is worked out by hand from the page in the same test (the traces are in
the comments), never by running the parser.
"""

from __future__ import annotations

import json

import pytest

from scanner.protocols import listing
from scanner.protocols.listing import ListedItem, _child, _Tokenizer, parse_listing
from scanner.protocols.listing_structure import structural_listing


def _tok(page: str) -> _Tokenizer:
    tok = _Tokenizer()
    tok.feed(page)
    tok.close()
    return tok


def _anchors(tok: _Tokenizer) -> list[tuple[str, str, str, str, dict[str, str]]]:
    return [(a.href, a.text, a.before, a.after, a.attrs_after) for a in tok.anchors]


# -- the tokenizer -----------------------------------------------------------------------------

# Trace (one event per line; B = pending text before the next link, X.after = text after link X):
#   <title>Index</title><title> of /d/</title>    title 'Index of /d/' (two titles, appended)
#   <h1>Index of</h1><h2>/d/</h2>                 h1 'Index of/d/' (h1 and h2 text, appended)
#   <pre>                                          row break: B = []
#   'pre' <span class> '-' <b> 'text ' </b>        B = ['pre', ' ', '-', 'text '] (<b> is not kept,
#                                                  <span> adds ' '; class without a value is '')
#   <a href="a.txt"> 'a' <b> '.' </b> 'txt' </a>   A1: before 'pre -text ', text 'a.txt'
#   <style>p{}</style><script>s()</script>         kept non-break tags: A1.after ' ' at each start
#                                                  and each end: '    '; their text is dropped
#   ' 01-Jan-2024 10:00 5\n\ntail-text '           A1.after += ' 01-Jan-2024 10:00 5' (up to the
#                                                  first newline); B = ['\ntail-text ']; row closed
#   <a href="b/"><span>b/</span></a>               A2: before '\ntail-text ', text 'b/'; the span
#                                                  inside the link touches no after (row closed)
#   ' 02-Jan-2024'                                 A2.after ' 02-Jan-2024'
#   <span data-size="7" datetime="2024-01-02T00:00:00Z"></span>
#                                                  A2.after += ' ' (start) and ' ' (end); both
#                                                  attributes kept for A2 and in attr_values
#   '\n' </pre> <hr>                               A2's row closes; nothing more is added to it
TRACE_PAGE = (
    "<title>Index</title><title> of /d/</title><h1>Index of</h1><h2>/d/</h2>"
    "<pre>pre<span class>-</span><b>text </b>"
    '<a href="a.txt">a<b>.</b>txt</a><style>p{}</style><script>s()</script>'
    " 01-Jan-2024 10:00 5\n\ntail-text "
    '<a href="b/"><span>b/</span></a> 02-Jan-2024'
    '<span data-size="7" datetime="2024-01-02T00:00:00Z"></span>\n</pre><hr>'
)


def test_tokenizer_trace() -> None:
    tok = _tok(TRACE_PAGE)
    assert tok.title == "Index of /d/"
    assert tok.h1 == "Index of/d/"
    assert tok.tags == {
        "title": 2, "h1": 1, "h2": 1, "pre": 1, "span": 3, "a": 2, "style": 1, "script": 1,
        "hr": 1,
    }  # fmt: skip
    assert tok.attr_values == [
        ("span", "class", ""),
        ("span", "data-size", "7"),
        ("span", "datetime", "2024-01-02T00:00:00Z"),
    ]
    assert _anchors(tok) == [
        ("a.txt", "a.txt", "pre -text ", "     01-Jan-2024 10:00 5", {}),
        (
            "b/",
            "b/",
            "\ntail-text ",
            " 02-Jan-2024  ",
            {"data-size": "7", "datetime": "2024-01-02T00:00:00Z"},
        ),
    ]


def test_tokenizer_character_references_and_links_without_href() -> None:
    # "&amp;" is converted in text as in attributes; <a name> is no link: a kept tag (" "),
    # its text is plain text before the next link
    tok = _tok('<a name="top">T</a>x<a href="a&amp;b">a&amp;b</a>')
    assert _anchors(tok) == [("a&b", "a&b", " Tx", "", {})]
    assert tok.tags == {"a": 2}


def test_self_closing_tags_open_nothing() -> None:
    # <title/>, <h1/>, <h2/> hold no text; <pre/> is no <pre>: the newline stays in the row
    tok = _tok('<title/>x<h1/>y<h2/>z<pre/><a href="a">a</a> 5\n 6<script/>s<style/>t')
    assert (tok.title, tok.h1) == ("", "")
    assert _anchors(tok) == [("a", "a", "", " 5\n 6  s  t", {})]


def test_end_of_a_heading_inside_pre_keeps_the_pre() -> None:
    # </h2> closes the h2 only: the row still ends at the newline
    tok = _tok('<pre><h2>t</h2><a href="a">a</a> 1\n 2</pre>')
    assert tok.h1 == "t"
    assert _anchors(tok) == [("a", "a", " t", " 1", {})]  # <h2> is no row break: ' t'


@pytest.mark.parametrize(
    ("page", "after"),
    [
        # </td> adds ' ', </tr> ends the row: the closing </table> and the text add nothing
        ('<table><tr><td><a href="a">a</a></td></tr></table> x', " "),
        ('<ul><li><a href="a">a</a></li></ul>x', ""),
    ],
)
def test_rows_end_at_tr_and_li(page: str, after: str) -> None:
    assert _anchors(_tok(page))[0][3] == after


def test_text_before_a_link_keeps_its_last_64_pieces() -> None:
    # 69 text pieces ('0;' .. '68;', split by <b> tags that are not kept): the first 5 dropped
    page = "".join(f"{i};<b>" for i in range(69)) + '<a href="a">a</a>'
    assert _anchors(_tok(page))[0][2] == "".join(f"{i};" for i in range(5, 69))


@pytest.mark.parametrize(("limit", "kept"), [(3, True), (2, False)])
def test_token_bound_counts_every_token(
    monkeypatch: pytest.MonkeyPatch, limit: int, kept: bool
) -> None:
    # '<a href="x">', 'x', '</a>': three tokens; the link is complete only if the third counts
    monkeypatch.setattr(listing, "MAX_TOKENS", limit)
    tok = _tok('<a href="x">x</a>')
    assert tok.tokens == 3
    assert len(tok.anchors) == (1 if kept else 0)


# -- children ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "child"),
    [
        ("MAX", ("MAX", False)),  # a name ending in letters of the stripped '/'
        ("BOX/", ("BOX", True)),
        ("/data/BOX", ("BOX", False)),
        ("./BOXX/", ("BOXX", True)),
        ("/elsewhere", None),  # no prefix of '/data/': nothing after it is a name
        ("/abcdefgh.txt", None),
        ("/data/%2e", None),  # '.' once decoded
        ("/data/%2E/", None),
        ("./%2e%2e", None),
    ],
)
def test_child_rows(href: str, child: tuple[str, bool] | None) -> None:
    assert _child("/data/", href) == child


# -- charsets ----------------------------------------------------------------------------------

# a Python http.server page: title and h1 'Directory listing for /d/', one link
PY_PAGE = (
    "<html><head><title>Directory listing for /d/</title></head><body>"
    '<h1>Directory listing for /d/</h1><hr><ul><li><a href="{href}">{text}</a></li></ul>'
    "<hr></body></html>"
)


@pytest.mark.parametrize("ct", ["text/html; charset=utf-16", "text/html; Charset=UTF-16"])
def test_utf16_page_read_with_its_charset(ct: str) -> None:
    body = PY_PAGE.format(href="a.txt", text="a.txt").encode("utf-16")
    parsed = parse_listing(body, path="/d/", content_type=ct)
    assert parsed is not None and parsed.family == "python"
    assert parsed.entries == [ListedItem("a.txt")]
    # without the charset the UTF-16 bytes are no page
    assert parse_listing(body, path="/d/") is None


def test_charset_ascii_replaces_what_is_not_ascii() -> None:
    # the href holds the UTF-8 bytes of 'é' raw (not %-encoded): ASCII makes each byte U+FFFD
    body = PY_PAGE.format(href="\u00e9.txt", text="e.txt").encode("utf-8")
    parsed = parse_listing(body, path="/d/", content_type="text/html; charset=us-ascii")
    assert parsed is not None and parsed.entries == [ListedItem("\ufffd\ufffd.txt")]
    plain = parse_listing(body, path="/d/", content_type="text/html")
    assert plain is not None and plain.entries == [ListedItem("\u00e9.txt")]


# -- families and their look-alikes ------------------------------------------------------------

TOMCAT_ROWS = (
    '<table><tr><td><a href="a.txt"><tt>a.txt</tt></a></td><td><tt>1.2 kb</tt></td>'
    "<td><tt>Mon, 01 Jan 2024 10:00:00 GMT</tt></td></tr></table>"
)


@pytest.mark.parametrize(
    "head",
    [
        "<title>Directory Listing For [/d/]</title>",  # the title alone
        "<h1>Directory Listing For [/d/]</h1>",  # the heading alone
    ],
)
def test_tomcat_by_title_or_heading(head: str) -> None:
    parsed = parse_listing(f"<html>{head}{TOMCAT_ROWS}</html>".encode(), path="/d/")
    assert parsed is not None and parsed.family == "tomcat"
    assert parsed.entries == [ListedItem("a.txt", 1228, "2024-01-01T10:00:00", False)]


def test_python_needs_title_and_heading() -> None:
    page = PY_PAGE.format(href="a.txt", text="a.txt").replace("<h1>Directory listing for", "<h1>x")
    parsed = parse_listing(page.encode(), path="/d/")
    assert parsed is None or parsed.family != "python"


def test_lighttpd_needs_its_summary() -> None:
    rows = '<tr><td><a href="a.txt">a.txt</a></td><td>2024-Jan-01 10:00:00</td><td>5</td></tr>'
    for summary, family in (("Directory Listing", "lighttpd"), ("Files", None)):
        page = f'<table summary="{summary}">{rows}</table>'
        parsed = parse_listing(page.encode(), path="/d/")
        assert (parsed.family if parsed and not parsed.structural else None) == family


IIS_ROWS = (
    '<pre><A HREF="/">[To Parent Directory]</A><br><br>'
    '  1/2/2024 10:00 AM        &lt;dir&gt; <A HREF="/d/sub">sub</A><br>'
    '  1/3/2024 11:00 AM          123 <A HREF="/d/a.txt">a.txt</A><br></pre>'
)
IIS_ENTRIES = [
    ListedItem("sub", None, "2024-01-02T10:00:00", True),  # a directory by its <dir> alone
    ListedItem("a.txt", 123, "2024-01-03T11:00:00", False),
]


def test_iis_by_its_parent_link_text() -> None:
    # the title is not IIS's 'host - /path': only the '[To Parent Directory]' text says IIS
    parsed = parse_listing(f"<title>files</title>{IIS_ROWS}".encode(), path="/d/")
    assert parsed is not None and parsed.family == "iis"
    assert parsed.entries == IIS_ENTRIES


def nginx(rows: list[str], extra: str = "", title: str = "/d/") -> bytes:
    return (
        f"<title>Index of {title}</title><h1>Index of {title}</h1><hr>"
        f'<pre><a href="../">../</a>\n' + "\n".join(rows) + f"\n</pre><hr>{extra}"
    ).encode()


ROWS = [f'<a href="f{i}.txt">f{i}.txt</a>   01-Jan-2024 10:00   {i + 1}' for i in range(9)]
ENTRIES = [ListedItem(f"f{i}.txt", i + 1, "2024-01-01T10:00:00") for i in range(9)]


def test_nginx_with_a_br_is_still_nginx() -> None:
    parsed = parse_listing(nginx(ROWS, extra="<br>"), path="/d/")
    assert parsed is not None and parsed.family == "nginx" and parsed.entries == ENTRIES


def test_nginx_with_nine_children_in_ten_links() -> None:
    # dominance 9 / 10 = 0.9 exactly: still a listing (below 0.9 it is not)
    parsed = parse_listing(nginx([*ROWS, '<a href="/other/x">x</a>']), path="/d/")
    assert parsed is not None and parsed.family == "nginx" and parsed.entries == ENTRIES


@pytest.mark.parametrize("extra", ['<form action="/s"></form>', '<input name="q">'])
def test_a_form_or_an_input_is_no_family_listing(extra: str) -> None:
    parsed = parse_listing(nginx(ROWS, extra=extra), path="/d/")
    assert parsed is None or parsed.family == "generic"


def test_index_of_with_pre_and_a_list_is_no_apache_list() -> None:
    # title and h1 'Index of', a <pre> and a <ul>, but no '../' first: neither nginx nor Apache's
    page = (
        "<title>Index of /d/</title><h1>Index of /d/</h1><pre>x</pre>"
        '<ul><li><a href="a.txt">a.txt</a></li><li><a href="b.txt">b.txt</a></li></ul>'
    )
    parsed = parse_listing(page.encode(), path="/d/")
    assert parsed is None or parsed.family == "generic"


CADDY_ROWS = (
    '<table><tr><td><a href="a.txt">a.txt</a></td><td data-size="12">12 B</td>'
    "<td>3 days ago</td></tr></table>"
)


def test_caddy_by_its_server_name() -> None:
    # data-size cells and no <time datetime>: Caddy only when the server says so (any case)
    parsed = parse_listing(CADDY_ROWS.encode(), path="/d/", server="Caddy")
    assert parsed is not None and parsed.family == "caddy"
    assert parsed.entries == [ListedItem("a.txt", 12, None, False)]
    other = parse_listing(CADDY_ROWS.encode(), path="/d/", server="nginx")
    assert other is None or other.family != "caddy"


def test_caddy_dates_from_datetime_and_sizes_from_text() -> None:
    # the visible date is no date; the <time datetime> is. The second row has no data-size:
    # its size is read from its text
    page = (
        '<table><tr><td><a href="a.txt">a.txt</a></td><td data-size="12">12 B</td>'
        '<td><time datetime="2024-05-06T07:08:09Z">3 days ago</time></td></tr>'
        '<tr><td><a href="b.txt">b.txt</a></td><td>34</td>'
        '<td><time datetime="2024-05-07T07:08:09Z">2 days ago</time></td></tr></table>'
    )
    parsed = parse_listing(page.encode(), path="/d/")
    assert parsed is not None and parsed.family == "caddy"
    assert parsed.entries == [
        ListedItem("a.txt", 12, "2024-05-06T07:08:09", False),
        ListedItem("b.txt", 34, "2024-05-07T07:08:09", False),
    ]


# -- bounds and truncation ---------------------------------------------------------------------


def test_the_first_character_of_the_page_counts() -> None:
    parsed = parse_listing(nginx(ROWS), path="/d/")
    assert nginx(ROWS).startswith(b"<title>")
    assert parsed is not None and parsed.family == "nginx"


@pytest.mark.parametrize("offset", [32766, 32767, 32768, 32769])
def test_names_across_the_32768_character_chunks(offset: int) -> None:
    # the comment pads the page so that the name 'abcdefgh.txt' crosses a chunk boundary
    name = "abcdefgh.txt"
    head = nginx([]).decode().split("\n</pre>")[0] + "\n"
    row = f'<a href="{name}">{name}</a>   01-Jan-2024 10:00   5'
    pad = offset - len(head) - len(f'<a href="{name}">') - 4 - len("<!---->")
    page = head + "<!--" + "x" * pad + "-->" + row + "\n</pre><hr>"
    assert offset - 4 <= page.index(f">{name}<") + 1 <= offset
    parsed = parse_listing(page.encode(), path="/d/")
    assert parsed is not None and parsed.entries == [ListedItem(name, 5, "2024-01-01T10:00:00")]


@pytest.mark.parametrize(("links", "cut"), [(65, False), (66, True)])
def test_family_cut_after_max_entries_plus_64_links(links: int, cut: bool) -> None:
    # max_entries 1: up to 65 links ('../' and 64 children) are all read; one more cuts
    rows = [f'<a href="f{i}">f{i}</a>   01-Jan-2024 10:00   {i}' for i in range(links - 1)]
    parsed = parse_listing(nginx(rows), path="/d/", max_entries=1)
    assert parsed is not None and parsed.family == "nginx"
    assert parsed.truncated is cut
    assert len(parsed.entries) == (1 if cut else links - 1)


def _generic(n: int) -> str:
    # no family's marks: a list of child links with sizes, the path in a heading
    items = "".join(f'<li><a href="f{i}.txt">f{i}.txt</a> {i + 1} KB</li>' for i in range(n))
    return f'<h2>/d/</h2><a href="../">Up</a><ul>{items}</ul>'


@pytest.mark.parametrize(("n", "truncated"), [(3, False), (4, True)])
def test_structural_listing_at_max_entries(n: int, truncated: bool) -> None:
    parsed = parse_listing(_generic(n).encode(), path="/d/", max_entries=3)
    assert parsed is not None
    assert (parsed.family, parsed.structural, parsed.truncated) == ("generic", True, truncated)
    assert parsed.entries == [ListedItem(f"f{i}.txt", (i + 1) * 1024) for i in range(3)]
    # points: parent 1 + path shown 1 + sizes on every row 1 + little free text 1 + 3 rows 0.5
    assert parsed.points == 4.5
    found = structural_listing(_generic(n), "/d/")
    assert found is not None and parsed.points == found.points


def test_structural_parse_stops_after_max_entries_plus_64_links() -> None:
    # 75 child links fill the first 32768 characters; a password field follows. With
    # max_entries 11 the parse stops after the chunk holding more than 75 links: the field is
    # never seen. With a larger bound it is, and it vetoes the page.
    head = _generic(75)
    page = head + "<!--" + "x" * (32768 - len(head) - 7) + "-->" + '<input type="password">'
    assert len(head) < 32768 - 7 and page.index("<input") == 32768
    parsed = parse_listing(page.encode(), path="/d/", max_entries=11)
    assert parsed is not None and parsed.truncated and len(parsed.entries) == 11
    assert parse_listing(page.encode(), path="/d/", max_entries=12) is None


def test_default_max_entries_is_20000() -> None:
    # 20,065 links ('../' and 20,064 children): more than 20,000 + 64, so the page is cut
    rows = [f'<a href="{i}">{i}</a>' for i in range(20064)]
    parsed = parse_listing(nginx(rows), path="/d/")
    assert parsed is not None and parsed.truncated and len(parsed.entries) == 20000


def test_default_path_is_the_root() -> None:
    parsed = parse_listing(nginx(['<a href="/a.txt">a.txt</a> 01-Jan-2024 10:00 5'], title="/"))
    assert parsed is not None and parsed.entries == [ListedItem("a.txt", 5, "2024-01-01T10:00:00")]


# -- JSON and XML routes -----------------------------------------------------------------------

NGINX_JSON = [{"name": "a", "type": "file", "size": 1, "mtime": "Mon, 01 Jan 2024 10:00:00 GMT"}]


@pytest.mark.parametrize(
    ("body", "ct"),
    [
        (b"  \r\n" + json.dumps(NGINX_JSON).encode(), ""),  # JSON after white space
        (b" " * 63 + json.dumps(NGINX_JSON).encode(), ""),  # '[' is the 64th byte
        (b" " * 70 + json.dumps(NGINX_JSON).encode(), "application/json"),
        (b" " * 70 + json.dumps(NGINX_JSON).encode(), "Application/JSON; charset=utf-8"),
    ],
)
def test_json_recognised(body: bytes, ct: str) -> None:
    parsed = parse_listing(body, content_type=ct)
    assert parsed is not None and parsed.family == "nginx-json"
    assert parsed.entries == [ListedItem("a", 1, "2024-01-01T10:00:00", False)]


def test_json_past_the_first_64_bytes_needs_its_content_type() -> None:
    assert parse_listing(b" " * 64 + json.dumps(NGINX_JSON).encode()) is None


def test_caddy_json_names_keep_their_letters() -> None:
    data = [{"name": "MAX/", "is_dir": True, "url": "./MAX/"}, {"name": "BOX", "is_dir": False,
            "url": "./BOX", "size": 3}]  # fmt: skip
    parsed = parse_listing(json.dumps(data).encode())
    assert parsed is not None and parsed.family == "caddy-json"
    assert parsed.entries == [ListedItem("MAX", None, None, True), ListedItem("BOX", 3)]


@pytest.mark.parametrize(
    "data",
    [
        [{"filename": "a.txt", "bytes": 5}, {"filename": "d", "type": "dir"}],
        {"files": [{"filename": "a.txt", "bytes": 5}, {"filename": "d", "type": "dir"}]},
    ],
)
def test_generic_json_directories(data: object) -> None:
    parsed = parse_listing(json.dumps(data).encode())
    assert parsed is not None and parsed.family == "generic-json"
    assert parsed.entries == [ListedItem("a.txt", 5), ListedItem("d", None, None, True)]


@pytest.mark.parametrize(("at", "listed"), [(507, True), (508, False)])
def test_xml_list_looked_for_in_the_first_512_bytes(at: int, listed: bool) -> None:
    head = b'<?xml version="1.0"?>'
    pad = b"<!--" + b"x" * (at - len(head) - 7) + b"-->"
    body = head + pad + b'<list><file size="3">a</file></list>'
    assert body.index(b"<list") == at
    parsed = parse_listing(body)
    assert (parsed.entries if parsed else None) == ([ListedItem("a", 3)] if listed else None)
