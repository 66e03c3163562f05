"""The structural listing detector (scanner.protocols.listing_structure): which links are
entries, layouts no family parser knows, JSON listings, and robustness on any input."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.protocols.listing import parse_listing
from scanner.protocols.listing_structure import (
    analyse,
    classify_link,
    json_listing,
    structural_listing,
)


@pytest.mark.parametrize(
    ("href", "kind", "name", "is_dir"),
    [
        ("report.pdf", "child", "report.pdf", False),
        ("sub/", "child", "sub", True),
        ("./sub/", "child", "sub", True),
        ("/a/b/x.txt", "child", "x.txt", False),
        ("/a/b/my%20dir/", "child", "my dir", True),
        ("r%C3%A9sum%C3%A9.pdf", "child", "résumé.pdf", False),
        ("../", "parent", "", False),
        ("..", "parent", "", False),
        ("/a/", "parent", "", False),
        ("/", "ancestor", "", False),
        ("./", "ignore", "", False),
        ("", "ignore", "", False),
        ("?C=N;O=D", "ignore", "", False),
        ("#top", "ignore", "", False),
        ("x.txt?view", "ignore", "", False),
        ("javascript:void(0)", "ignore", "", False),
        # not children: these must never become entries
        ("%2e%2e/", "other", "", False),
        ("%2E%2E/secret", "other", "", False),
        ("a%2Fb", "other", "", False),
        ("sub/deeper.txt", "other", "", False),
        ("sub/deeper/", "other", "", False),
        ("/elsewhere/x.txt", "other", "", False),
        ("/a/c/x.txt", "other", "", False),
        ("http://example.org/a/b/x.txt", "other", "", False),
        ("//example.org/a/b/x.txt", "other", "", False),
        ("..\\x.txt", "other", "", False),
    ],
)
def test_classify_link(href: str, kind: str, name: str, is_dir: bool) -> None:
    link = classify_link("/a/b/", href)
    assert link.kind == kind
    if kind == "child":
        assert (link.name, link.is_dir) == (name, is_dir)


def test_non_children_are_never_entries() -> None:
    rows = "".join(
        f'<a href="{h}">{t}</a>   14-Mar-2019 10:15   {s}\n'
        for h, t, s in [
            ("x.txt", "x.txt", 7),
            ("y.bin", "y.bin", 9),
            ("sub/", "sub/", "-"),
            ("%2e%2e/", "..", "-"),
            ("a%2Fb", "a/b", 3),
            ("sub/deep.txt", "deep.txt", 4),
            *[(f"f{i}.dat", f"f{i}.dat", 10 + i) for i in range(6)],
        ]
    )
    page = f"<pre>\n<a href='../'>../</a>\n{rows}</pre>".encode()
    got = parse_listing(page, path="/d/")
    assert got is not None and got.family == "generic"
    assert [(e.name, e.is_dir, e.size) for e in got.entries] == [
        ("x.txt", False, 7),
        ("y.bin", False, 9),
        ("sub", True, None),
        *[(f"f{i}.dat", False, 10 + i) for i in range(6)],
    ]


# -- layouts of no known family ----------------------------------------------------------------

_name = (
    st.text(
        alphabet=st.characters(
            whitelist_categories=("Lu", "Ll", "Nd"),
            whitelist_characters=" _-.&()'",
            max_codepoint=0x2FF,
        ),
        min_size=1,
        max_size=24,
    )
    .map(str.strip)
    .filter(lambda s: s not in ("", ".", "..") and not s.startswith("."))
)


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    raise AssertionError


def _render(
    layout: str,
    path: str,
    items: list[tuple[str, int, bool]],
    title: bool,
    parent: bool,
    sizes_first: bool,
) -> bytes:
    def href(n: str, d: bool) -> str:
        return quote(n) + ("/" if d else "")

    def size(n: int, d: bool) -> str:
        return "&mdash;" if d else _human(n)

    head = f"<title>{escape(path)}</title>" if title else ""
    up = '<a href="../">Up</a>' if parent else ""
    if layout == "cards":
        cards = "".join(
            f'<div class="card"><div class="meta">{size(s, d)}</div>'
            f'<div class="nm"><a href="{href(n, d)}">{escape(n)}</a></div></div>'
            if sizes_first
            else f'<div class="card"><a href="{href(n, d)}">{escape(n)}</a>'
            f"<small>{size(s, d)}</small></div>"
            for n, s, d in items
        )
        body = f'{up}<div class="grid">{cards}</div>'
    elif layout == "dl":
        body = (
            up
            + "<dl>"
            + "".join(
                f'<dt><a href="{href(n, d)}">{escape(n)}{"/" if d else ""}</a></dt>'
                f"<dd>{size(s, d)}</dd>"
                for n, s, d in items
            )
            + "</dl>"
        )
    elif layout == "br":
        body = (
            up
            + "<br>"
            + "".join(
                (
                    f"{size(s, d)} <a href='{href(n, d)}'>{escape(n)}</a><br>\n"
                    if sizes_first
                    else f"<a href='{href(n, d)}'>{escape(n)}</a> {size(s, d)}<br>\n"
                )
                for n, s, d in items
            )
        )
    else:  # a table with the size in the first column
        body = (
            up
            + "<table>"
            + "".join(
                f"<tr><td>{size(s, d)}</td><td>2019-03-14 10:15</td>"
                f'<td><a href="{href(n, d)}">{escape(n)}</a></td></tr>'
                for n, s, d in items
            )
            + "</table>"
        )
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>".encode()


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(["cards", "dl", "br", "table"]),
    st.lists(
        st.tuples(_name, st.integers(0, 10**9), st.booleans()),
        min_size=3,
        max_size=20,
        unique_by=lambda t: t[0],
    ),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_invented_layouts_are_recognised(
    layout: str, items: list[tuple[str, int, bool]], title: bool, parent: bool, first: bool
) -> None:
    got = parse_listing(_render(layout, "/data/x/", items, title, parent, first), path="/data/x/")
    assert got is not None, layout
    assert [e.name for e in got.entries] == [n for n, _, _ in items]
    for e, (_, s, d) in zip(got.entries, items, strict=True):
        if layout == "dl" or (layout != "cards" and d):
            assert e.is_dir == d
        if not d:
            assert e.size is not None and abs(e.size - s) <= max(2, s // 20)


def test_invented_cards_names_only_no_title() -> None:
    """Grid of cards, names only, size first, no title, no parent link."""
    items = [("a.wav", 1200, False), ("b.wav", 2400, False), ("c.txt", 3, False)]
    page = _render("cards", "/rec/", items, title=False, parent=False, sizes_first=True)
    got = parse_listing(page, path="/rec/")
    assert got is not None and got.family == "generic"
    assert [(e.name, e.size) for e in got.entries] == [
        ("a.wav", 1228),
        ("b.wav", 2355),
        ("c.txt", 3),
    ]


def test_two_entries_with_nothing_else_are_not_enough() -> None:
    page = b'<html><body><a href="a">a</a> <a href="b">b</a></body></html>'
    assert parse_listing(page, path="/") is None
    res = analyse(page.decode(), "/")
    assert res is not None and res.points < 2


def test_index_of_title_with_prose_links_is_no_listing() -> None:
    page = (
        b"<title>Index of /x/</title><h1>Index of /x/</h1><p>Welcome! Read "
        b'<a href="about/">about us</a> and <a href="news/">our news</a> and '
        b'<a href="contact">contact</a>.</p>'
    )
    assert structural_listing(page.decode(), "/x/") is None


def test_password_field_vetoes() -> None:
    page = _render(
        "table", "/x/", [("a", 1, False), ("b", 2, False), ("c", 3, False)], True, True, False
    ).replace(b"</body>", b'<input type="password" name="p"></body>')
    assert parse_listing(page, path="/x/") is None


# -- JSON --------------------------------------------------------------------------------------


def test_json_listings_of_other_shapes() -> None:
    serve = {
        "files": [
            {"base": "..", "type": "directory"},
            {"base": "a b/", "type": "folder", "title": "a b/"},
            {"base": "x.txt", "type": "file", "size": "3 B"},
        ],
        "directory": "/s/",
    }
    assert json_listing(serve) == [("a b", True, None, None), ("x.txt", False, 3, None)]
    flat = [
        {"filename": "r.wav", "size": 12, "modified": "2019-03-14T10:15:00Z"},
        {"filename": "d", "is_dir": True},
    ]
    assert json_listing(flat) == [
        ("r.wav", False, 12, "2019-03-14T10:15:00"),
        ("d", True, None, None),
    ]
    got = parse_listing(json.dumps({"entries": flat}).encode(), content_type="application/json")
    assert got is not None and got.family == "generic-json" and len(got.entries) == 2


def test_json_object_listing_without_json_content_type() -> None:
    body = json.dumps({"files": [{"name": "a.wav", "type": "file", "size": 5}]}).encode()
    got = parse_listing(body, path="/", content_type="text/plain")
    assert got is not None and [(e.name, e.size) for e in got.entries] == [("a.wav", 5)]


@pytest.mark.parametrize(
    "data",
    [
        {"users": [{"name": "a", "role": "x"}]},
        [{"id": 1, "title": "t"}],
        {"a": 1},
        [1, 2],
        "x",
        {"items": [{"name": "shirt", "size": "L", "type": "clothing"}]},
        None,
        [[]],
        {"x": []},
    ],
)
def test_json_non_listings(data: Any) -> None:
    assert not json_listing(data)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: (
        st.lists(c, max_size=6)
        | st.dictionaries(
            st.sampled_from(
                ["name", "base", "type", "size", "mtime", "is_dir", "files", "x", "path"]
            ),
            c,
            max_size=6,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None)
@given(_json)
def test_any_json_never_raises(data: Any) -> None:
    got = json_listing(data)
    assert got is None or all(isinstance(n, str) and n not in ("", ".", "..") for n, *_ in got)
    parse_listing(json.dumps(data).encode(), content_type="application/json")


# -- robustness --------------------------------------------------------------------------------

_tag = st.sampled_from(
    [
        "<a href='x'>",
        "<a href='../'>",
        "<a href='%2e%2e/'>",
        "<a href='a%2Fb'>",
        "<a href=y/>",
        "</a>",
        "<tr>",
        "<td>",
        "</tr>",
        "<li>",
        "<ul>",
        "</ul>",
        "<pre>",
        "</pre>",
        "\n",
        "<br>",
        "<div class=card>",
        "</div>",
        "<title>",
        "</title>",
        "<h1>",
        "</h1>",
        "<script>",
        "</script>",
        "<svg/>",
        "<input type=password>",
        "12 KB",
        "2019-03-14 10:15",
        "name",
        "&amp;",
        "&#0;",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<",
        ">",
        "<p",
        "<a href=",
        "\x00",
        "\ud7ff",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_tag | st.text(max_size=8), max_size=80), st.sampled_from(["/", "/a/", "/a b/"]))
def test_html_soup_never_raises(parts: list[str], path: str) -> None:
    body = "".join(parts).encode("utf-8", "surrogatepass")
    got = parse_listing(body, path=path)
    assert got is None or all(
        e.name not in ("", ".", "..") and "/" not in e.name for e in got.entries
    )


def test_deep_nesting_and_many_links_are_bounded() -> None:
    deep = ("<div>" * 50_000 + "<a href='x'>x</a>" + "</div>" * 50_000).encode()
    assert parse_listing(deep, path="/") is None or True  # must return, not recurse
    many = "<pre>" + "".join(f"<a href='f{i}'>f{i}</a> {i}\n" for i in range(30_000)) + "</pre>"
    got = parse_listing(many.encode(), path="/", max_entries=1000)
    assert got is not None and len(got.entries) == 1000 and got.truncated
