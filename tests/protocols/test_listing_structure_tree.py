"""scanner.protocols.listing_structure's element tree and its bounds, on hand-traced pages: which
elements nest where (implicit and explicit ends, self-closing tags, skipped elements), the title
and heading texts, link and password detection, the token, depth and link bounds at their edges,
and entries whose names cross the 32,768-character chunks.

Every expected tree and value is worked out by hand from the page in the same test.
"""

from __future__ import annotations

from typing import Any

import pytest

from scanner.protocols import listing_structure
from scanner.protocols.listing_structure import _Node, _TreeBuilder, analyse


def build(page: str) -> _TreeBuilder:
    tb = _TreeBuilder()
    tb.feed(page)
    tb.close()
    return tb


def tree(node: _Node) -> list[Any]:
    """Texts as themselves, elements as (tag, [children])."""
    return [x if isinstance(x, str) else (x.tag, tree(x)) for x in node.children]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        # a self-closing element opens nothing: the text after it is its sibling
        ("<div/>x", [("div", []), "x"]),
        ("<p><div/>x</p>", [("p", [("div", []), "x"])]),
        ("<div><br/>x</div>", [("div", [("br", []), "x"])]),
        # a self-closing element inside a skipped one closes nothing outside it
        ("<div><svg><p/></svg>x</div>", [("div", ["x"])]),
        ("<svg/><p>x</p>", [("p", ["x"])]),
        # skipped elements nest: the text is skipped until the outer one ends
        ("<svg><svg></svg>x</svg>y<p>z</p>", ["y", ("p", ["z"])]),
        # an end tag closes the nearest open element of its name, and what it holds
        ("<div><span>x</div>y", [("div", [("span", ["x"])]), "y"]),
        # implicit ends: a new <li> closes the open one
        ("<ul><li>a<li>b</ul>", [("ul", [("li", ["a"]), ("li", ["b"])])]),
    ],
)
def test_tree_rows(page: str, expected: list[Any]) -> None:
    assert tree(build(page).root) == expected


def _depth_of_text(tb: _TreeBuilder, text: str) -> int:
    todo: list[tuple[_Node, int]] = [(tb.root, 0)]
    while todo:
        node, depth = todo.pop()
        for x in node.children:
            if x == text:
                return depth
            if isinstance(x, _Node):
                todo.append((x, depth + 1))
    raise AssertionError(text)


def test_implicit_end_looks_15_elements_up() -> None:
    # <ul><li> then 14 <span>: the open <li> is 15th from the top and the new <li> closes it
    # (the new li is the ul's child: 'b' at depth 2); with 15 <span> it is 16th: not seen,
    # the new li nests inside the last span ('b' at depth 2 + 15 + 1)
    for spans, depth in ((14, 2), (15, 18)):
        tb = build("<ul><li>a" + "<span>" * spans + "<li>b")
        assert _depth_of_text(tb, "b") == depth


def test_end_tag_looks_63_elements_up() -> None:
    # <div> then 62 <span>: </div> finds the div (63rd from the top); with 63 it does not,
    # and 'x' stays in the innermost span
    for spans, depth in ((62, 0), (63, 64)):
        tb = build("<div>" + "<span>" * spans + "</div>x")
        assert _depth_of_text(tb, "x") == depth


def test_depth_bound() -> None:
    tb = build("<div>" * 300 + "x")
    assert len(tb.stack) == listing_structure.MAX_DEPTH == 256
    assert _depth_of_text(tb, "x") == 255  # the root, then 255 divs open


def test_title_pieces_and_their_bound() -> None:
    tb = build("<title>a</title><p>b</p><title>" + "t" * 600 + "</title>")
    assert tb.title == "a" + "t" * 500
    assert tree(tb.root) == [("p", ["b"])]


def test_heading_texts() -> None:
    # the pieces of a heading joined, white space made single; an inner end tag does not end it
    tb = build("<h1>Index  <b>of</b>\n /d/</h1><h3>x</h3>")
    assert tb.headings == ["Index of /d/", "x"]


def test_heading_keeps_64_pieces() -> None:
    tb = build("<h2>" + "".join(f"{i}<b></b>" for i in range(70)) + "</h2>")
    assert tb.headings == ["".join(str(i) for i in range(64))]


def test_links_and_attributes() -> None:
    # only <a href> is a link; a valueless href is ''; the first 32 attributes are read
    many = " ".join(f"d{i}=1" for i in range(32))
    tb = build(f'<area href="a"><link href="b"><a href>x</a><a {many} href="c">c</a>')
    assert [a.attrs for a in tb.anchors] == [{"href": ""}]


@pytest.mark.parametrize(
    ("page", "password"),
    [
        ('<input type="text"><p type="password"></p><input>', False),
        ('<input type="PassWord">', True),
    ],
)
def test_password_field(page: str, password: bool) -> None:
    assert build(page).password is password


@pytest.mark.parametrize(("limit", "kept"), [(4, True), (3, False)])
def test_token_bound_counts_every_token(
    monkeypatch: pytest.MonkeyPatch, limit: int, kept: bool
) -> None:
    # '<p>', 'x', '</p>', 'y': four tokens; 'y' is kept only if the fourth counts
    monkeypatch.setattr(listing_structure, "MAX_TOKENS", limit)
    tb = build("<p>x</p>y")
    assert tb.tokens == 4
    assert tree(tb.root) == ([("p", ["x"]), "y"] if kept else [("p", ["x"])])


# three links, 9 tokens, then a comment (no token) that crosses the first chunk's end
LINKS = '<a href="f1">f1</a><a href="f2">f2</a><a href="f3">f3</a>'
PADDED = LINKS + "<!--" + "x" * 40_000 + "-->"


@pytest.mark.parametrize(("limit", "truncated"), [(9, False), (8, True)])
def test_analyse_stops_past_the_token_bound(
    monkeypatch: pytest.MonkeyPatch, limit: int, truncated: bool
) -> None:
    monkeypatch.setattr(listing_structure, "MAX_TOKENS", limit)
    res = analyse(PADDED, "/")
    assert res is not None and res.truncated is truncated


@pytest.mark.parametrize(("max_links", "truncated"), [(3, False), (2, True)])
def test_analyse_stops_past_max_links(max_links: int, truncated: bool) -> None:
    res = analyse(PADDED, "/", max_links=max_links)
    assert res is not None and res.truncated is truncated
    assert [e[0] for e in res.entries] == ["f1", "f2", "f3"]


@pytest.mark.parametrize("before", [0, 1, 5, 11, 12])
def test_names_across_the_32768_character_chunks(before: int) -> None:
    # a list of three entries with sizes; the comment pads the page so that the second link's
    # href holds 'before' characters of its name before the chunk boundary (12: all of it)
    name = "abcdefgh.txt"
    head = '<h1>/d/</h1><ul><li><a href="one.txt">one.txt</a> 1 KB</li>'
    link = '<li><a href="'
    pad = 32768 - before - len(head) - len(link) - len("<!---->")
    page = (
        head + "<!--" + "x" * pad + "-->" + link + f'{name}">{name}</a> 2 KB</li>'
        '<li><a href="three.txt">three.txt</a> 3 KB</li></ul>'
    )
    assert page.index(f'"{name}"') + 1 == 32768 - before
    res = analyse(page, "/d/")
    assert res is not None
    assert res.entries == [
        ("one.txt", False, 1024, None),
        (name, False, 2048, None),
        ("three.txt", False, 3072, None),
    ]
