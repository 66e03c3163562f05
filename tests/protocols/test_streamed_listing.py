"""Listing pages parsed as they stream (issue 20): ``scanner.protocols.listing_stream``.

The rule under test: whatever pieces a page arrives in, ``ListingStream`` answers what
``parse_listing`` answers for the whole page (family, entries, ``truncated``, structural
points), and says ``done`` (stop reading) only once the rest of the page cannot change that
answer: a listing cut at its entry bound. Pages are built per family (nginx, Apache fancy table
and plain list, lighttpd, python http.server, a structural-only table) large enough to span
several of the parsers' 32,768-character blocks, in UTF-8 and other charsets.
"""

from __future__ import annotations

import codecs
import html
import json
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.protocols.listing import ParsedListing, parse_listing
from scanner.protocols.listing_stream import (
    BLOCK,
    STREAM_CHARSETS,
    ListingStream,
    incremental_decoder,
)

Row = tuple[str, bool, int]  # name, is_dir, size


def _href(name: str, is_dir: bool, charset: str = "utf-8") -> str:
    return quote(name, encoding=charset) + ("/" if is_dir else "")


def _nginx(rows: list[Row], path: str = "/") -> str:
    lines = "".join(
        f'<a href="{_href(n, d)}">{html.escape(n)}{"/" if d else ""}</a>'
        f"{' ' * 20}14-Mar-2019 10:15{' ' * 10}{'-' if d else s}\r\n"
        for n, d, s in rows
    )
    return (
        f"<html>\r\n<head><title>Index of {path}</title></head>\r\n<body>\r\n"
        f'<h1>Index of {path}</h1><hr><pre><a href="../">../</a>\r\n{lines}</pre><hr></body>\r\n'
        "</html>\r\n"
    )


def _apache_table(rows: list[Row], path: str = "/") -> str:
    lines = "".join(
        f'<tr><td valign="top">&nbsp;</td><td><a href="{_href(n, d)}">{html.escape(n)}'
        f'{"/" if d else ""}</a></td><td align="right">2019-03-14 10:15  </td>'
        f'<td align="right">{"-" if d else s}</td><td>&nbsp;</td></tr>\n'
        for n, d, s in rows
    )
    return (
        f"<html><head><title>Index of {path}</title></head><body><h1>Index of {path}</h1>"
        '<table><tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified'
        '</a></th><th><a href="?C=S;O=A">Size</a></th></tr>'
        f'<tr><td><a href="../">Parent Directory</a></td></tr>\n{lines}</table></body></html>'
    )


def _apache_ul(rows: list[Row], path: str = "/") -> str:
    lines = "".join(
        f'<li><a href="{_href(n, d)}"> {html.escape(n)}{"/" if d else ""}</a></li>\n'
        for n, d, _ in rows
    )
    return (
        f"<html><head><title>Index of {path}</title></head><body><h1>Index of {path}</h1>"
        f"<ul>{lines}</ul></body></html>"
    )


def _lighttpd(rows: list[Row], path: str = "/") -> str:
    lines = "".join(
        f'<tr><td class="n"><a href="{_href(n, d)}">{html.escape(n)}</a>{"/" if d else ""}'
        f'</td><td class="m">2019-Mar-14 10:15:00</td><td class="s">'
        f'{"- &nbsp;" if d else s}</td><td class="t">{"Directory" if d else "text/plain"}'
        "</td></tr>\n"
        for n, d, s in rows
    )
    return (
        f"<html><head><title>Index of {path}</title></head><body><h2>Index of {path}</h2>"
        '<div class="list"><table summary="Directory Listing"><tbody>'
        f'<tr class="d"><td class="n"><a href="../">..</a>/</td></tr>\n{lines}'
        "</tbody></table></div></body></html>"
    )


def _python(rows: list[Row], path: str = "/") -> str:
    lines = "".join(
        f'<li><a href="{_href(n, d)}">{html.escape(n)}{"/" if d else ""}</a></li>\n'
        for n, d, _ in rows
    )
    return (
        f"<!DOCTYPE HTML><html><head><title>Directory listing for {path}</title></head><body>"
        f"<h1>Directory listing for {path}</h1><hr><ul>\n{lines}</ul><hr></body></html>"
    )


def _structural(rows: list[Row], path: str = "/") -> str:
    """No family's markup: known by its structure alone (family ``generic``)."""
    lines = "".join(
        f'<div class="row"><a href="{_href(n, d)}">{html.escape(n)}{"/" if d else ""}</a>'
        f'<span>{"" if d else f"{s} bytes"}</span><span>2019-03-14 10:15</span></div>\n'
        for n, d, s in rows
    )
    return (
        f"<html><head><title>{path}</title></head><body><h3>Files in {path}</h3>"
        f'<div class="files"><div><a href="../">up</a></div>\n{lines}</div></body></html>'
    )


def _article(rows: list[Row], path: str = "/") -> str:
    """No listing: prose and links elsewhere."""
    paras = "".join(
        f"<p>Paragraph about {html.escape(n)}, with a word or two more to read "
        f'<a href="https://example.org/{i}">there</a>.</p>\n'
        for i, (n, _, _) in enumerate(rows)
    )
    return f"<html><head><title>Blog</title></head><body>{paras}</body></html>"


FAMILIES: dict[str, Callable[[list[Row], str], str]] = {
    "nginx": _nginx,
    "apache-fancy-table": _apache_table,
    "apache-ul": _apache_ul,
    "lighttpd": _lighttpd,
    "python": _python,
    "generic": _structural,
}


def _rows(n: int, stem: str = "f") -> list[Row]:
    return [(f"{stem}{i:06d}.dat" if i % 7 else f"{stem}dir{i:06d}", i % 7 == 0, i * 13)
            for i in range(n)]  # fmt: skip


def _pieces(body: bytes, sizes: list[int]) -> Iterator[bytes]:
    i = 0
    k = 0
    while i < len(body):
        n = sizes[k % len(sizes)] if sizes else len(body)
        yield body[i : i + n]
        i += n
        k += 1


def _stream(
    body: bytes, sizes: list[int], **kw: object
) -> tuple[ParsedListing | None, int, ListingStream]:
    """Feed ``body`` in pieces of ``sizes`` (cycled) until done; (answer, bytes fed, stream)."""
    s = ListingStream(**kw)  # type: ignore[arg-type]
    for piece in _pieces(body, sizes):
        if s.feed(piece):
            break
    return s.close(), s.fed, s


def _whole(body: bytes, **kw: object) -> ParsedListing | None:
    return parse_listing(body, **kw)  # type: ignore[arg-type]


# -- every family: the same answer, and the read stops at the entry bound ------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_big_page_same_answer_and_stops_early(family: str) -> None:
    page = FAMILIES[family](_rows(20_000), "/").encode()
    kw: dict[str, object] = {"path": "/", "content_type": "text/html", "max_entries": 300}
    want = _whole(page, **kw)
    assert want is not None and want.family == family and want.truncated
    assert len(want.entries) == 300
    got, fed, s = _stream(page, [4096], **kw)
    assert got == want
    assert s.done
    # stopped within a few of the parsers' blocks of the bound, far from the page's end
    assert fed < 6 * BLOCK + 4096 < len(page) // 4


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_small_page_same_answer_never_done(family: str) -> None:
    page = FAMILIES[family](_rows(40), "/pub/").encode()
    kw: dict[str, object] = {"path": "/pub/", "content_type": "text/html", "max_entries": 2000}
    got, fed, s = _stream(page, [1], **kw)
    assert got == _whole(page, **kw) and got is not None and got.family == family
    assert not got.truncated and fed == len(page) and not s.done


def test_not_a_listing_is_read_whole_and_answers_none() -> None:
    page = _article(_rows(5000), "/").encode()
    got, fed, s = _stream(page, [65536], path="/", content_type="text/html", max_entries=100)
    assert got is None and _whole(page, path="/", max_entries=100) is None
    assert fed == len(page) and not s.done


def test_structural_page_is_handed_from_its_first_block() -> None:
    """The family tokenizer gives up at its anchor bound; the tree builder then reads the page
    from the start (the blocks kept), as parse_listing's second pass does."""
    page = _structural(_rows(5000), "/").encode()
    got, fed, _ = _stream(page, [777], path="/", max_entries=50)
    want = _whole(page, path="/", max_entries=50)
    assert want is not None and want.structural and want.family == "generic"
    assert got == want and got is not None and got.points == want.points
    assert [e.name for e in got.entries][:3] == ["fdir000000", "f000001.dat", "f000002.dat"]
    assert fed < len(page) // 4


def test_done_waits_for_min_bytes_without_changing_the_answer() -> None:
    page = _nginx(_rows(20_000)).encode()
    early, fed_early, _ = _stream(page, [1000], max_entries=10)
    late, fed_late, _ = _stream(page, [1000], max_entries=10, min_bytes=500_000)
    assert early == late and early is not None and early.truncated
    assert fed_early < 100_000 <= 500_000 <= fed_late < 501_000


def test_truncated_answer_equals_the_page_cut_where_it_stopped() -> None:
    page = _python(_rows(20_000)).encode()
    got, fed, _ = _stream(page, [10_000], max_entries=1000)
    assert got == _whole(page[:fed], max_entries=1000) == _whole(page, max_entries=1000)


# -- charsets ----------------------------------------------------------------------------------


def test_a_character_split_between_pieces_is_decoded_once() -> None:
    rows = [(f"bästa-日本-{i}.txt", False, i) for i in range(30)]
    page = _nginx(rows).encode()
    got, _, _ = _stream(page, [1], content_type="text/html; charset=utf-8")
    assert got is not None and got.entries[0].name == "bästa-日本-0.txt"
    assert got == _whole(page, content_type="text/html; charset=utf-8")


def test_declared_charset_is_used() -> None:
    # names come from the (UTF-8 percent-encoded) links; the link texts are Latin-1 bytes, and a
    # structural listing holds only when the texts read as the names
    page = _structural([(f"år-{i}.txt", False, i) for i in range(40)]).encode("latin-1")
    ct = "text/html; charset=ISO-8859-1"
    got, _, _ = _stream(page, [3], content_type=ct)
    assert got is not None and got.entries[0].name == "år-0.txt"
    assert got == _whole(page, content_type=ct)
    utf8, _, _ = _stream(page, [3], content_type="text/html")
    assert utf8 is None and _whole(page, content_type="text/html") is None


@pytest.mark.parametrize(
    ("content_type", "streamed"),
    [
        ("text/html", True),
        ("text/html; charset=UTF-8", True),
        ("text/html; charset=windows-1252", True),
        ("text/html; charset=x-unknown-7", True),  # unknown: UTF-8, as parse_listing
        ("text/html; charset=hex", True),  # not a text codec: UTF-8, as parse_listing
        ("text/html; charset=utf-7", False),  # not checked incremental: parsed whole
        ("text/html; charset=cp037", False),
    ],
)
def test_which_charsets_stream(content_type: str, streamed: bool) -> None:
    assert (incremental_decoder(content_type) is not None) is streamed
    page = _nginx(_rows(20_000)).encode("utf-8")
    got, fed, s = _stream(page, [8192], content_type=content_type, max_entries=20)
    assert got == _whole(page, content_type=content_type, max_entries=20)
    assert s.done is streamed and (fed < len(page)) is streamed


@settings(max_examples=60, deadline=None)
@given(
    charset=st.sampled_from(sorted(STREAM_CHARSETS)),
    data=st.binary(max_size=600),
    cuts=st.lists(st.integers(0, 600), max_size=12),
)
def test_incremental_decoding_equals_the_whole_decode(
    charset: str, data: bytes, cuts: list[int]
) -> None:
    dec = incremental_decoder(f"text/html; charset={charset}")
    assert dec is not None
    points = sorted({min(c, len(data)) for c in cuts})
    parts = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    text = "".join(dec.decode(p) for p in parts) + dec.decode(b"", True)
    assert text == data.decode(charset, errors="replace")


def test_every_stream_charset_is_a_codec() -> None:
    for name in STREAM_CHARSETS:
        assert codecs.lookup(name).name == name


# -- what is not streamed -----------------------------------------------------------------------


def test_json_listing_is_parsed_whole() -> None:
    data = [{"name": f"f{i}", "type": "file", "mtime": "Thu, 14 Mar 2019 10:15:00 GMT",
             "size": i} for i in range(3000)]  # fmt: skip
    body = json.dumps(data).encode()
    got, fed, s = _stream(body, [100], content_type="application/json", max_entries=10)
    assert got == _whole(body, content_type="application/json", max_entries=10)
    assert got is not None and got.family == "nginx-json" and len(got.entries) == 3000
    assert fed == len(body) and not s.done


def test_xml_listing_is_parsed_whole() -> None:
    rows = "".join(f'<file mtime="2019-03-14T10:15:00Z" size="{i}">f{i}</file>'
                   for i in range(500))  # fmt: skip
    body = f'<?xml version="1.0"?>\n<list>{rows}</list>'.encode()
    got, _, s = _stream(body, [50], max_entries=10)
    assert got == _whole(body, max_entries=10)
    assert got is not None and got.family == "nginx-xml" and not s.done


@pytest.mark.parametrize("body", [b"", b"<", b"   [", b"<html><a href=x>x</a>", b"\xff\xfe"])
def test_short_bodies(body: bytes) -> None:
    got, _, _ = _stream(body, [1])
    assert got == _whole(body)


def test_feed_after_close_is_an_error_and_close_repeats() -> None:
    s = ListingStream()
    s.feed(_python(_rows(3)).encode())
    first = s.close()
    assert first is not None and s.close() == first
    with pytest.raises(ValueError):
        s.feed(b"x")


# -- any chunking of any page: the whole page's answer ----------------------------------------

NAMES = st.text(
    alphabet=st.sampled_from("abcxyz019 .-_åé日&<>\"'#%?"), min_size=1, max_size=14
).filter(lambda n: n.strip(" .") != "")


@st.composite
def pages(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    family = draw(st.sampled_from([*FAMILIES, "article"]))
    make = FAMILIES.get(family, _article)
    n = draw(st.integers(0, 1500))
    names = draw(st.lists(NAMES, min_size=1, max_size=20))
    rows = [(f"{names[i % len(names)]}{i}", i % 5 == 0, i) for i in range(n)]
    path = draw(st.sampled_from(["/", "/pub/", "/a b/"]))
    charset = draw(st.sampled_from(["utf-8", "latin-1", "utf-16", None]))
    text = make(rows, path)
    if charset is None:
        body = text.encode("utf-8", errors="replace")
        ct = draw(st.sampled_from(["text/html", ""]))
    else:
        body = text.encode(charset, errors="replace")
        ct = f"text/html; charset={charset}"
    if draw(st.booleans()):  # damage: drop or flip a byte somewhere
        at = draw(st.integers(0, max(0, len(body) - 1)))
        body = body[:at] + draw(st.sampled_from([b"", b"\xff", b"<", b"\xc3"])) + body[at + 1 :]
    kw: dict[str, object] = {
        "path": path, "content_type": ct, "max_entries": draw(st.integers(0, 1200)),
        "server": draw(st.sampled_from(["nginx", "", "Caddy"])),
    }  # fmt: skip
    return body, kw


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=pages(), sizes=st.lists(st.integers(1, 70_000), min_size=1, max_size=6))
def test_any_chunking_gives_the_whole_page_answer(
    page: tuple[bytes, dict[str, object]], sizes: list[int]
) -> None:
    body, kw = page
    want = _whole(body, **kw)
    got, fed, s = _stream(body, sizes, **kw)
    assert got == want
    if s.done:  # stopped early only on a listing cut at its bound
        assert want is not None and want.truncated
    else:
        assert fed == len(body)


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=3000),
    sizes=st.lists(st.integers(1, 400), min_size=1, max_size=5),
    ct=st.sampled_from(["text/html", "application/json", "text/xml", "text/html; charset=gbk"]),
)
def test_any_bytes_any_chunking(body: bytes, sizes: list[int], ct: str) -> None:
    kw: dict[str, object] = {"content_type": ct, "max_entries": 3}
    got, _, _ = _stream(body, sizes, **kw)
    assert got == _whole(body, **kw)


# -- the edges: block boundaries, bounds, sniffing, the decoder's end -------------------------


def _same(body: bytes, sizes: list[int], **kw: object) -> ParsedListing | None:
    got, _, _ = _stream(body, sizes, **kw)
    want = _whole(body, **kw)
    assert got == want
    return want


def test_defaults_are_parse_listings() -> None:
    import inspect

    ours = inspect.signature(ListingStream).parameters
    for name, p in inspect.signature(parse_listing).parameters.items():
        if name != "body":
            assert ours[name].default == p.default, name


NGINX_HEAD = (
    "<html><head><title>Index of /</title></head><body><h1>Index of /</h1><hr><pre>"
    '<a href="../">../</a>\n'
)


def _row(i: int) -> str:
    return f'<a href="f{i:05d}.dat">f{i:05d}.dat</a>   14-Mar-2019 10:15   {i}\n'


def _aligned(head: str, anchors: list[str], at: int = BLOCK) -> tuple[str, str]:
    """``head``, a comment as padding, then ``anchors`` so that the last one's ``</a>`` ends at
    character ``at``: the parsers' first block holds exactly these anchors. Answers the first
    block and the rest of the last anchor's row."""
    body = "".join(anchors)
    end = body.rindex("</a>") + len("</a>")
    pad = at - len(head) - end - len("<!---->")
    assert pad >= 0
    text = head + "<!--" + "p" * pad + "-->" + body[:end]
    assert len(text) == at
    return text, body[end:]


def _externals(n: int) -> str:
    return "".join(f'<a href="https://example.org/{i}">elsewhere</a>\n' for i in range(n))


@pytest.mark.parametrize(("in_first_block", "family"), [(65, "nginx"), (64, None)])
def test_family_bound_is_checked_after_each_block(
    in_first_block: int, family: str | None
) -> None:
    """max_entries 0: a page is cut once it holds more than 64 anchors after a block. With 65
    in the first block the cut comes there, an nginx page; with 64 the next block's links to
    elsewhere are read too, and the page is no family's (not enough of its links are entries)."""
    rows = [_row(i) for i in range(in_first_block - 1)]  # and the parent link
    first, carry = _aligned(NGINX_HEAD, rows)
    rest = carry + _externals(200) + " " * BLOCK + "".join(map(_row, range(100, 200))) + "</pre>"
    page = (first + rest).encode()
    want = _same(page, [1000], max_entries=0)
    assert (want.family if want else None) == family
    if family:  # one character more before it moves the 65th anchor to the next block
        shifted = _same((" " + first + rest).encode(), [999], max_entries=0)
        assert shifted is not None and shifted.family == "generic"


def test_a_block_whole_in_one_piece_is_parsed_at_once() -> None:
    rows = [_row(i) for i in range(70)]
    page = ("".join(_aligned(NGINX_HEAD, rows)) + "".join(map(_row, range(70, 3000)))).encode()
    s = ListingStream(max_entries=0)
    assert s.feed(page[:BLOCK]) is True  # cut after the first block: no byte more needed
    assert s.close() == _whole(page, max_entries=0)


STRUCT_HEAD = "<html><head><title>Files in /</title></head><body><h3>Files in /</h3><ul>\n"


def _srow(i: int) -> str:
    return f'<li><a href="f{i:05d}.dat">f{i:05d}.dat</a> {i} bytes</li>\n'


@pytest.mark.parametrize(("in_first_block", "listed"), [(65, True), (64, False)])
def test_tree_bound_is_checked_before_each_block(in_first_block: int, listed: bool) -> None:
    """The structural tree builder stops before a block once it holds more than 64 anchors: with
    65 in the first block it never reads the second, whose password field would veto the page;
    with 64 it does."""
    first, carry = _aligned(STRUCT_HEAD, [_srow(i) for i in range(in_first_block)])
    rest = (carry + '<form><input type="password" name="p"></form>' + " " * BLOCK
            + "".join(_srow(i) for i in range(100, 200)) + "</ul></body></html>")  # fmt: skip
    page = (first + rest).encode()
    want = _same(page, [4096], max_entries=0)
    assert (want is not None) is listed
    if want is not None:
        assert want.family == "generic" and want.truncated


def test_tree_cut_marks_the_listing_truncated_even_with_few_entries() -> None:
    """Each entry linked twice (an icon and its name): the tree builder stops on the anchor
    bound with fewer entries than max_entries; the listing is still cut short."""
    pad = "x" * 600
    rows = "".join(
        f'<tr><td class="{pad}"><a href="f{i:03d}.dat"><img src="/i.png"></a></td>'
        f'<td><a href="f{i:03d}.dat">f{i:03d}.dat</a></td><td>{i} bytes</td></tr>\n'
        for i in range(90)
    )
    page = (f"<html><head><title>Files in /</title></head><body><table>{rows}</table>"
            f"<div>{' ' * (2 * BLOCK)}</div></body></html>").encode()  # fmt: skip
    want = _same(page, [5000], max_entries=100)
    assert want is not None and want.family == "generic"
    assert len(want.entries) == 90 and want.truncated


def test_links_only_the_family_tokenizer_counts_hand_the_rest_to_the_tree() -> None:
    """Links inside <noscript> count for the family tokenizer (it gives up at its bound) but not
    for the tree builder, which then reads on, block after block, to the listing below."""
    noscript = "<noscript>" + _externals(300) + "</noscript>"
    rows = "".join(_srow(i) for i in range(30))
    page = (f"<html><head><title>Files in /</title></head><body>{noscript}"
            f"<div>{' ' * (2 * BLOCK)}</div><ul>{rows}</ul></body></html>").encode()  # fmt: skip
    want = _same(page, [3000], max_entries=100)
    assert want is not None and want.family == "generic" and len(want.entries) == 30


def test_server_is_passed_on() -> None:
    """Caddy's markup without its <time> elements is caddy's only when the server says so."""
    rows = "".join(f'<tr><td><a href="f{i}.txt">f{i}.txt</a></td><td data-size="{i * 10}">'
                   f"{i * 10} B</td></tr>" for i in range(5))  # fmt: skip
    page = f"<html><head><title>/pub/</title></head><body><table>{rows}</table></body></html>"
    for ct in ("text/html", "text/html; charset=utf-7"):  # streamed, and parsed whole
        caddy = _same(page.encode(), [7], path="/pub/", server="Caddy", content_type=ct)
        assert caddy is not None and caddy.family == "caddy"
        other = _same(page.encode(), [7], path="/pub/", server="nginx", content_type=ct)
        assert other is not None and other.family == "generic"


def test_the_decoders_end_counts() -> None:
    """The page's last bytes: a title ending the page names the path (a point of evidence),
    unless an incomplete character ends it (decoded as U+FFFD, as the whole-body decode does)."""
    rows = "".join(f'<li><a href="f{i}.txt">f{i}.txt</a></li>' for i in range(5))
    page = f"<html><body><ul>{rows}</ul><title>Files in /".encode()
    clean = _same(page, [10])
    assert clean is not None and clean.points == 2.5
    assert _same(page + b"\xc3", [10]) is None  # 'Files in /\ufffd' names no path


@pytest.mark.parametrize(
    ("body", "ct", "family"),
    [
        (b" " * 100 + b'[{"name": "a", "type": "file", "mtime": "x", "size": 1}]',
         "Application/JSON", "nginx-json"),
        (b'  \n [{"name": "a", "type": "file", "mtime": "x", "size": 1}]', "", "nginx-json"),
        (b'[{"name": "a", "type": "file", "mtime": "x", "size": 1}]', "text/plain", "nginx-json"),
        (b'{"items": [{"name": "a", "type": "file", "size": 1}]}', "", "generic-json"),
        (b'<list><file mtime="2019-03-14T10:15:00Z" size="1">a</file></list>', "Text/XML",
         "nginx-xml"),
    ],
)  # fmt: skip
def test_json_and_xml_are_told_as_parse_listing_tells_them(
    body: bytes, ct: str, family: str
) -> None:
    want = _same(body, [1], content_type=ct)
    assert want is not None and want.family == family


def test_feed_after_close_names_the_mistake() -> None:
    s = ListingStream()
    s.close()
    with pytest.raises(ValueError, match=r"^feed after close$"):
        s.feed(b"")


def test_default_entry_bound_is_parse_listings() -> None:
    """Without max_entries a page is cut after the block where it passes 20,064 anchors, as
    parse_listing cuts it: here exactly 20,065 end with the 31st block, and the next one would
    turn the page into no family's."""
    rows = [_row(i) for i in range(20_064)]  # and the parent link
    at = BLOCK * (len(NGINX_HEAD + "".join(rows)) // BLOCK + 1)
    first, carry = _aligned(NGINX_HEAD, rows, at)
    page = (first + carry + _externals(30_000)).encode()
    want = _same(page, [65536])
    assert want is not None and want.family == "nginx" and len(want.entries) == 20_000


def test_token_bound_is_checked_before_each_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tree builder stops before a block once it has read more than MAX_TOKENS tokens (the
    listing is then cut), as listing_structure.analyse does: with exactly MAX_TOKENS after the
    first block it goes on (the tokens beyond are not looked at) and the page ends uncut."""
    from scanner.protocols import listing_stream, listing_structure

    first, carry = _aligned(STRUCT_HEAD, [_srow(i) for i in range(50)])
    page = (first + carry + "<p>the end</p></ul>").encode()
    tb = listing_structure._TreeBuilder()
    tb.feed(first)
    for module in (listing_stream, listing_structure):
        monkeypatch.setattr(module, "MAX_TOKENS", tb.tokens)
    want = _same(page, [4096], max_entries=1000)
    assert want is not None and want.family == "generic" and not want.truncated
    monkeypatch.setattr(listing_stream, "MAX_TOKENS", tb.tokens - 1)  # one fewer: it stops
    got, _, _ = _stream(page, [4096], max_entries=1000)
    assert got is not None and got.family == "generic" and got.truncated
