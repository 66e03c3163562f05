"""scanner.protocols.listing_structure on hand-written pages and rows: the evidence arithmetic,
link classification at several bases, link texts, attribute metadata and JSON shapes."""

from __future__ import annotations

from typing import Any

import pytest

from scanner.protocols.listing_structure import (
    MIN_POINTS,
    Evidence,
    _attr_date,
    _attr_size,
    _j_members,
    _name_shown,
    _path_shown,
    _segments,
    analyse,
    classify_link,
    json_listing,
    structural_listing,
)

# -- the evidence arithmetic -------------------------------------------------------------------


def ev(**kw: Any) -> Evidence:
    base: dict[str, Any] = {"children": 4, "named": 4, "row_words": [0, 0, 0, 0]}
    base.update(kw)
    return Evidence(**base)


@pytest.mark.parametrize(
    ("kw", "points"),
    [
        # 4 rows, no free words: free text (1) + three or more rows (0.5)
        ({}, 1.5),
        ({"parent": True}, 2.5),
        ({"path_shown": True}, 2.5),
        ({"dir_marked": True}, 2.0),
        ({"with_meta": 2}, 2.5),  # half the rows with metadata is enough
        ({"with_meta": 1}, 1.5),
        ({"free_words": 38}, 1.5),  # 30 + 2 * 4 = 38: still little
        ({"free_words": 39}, 0.5),
        ({"row_words": [0, 0]}, 1.0),  # two rows: not "three or more"
        ({"row_words": [0, 0, 0]}, 1.5),
        ({"row_words": [], "free_words": 30}, 1.0),  # no rows: metadata can not count
        ({"row_words": [], "free_words": 31, "with_meta": 0}, 0.0),
        ({"parent": True, "path_shown": True, "with_meta": 4, "dir_marked": True}, 5.0),
    ],
)
def test_points_rows(kw: dict[str, Any], points: float) -> None:
    assert ev(**kw).points() == points


@pytest.mark.parametrize(
    ("kw", "veto"),
    [
        ({}, None),
        ({"row_words": []}, "no child links"),
        ({"password": True}, "password field"),
        # children must be at least 70% of the links
        ({"children": 7, "others": 3}, None),
        ({"children": 6, "others": 3}, "most links are not children"),
        ({"children": 0, "others": 1}, "most links are not children"),
        # ... unless the one other link goes to another host (a server's signature)
        ({"children": 1, "others": 1, "offsite": 1}, None),
        ({"children": 1, "others": 2, "offsite": 2}, "most links are not children"),
        ({"children": 1, "others": 1, "offsite": 0}, "most links are not children"),
        # 70% of the rows must show their names
        ({"named": 2, "row_words": [0] * 4}, "link texts are not the names"),
        ({"named": 3, "row_words": [0] * 4}, None),  # 3 >= 2.8
        ({"named": 7, "row_words": [0] * 10}, None),
        ({"named": 6, "row_words": [0] * 10}, "link texts are not the names"),
        # entries sharing lines: more than half vetoes
        ({"shared": 2}, None),
        ({"shared": 3}, "several entries per line"),
        # the median row's words
        ({"row_words": [0, 16, 16, 0]}, "prose in the rows"),  # sorted: 0 0 16 16 -> 16
        ({"row_words": [0, 15, 15, 0]}, None),
        ({"row_words": [16, 16, 0, 0, 0], "named": 5}, None),  # median 0
        # free words: 150 + 10 per row
        ({"free_words": 190}, None),
        ({"free_words": 191}, "prose outside the rows"),
    ],
)
def test_veto_rows(kw: dict[str, Any], veto: str | None) -> None:
    assert ev(**kw).vetoed() == veto


def test_min_points() -> None:
    assert MIN_POINTS == 2.0


# -- links -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "href", "kind", "name", "is_dir"),
    [
        ("/", "a", "child", "a", False),
        ("/", "a/", "child", "a", True),
        ("/", "/a", "child", "a", False),
        ("/", "/a/", "child", "a", True),
        ("/", "../", "parent", "", False),
        ("/", "/", "ignore", "", False),
        ("/", ".", "ignore", "", False),
        ("/", "/a/b", "other", "", False),
        ("/", "a%2fb", "other", "", False),
        ("/", "a\\b", "other", "", False),
        ("/", "%2e%2e", "other", "", False),
        ("/", ".%2e/", "other", "", False),
        ("/", "C:x", "other", "", False),
        ("/", "MAILTO:x@y", "ignore", "", False),
        ("/", "  a  ", "child", "a", False),
        ("/", "http://[::1/", "other", "", False),
        ("/", "ftp://h/a", "other", "", False),
        ("/x/", "./..", "parent", "", False),
        ("/x/", "/x/a?x=1", "ignore", "", False),
        ("/x/", "/x/", "ignore", "", False),
        ("/x/", "/", "parent", "", False),
        ("/x/y/", "/", "ancestor", "", False),
        ("/x/y/", "/x/", "parent", "", False),
        ("/x/y/", "/x/y/a/", "child", "a", True),
        ("/x/y/", "/x/z/a", "other", "", False),
        ("/x/y/", "../y/a", "child", "a", False),
        ("/x/y/", "../../x/y/b/", "child", "b", True),
        # '..' above the root stops at the root (RFC 3986); urljoin alone loses the leading '/'
        ("/x/y/", "../../../../x/y/c", "child", "c", False),
        ("/x/", "../../../q/x/a", "other", "", False),
        ("/x/y/", "../../../q/x/y/a", "other", "", False),
        ("/x/", "../../a", "other", "", False),
        ("/x/", "../../x/a", "child", "a", False),
        ("/", "../../a", "child", "a", False),
        ("/my dir/", "/my%20dir/f.txt", "child", "f.txt", False),
        ("/my dir/", "/my dir/f.txt", "child", "f.txt", False),
        ("/my dir/", "f%20g.txt", "child", "f g.txt", False),
        ("/my dir/", "f g.txt", "child", "f g.txt", False),
        ("/x/", "a/./", "child", "a", True),
        ("/x/", "/x/./a", "child", "a", False),
        ("/x/", "..%2f", "other", "", False),
        ("/x/", "a/b/../c", "other", "", False),
        ("/x/", ".hidden", "child", ".hidden", False),
        ("/x/", "..hidden", "child", "..hidden", False),
        ("/x/", "#", "ignore", "", False),
        ("/x/", "?C=M", "ignore", "", False),
        ("/x/", "tel:123", "ignore", "", False),
        ("/x/", "data:text/plain,x", "ignore", "", False),
    ],
)
def test_classify_link_rows(base: str, href: str, kind: str, name: str, is_dir: bool) -> None:
    link = classify_link(base, href)
    assert (link.kind, link.name, link.is_dir) == (kind, name, is_dir)


def test_offsite_flag() -> None:
    assert classify_link("/", "http://h/a").offsite is True
    assert classify_link("/", "//h/a").offsite is True
    assert classify_link("/", "/b/c").offsite is False
    assert classify_link("/", "a").offsite is False


@pytest.mark.parametrize(
    ("path", "segs"),
    [
        ("/a/b", ["a", "b"]),
        ("/a/b/", ["a", "b", ""]),
        ("/a%20b/", ["a b", ""]),
        ("/..", [".."]),  # a literal dot segment is the caller's business
        ("/%2e%2e/x", None),
        ("/%2E/x", None),
        ("/a%2Fb", None),
        ("/", [""]),
    ],
)
def test_segments_rows(path: str, segs: list[str] | None) -> None:
    assert _segments(path) == segs


# -- link texts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "display", "title", "shown"),
    [
        ("report.pdf", "report.pdf", "", True),
        ("sub", "sub/", "", True),
        ("sub", " sub ", "", True),
        ("x.txt", "download", "x.txt", True),
        ("x.txt", "download", " x.txt/ ", True),
        ("x.txt", "", "", False),
        ("x.txt", "   ", "", False),
        ("a-very-long-name.txt", "a-very-l..>", "", True),  # cut at 8 characters
        ("a-very-long-name.txt", "a-very-lo...", "", True),
        ("a-very-long-name.txt", "a-very-lo\u2026", "", True),
        ("a-very-long-name.txt", "a-very-lo..", "", True),
        ("a-very-long-name.txt", "a-very-lo~", "", True),
        ("a-very-long-name.txt", "a-very-..>", "", False),  # 7 characters: too short to tell
        ("a-very-long-name.txt", "b-very-lo..>", "", False),
        ("x.txt", "x.txt 12 KB", "", True),
        ("x.txt", "x.txt 2019-03-14 10:15 12 KB", "", True),
        ("x.txt", "[DIR] x.txt (3)", "", True),
        ("x.txt", "x.txt <dir>", "", True),
        ("x.txt", "read x.txt now", "", False),
        ("x.txt", "x.txt ab", "", False),
        ("x.txt", "x.txt a", "", True),  # one letter is no word
        ("caf\u00e9", "cafe\u0301", "", True),  # NFC on both sides
        ("readme", "README", "", False),
    ],
)
def test_name_shown_rows(name: str, display: str, title: str, shown: bool) -> None:
    assert _name_shown(name, display, title) is shown


@pytest.mark.parametrize(
    ("base", "title", "headings", "shown"),
    [
        ("/", "Index of /", [], True),
        ("/", "/", [], True),
        ("/", "ftp:/", [], True),
        ("/", "Index", ["Files in /"], True),
        ("/", "Index", [], False),
        ("/", "/x", [], False),
        ("/a/b/", "Index of /a/b", [], True),
        ("/a/b/", "Index of  /a/b/ ", [], True),
        ("/a/b/", "b/ contents", [], True),
        ("/a/b/", "Folder b", [], True),
        ("/a/b/", "Folder bb", [], False),
        ("/a/b/", "nothing", ["", "also nothing", "/a/b"], True),
        ("/a/b/", "nothing", ["h"] * 8 + ["/a/b"], False),  # only the first 8 headings
    ],
)
def test_path_shown_rows(base: str, title: str, headings: list[str], shown: bool) -> None:
    assert _path_shown(base, title, headings) is shown


@pytest.mark.parametrize(
    ("attrs", "size"),
    [
        ({"data-size": "1234"}, 1234),
        ({"size": " 7 "}, 7),
        ({"filesize": "0"}, 0),
        ({"data-size": "12 KB"}, None),
        ({"data-size": "-1"}, None),
        ({"data-size": "9" * 18}, int("9" * 18)),
        ({"data-size": "9" * 19}, None),
        ({"class": "1234"}, None),
        ({"data-size": "x", "data-filesize": "5"}, 5),
    ],
)
def test_attr_size_rows(attrs: dict[str, str], size: int | None) -> None:
    assert _attr_size(attrs) == size


@pytest.mark.parametrize(
    ("attrs", "date"),
    [
        ({"datetime": "2019-03-14 10:15"}, "2019-03-14T10:15:00"),
        ({"data-date": "2019-03-14 10:15"}, "2019-03-14T10:15:00"),
        ({"data-time": "2019-03-14 10:15"}, "2019-03-14T10:15:00"),
        ({"data-modified": "2019-03-14 10:15"}, "2019-03-14T10:15:00"),
        ({"title": "2019-03-14 10:15"}, None),
        ({"data-date": "soon", "datetime": "2020-01-02 03:04"}, "2020-01-02T03:04:00"),
        ({"data-date": "x" * 64 + "2019-03-14 10:15"}, None),  # only 64 characters are read
    ],
)
def test_attr_date_rows(attrs: dict[str, str], date: str | None) -> None:
    assert _attr_date(attrs) == date


# -- JSON --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "members"),
    [
        ([], []),
        ([{"a": 1}], [{"a": 1}]),
        ([{"a": 1}, 2], None),
        ({"x": 1}, None),
        ({"x": []}, []),
        ({"x": [], "y": [{"a": 1}]}, [{"a": 1}]),
        ({"x": [1], "y": [{"a": 1}]}, [{"a": 1}]),
        ({"x": [{"a": 1}], "y": [{"b": 1}, {"b": 2}]}, [{"b": 1}, {"b": 2}]),
        ({"x": [1, 2]}, []),
        ("x", None),
        (3, None),
        (None, None),
    ],
)
def test_json_members_rows(data: Any, members: list[dict[str, Any]] | None) -> None:
    assert _j_members(data) == members


@pytest.mark.parametrize(
    ("data", "want"),
    [
        ([], []),
        ({"files": []}, None),
        ([{"name": "a", "type": "file"}, {"name": "b", "type": "dir"}],
         [("a", False, None, None), ("b", True, None, None)]),
        ([{"name": "a", "kind": "FOLDER"}, {"name": "b", "mime": "regular"}],
         [("a", True, None, None), ("b", False, None, None)]),
        ([{"name": "a", "isDir": True}, {"name": "b", "isDir": False}],
         [("a", True, None, None), ("b", False, None, None)]),
        ([{"name": "a", "is_dir": "yes"}, {"name": "b", "is_dir": 1}], None),  # not booleans
        ([{"path": "x/y/a.txt", "size": 3}, {"path": "x/y/d/", "size": 0}],
         [("a.txt", False, 3, None), ("d", True, None, None)]),
        ([{"name": "a", "size": "2 KB"}, {"name": "b", "length": -1}],
         [("a", False, 2048, None), ("b", False, None, None)]),
        ([{"name": "a", "size": True}, {"name": "b", "size": None}], None),
        ([{"name": "a", "mtime": "2019-03-14 10:15"}, {"name": "b"}],
         [("a", False, None, "2019-03-14T10:15:00"), ("b", False, None, None)]),
        ([{"name": "a", "mtime": "never"}, {"name": "b", "date": None}], None),
        # half the members typed is enough; less is not
        ([{"name": "a", "type": "file"}, {"name": "b"}],
         [("a", False, None, None), ("b", False, None, None)]),
        ([{"name": "a", "type": "file"}, {"name": "b"}, {"name": "c"}], None),
        ([{"name": "a", "size": 1}, {"name": "b"}, {"name": "c"}], None),
        # the first key every member holds as a string is the name
        ([{"title": "T", "name": "n", "type": "file"}], [("n", False, None, None)]),
        ([{"name": 3, "key": "k", "type": "file"}], [("k", False, None, None)]),
        ([{"id": 3, "type": "file"}], None),
        # dot names are not entries
        ([{"name": "..", "type": "dir"}, {"name": "./", "type": "dir"},
          {"name": "x", "type": "dir"}], [("x", True, None, None)]),
        ([{"name": "a", "type": "file", "size": "x", "bytes": 9}], [("a", False, 9, None)]),
        ([{"name": "a", "type": "file", "date": "2020-01-02 03:04", "mtime": "bad"}],
         [("a", False, None, None)]),
    ],
)
def test_json_listing_rows(data: Any, want: list[Any] | None) -> None:
    assert json_listing(data) == want


# -- whole pages -------------------------------------------------------------------------------

PRE_PAGE = """<html><head><title>Index of /pub/</title></head><body>
<h1>Index of /pub/</h1><pre><a href="../">../</a>
<a href="docs/">docs/</a>                  14-Mar-2019 10:15       -
<a href="a.txt">a.txt</a>                  15-Mar-2019 11:16     1234
<a href="b.iso">b.iso</a>                  16-Mar-2019 12:17      2K
</pre><hr></body></html>"""


def test_pre_listing_by_hand() -> None:
    res = structural_listing(PRE_PAGE, "/pub/")
    assert res is not None and not res.truncated
    assert res.entries == [
        ("docs", True, None, "2019-03-14T10:15:00"),
        ("a.txt", False, 1234, "2019-03-15T11:16:00"),
        ("b.iso", False, 2048, "2019-03-16T12:17:00"),
    ]
    e = res.evidence
    assert (e.children, e.others, e.offsite, e.parent) == (3, 0, 0, True)
    assert (e.named, e.with_meta, e.dir_marked, e.path_shown) == (3, 3, True, True)
    assert e.row_words == [0, 0, 0] and e.shared == 0 and not e.password
    # free words: the heading (3) + "../" (1); the title is not page text
    assert e.free_words == 4
    assert res.points == 5.0


TABLE_PAGE = """<table>
<tr><th>Name</th><th>Size</th></tr>
<tr><td><a href="x.wav">x.wav</a></td><td>10 KB</td></tr>
<tr><td><a href="y.wav">y.wav</a></td><td>3 MB</td></tr>
<tr><td><a href="sub/">sub</a></td><td>-</td></tr>
<tr><td><a href="other/">other</a></td><td>2020-05-06 07:08</td></tr>
</table>"""


def test_table_listing_by_hand() -> None:
    res = structural_listing(TABLE_PAGE, "/")
    assert res is not None
    assert res.entries == [
        ("x.wav", False, 10240, None),
        ("y.wav", False, 3 * 1024 * 1024, None),
        ("sub", True, None, None),
        ("other", True, None, "2020-05-06T07:08:00"),
    ]
    e = res.evidence
    assert (e.children, e.named, e.with_meta, e.parent, e.path_shown) == (4, 4, 3, False, False)
    assert e.free_words == 2  # the header row
    assert res.points == 3.0  # meta 1 + dirs 0.5 + free text 1 + rows 0.5


def test_row_without_size_among_sized_rows_is_a_directory() -> None:
    # three of four rows carry a size; the fourth has only a date: a directory
    page = "".join(
        f"<li><a href='{n}'>{n}</a> {meta}</li>"
        for n, meta in [("a", "2019-03-14 10:15 5 KB"), ("b", "2019-03-14 10:15 7 KB"),
                        ("c", "2019-03-14 10:15 9 KB"), ("d", "2019-03-14 10:15")]
    )  # fmt: skip
    res = analyse(f"<ul>{page}</ul>", "/")
    assert res is not None
    assert [(n, d) for n, d, _, _ in res.entries] == [
        ("a", False), ("b", False), ("c", False), ("d", True)]
    # two of four sized is not "the others show a size"
    page2 = page.replace(" 7 KB", "").replace(" 9 KB", " ")
    res2 = analyse(f"<ul>{page2}</ul>", "/")
    assert res2 is not None and all(not d for _, d, _, _ in res2.entries)


def test_dir_words_mark_directories() -> None:
    rows = [("a", "&lt;DIR&gt;"), ("b", "[dir]"), ("c", "directory"), ("e", "drwxr-xr-x"),
            ("f", "-rw-r--r-- 12"), ("g", "folder"), ("h", "(d---------")]  # fmt: skip
    page = "<ul>" + "".join(f"<li><a href='{n}'>{n}</a> {m}</li>" for n, m in rows) + "</ul>"
    res = analyse(page, "/")
    assert res is not None
    assert [(n, d) for n, d, _, _ in res.entries] == [
        ("a", True), ("b", True), ("c", True), ("e", True), ("f", False), ("g", True),
        ("h", True)]  # fmt: skip


def test_links_sharing_a_line_are_counted() -> None:
    page = ("<p>see <a href='a'>a</a> and <a href='b'>b</a> and <a href='c'>c</a></p>"
            "<pre><a href='d'>d</a> 3\n<a href='e'>e</a> 4\n</pre>")  # fmt: skip
    res = analyse(page, "/")
    assert res is not None
    assert res.evidence.shared == 3
    assert structural_listing(page, "/") is None


def test_parent_ancestor_and_other_links_are_counted() -> None:
    page = ("<title>/a/b</title><a href='../'>up</a><a href='/'>home</a>"
            "<a href='http://x.example/'>x</a><a href='/c/d'>d</a>"
            "<pre><a href='f1'>f1</a> 1\n<a href='f2'>f2</a> 2\n<a href='f3'>f3</a> 3\n</pre>")
    res = analyse(page, "/a/b/")
    assert res is not None
    e = res.evidence
    assert (e.children, e.others, e.offsite, e.parent, e.path_shown) == (3, 2, 1, True, True)
    assert e.vetoed() == "most links are not children"  # 3 of 5 are children: below 70%


def test_the_password_field_and_skipped_elements() -> None:
    page = ("<script>var a = '<a href=\"zz\">zz</a>';</script><style>a{}</style>"
            "<ul><li><a href='a'>a</a> 1 KB<li><a href='b'>b</a> 2 KB<li><a href='c'>c</a> 3 KB"
            "</ul><input type='PASSWORD'>")
    res = analyse(page, "/")
    assert res is not None
    assert [n for n, *_ in res.entries] == ["a", "b", "c"]  # nothing from the script
    assert res.evidence.password and structural_listing(page, "/") is None
    assert res.entries[1] == ("b", False, 2048, None)  # <li> closes the previous <li>


def test_no_child_links_is_none() -> None:
    assert analyse("<p>hello</p><a href='/x/'>x</a>", "/a/") is None
    assert analyse("", "/") is None
    assert structural_listing("<p>hello</p>", "/") is None


def test_many_links_are_cut() -> None:
    page = "<pre>" + "".join(f"<a href='f{i}'>f{i}</a> {i}\n" for i in range(40_000)) + "</pre>"
    res = analyse(page, "/", max_links=100)
    assert res is not None and res.truncated
    assert 100 < len(res.entries) < 40_000
    full = analyse(page[:2000], "/")
    assert full is not None and not full.truncated


def test_cards_with_sizes_in_sibling_elements() -> None:
    # size cell beside the name card: the text after a row belongs to it
    page = ("<div class=grid>"
            "<div><a href='a.wav'>a.wav</a></div><span>1 KB</span>"
            "<div><a href='b.wav'>b.wav</a></div><span>2 KB</span>"
            "<div><a href='c.wav'>c.wav</a></div><span>3 KB</span></div>")
    res = analyse(page, "/")
    assert res is not None
    assert [(n, s) for n, _, s, _ in res.entries] == [("a.wav", 1024), ("b.wav", 2048),
                                                      ("c.wav", 3072)]  # fmt: skip
    # sizes first: the text before a row belongs to it
    page2 = ("<div class=grid>"
             "<span>1 KB</span><div><a href='a.wav'>a.wav</a></div>"
             "<span>2 KB</span><div><a href='b.wav'>b.wav</a></div>"
             "<span>3 KB</span><div><a href='c.wav'>c.wav</a></div></div>")
    res2 = analyse(page2, "/")
    assert res2 is not None
    assert [(n, s) for n, _, s, _ in res2.entries] == [("a.wav", 1024), ("b.wav", 2048),
                                                       ("c.wav", 3072)]  # fmt: skip


def test_attributes_give_size_and_date() -> None:
    page = "<ul>" + "".join(
        f"<li data-size='{s}'><a href='{n}'>{n}</a><time datetime='2019-03-1{i} 10:15'>x</time>"
        "</li>"
        for i, (n, s) in enumerate([("a", 11), ("b", 22), ("c", 33)])
    ) + "</ul>"  # fmt: skip
    res = analyse(page, "/")
    assert res is not None
    assert res.entries == [("a", False, 11, "2019-03-10T10:15:00"),
                           ("b", False, 22, "2019-03-11T10:15:00"),
                           ("c", False, 33, "2019-03-12T10:15:00")]  # fmt: skip


# -- the tree builder, through whole pages -----------------------------------------------------


def _entries(page: str, base: str = "/") -> list[tuple[str, bool, int | None, str | None]]:
    res = analyse(page, base)
    assert res is not None
    return res.entries


def test_unclosed_rows_and_cells_close_each_other() -> None:
    page = ("<table><tr><td><a href='a'>a</a><td>1 KB<tr><td><a href='b'>b</a><td>2 KB"
            "<tr><td><a href='c'>c</a><td>3 KB</table>")  # fmt: skip
    assert _entries(page) == [("a", False, 1024, None), ("b", False, 2048, None),
                              ("c", False, 3072, None)]  # fmt: skip


def test_unclosed_links_and_paragraphs() -> None:
    page = "<p><a href='a'>a 1 KB<p><a href='b'>b 2 KB<p><a href='c'>c 3 KB"
    assert _entries(page) == [("a", False, 1024, None), ("b", False, 2048, None),
                              ("c", False, 3072, None)]  # fmt: skip
    page = "<div><a href='a'>a</a> 1 KB<a href='b'>b</a> 2 KB</div>"
    res = analyse(page, "/")
    assert res is not None and res.evidence.shared == 2  # one line, two entries


def test_dt_dd_pairs() -> None:
    page = ("<dl><dt><a href='a'>a</a><dd>1 KB<dt><a href='b'>b</a><dd>2 KB"
            "<dt><a href='c/'>c/</a><dd>-</dl>")  # fmt: skip
    assert _entries(page) == [("a", False, 1024, None), ("b", False, 2048, None),
                              ("c", True, None, None)]  # fmt: skip


def test_self_closing_and_void_tags_do_not_swallow_rows() -> None:
    page = ("<ul><li><img src=i><a href='a'>a</a><br> 1 KB</li>"
            "<li><span/><a href='b'>b</a> 2 KB</li><li><a href='c'>c</a> 3 KB<hr></li></ul>")
    assert _entries(page) == [("a", False, 1024, None), ("b", False, 2048, None),
                              ("c", False, 3072, None)]  # fmt: skip


def test_title_headings_scripts_and_free_words() -> None:
    page = ("<html><head><title>Files of /x/</title><style>p { x: y }</style></head><body>"
            "<h3>  Browse\n  here </h3><script>one two three</script><noscript>four</noscript>"
            "<ul><li><a href='a'>a</a> 1 KB</li><li><a href='b'>b</a> 2 KB</li></ul>"
            "<p>five six</p><svg><text>seven</text></svg><textarea>eight</textarea></body></html>")
    res = analyse(page, "/x/")
    assert res is not None
    e = res.evidence
    assert e.path_shown  # from the title
    assert e.free_words == 4  # "Browse here" and "five six": nothing of script, svg, textarea
    assert [n for n, *_ in res.entries] == ["a", "b"]


@pytest.mark.parametrize("tag", ["h1", "h2", "h3", "h4", "h5", "h6"])
def test_path_in_any_heading(tag: str) -> None:
    page = (f"<{tag}>Contents of /data/rec</{tag}><ul>"
            + "".join(f"<li><a href='{n}'>{n}</a></li>" for n in "abc") + "</ul>")
    res = analyse(page, "/data/rec/")
    assert res is not None and res.evidence.path_shown


def test_heading_outside_h_tags_is_not_a_heading() -> None:
    page = ("<b>Contents of /data/rec</b><ul>"
            + "".join(f"<li><a href='{n}'>{n}</a></li>" for n in "abc") + "</ul>")
    res = analyse(page, "/data/rec/")
    assert res is not None and not res.evidence.path_shown


def test_uppercase_tags_and_attributes() -> None:
    page = ("<UL><LI><A HREF='a'>a</A> 1 KB<LI><A HREF='b'>b</A> 2 KB"
            "<LI><A HREF='c'>c</A> 3 KB</UL><INPUT TYPE='Password'>")
    res = analyse(page, "/")
    assert res is not None and [n for n, *_ in res.entries] == ["a", "b", "c"]
    assert res.evidence.password


def test_anchor_without_href_is_no_link() -> None:
    page = ("<ul><li><a name='top'>top</a></li><li><a href='a'>a</a> 1 KB</li>"
            "<li><a href='b'>b</a> 2 KB</li></ul>")
    res = analyse(page, "/")
    assert res is not None and [n for n, *_ in res.entries] == ["a", "b"]
    assert res.evidence.others == 0


def test_pre_lines_with_sizes_before_and_after() -> None:
    before = "<pre>" + "".join(f"  {s} KB  <a href='{n}'>{n}</a>\n" for n, s in
                               [("a", 1), ("b", 2), ("c", 3)]) + "</pre>"  # fmt: skip
    after = "<pre>" + "".join(f"<a href='{n}'>{n}</a>  {s} KB\n" for n, s in
                              [("a", 1), ("b", 2), ("c", 3)]) + "</pre>"  # fmt: skip
    want = [("a", False, 1024, None), ("b", False, 2048, None), ("c", False, 3072, None)]
    assert _entries(before) == want and _entries(after) == want
    res = analyse(after, "/")
    assert res is not None and res.evidence.shared == 0


def test_br_lines() -> None:
    page = ("<div><a href='a'>a</a> 1 KB<br><a href='b'>b</a> 2 KB<br>"
            "<a href='c'>c</a> 3 KB<br></div>")
    assert _entries(page) == [("a", False, 1024, None), ("b", False, 2048, None),
                              ("c", False, 3072, None)]  # fmt: skip


def test_repeated_link_to_one_entry_is_one_row() -> None:
    # an icon link and a name link to the same file: one entry, the name link's text counts
    page = "<table>" + "".join(
        f"<tr><td><a href='{n}'><img alt=''></a></td><td><a href='{n}'>{n}</a></td>"
        f"<td>{s} KB</td></tr>" for n, s in [("a", 1), ("b", 2), ("c", 3)]
    ) + "</table>"  # fmt: skip
    res = analyse(page, "/")
    assert res is not None
    assert res.entries == [("a", False, 1024, None), ("b", False, 2048, None),
                           ("c", False, 3072, None)]  # fmt: skip
    assert res.evidence.children == 6 and res.evidence.named == 3


def test_directory_flag_from_the_link_text() -> None:
    page = "<ul>" + "".join(f"<li><a href='{n}'>{n}/</a></li>" for n in "abc") + "</ul>"
    assert [d for _, d, _, _ in _entries(page)] == [True, True, True]


def test_doctype_and_comments_are_not_text() -> None:
    res = analyse("<!DOCTYPE html><!-- a b c --><a href='a'>a</a>", "/")
    assert res is not None and res.entries == [("a", False, None, None)]
    assert res.evidence.free_words == 0


# -- rows, lines and siblings ------------------------------------------------------------------


def test_a_single_entry_row_stops_below_the_page() -> None:
    # one entry: its row is its own element, not the page (whatever wraps it)
    for page in ("<p>intro words here</p><a href='a'>a</a> 5 KB",
                 "<html><body><p>intro words here</p><a href='a'>a</a> 5 KB</body></html>",
                 "<html><p>intro words here</p><a href='a'>a</a> 5 KB</html>",
                 "<body><p>intro words here</p><a href='a'>a</a> 5 KB</body>"):  # fmt: skip
        res = analyse(page, "/")
        assert res is not None
        # the row: the link and the text beside it ("KB" is its one word), not the intro
        assert res.entries == [("a", False, 5120, None)], page
        assert res.evidence.row_words == [1] and res.evidence.free_words == 5


def test_title_of_the_root() -> None:
    page = "<title>/</title><ul>" + "".join(
        f"<li><a href='{n}'>{n}</a></li>" for n in "abc") + "</ul>"  # fmt: skip
    res = analyse(page, "/")
    assert res is not None and res.evidence.path_shown


def test_path_shown_keeps_trailing_letters_of_the_name() -> None:
    assert _path_shown("/x/boX/", "Folder boX", []) is True
    assert _path_shown("/x/boX/", "Folder bo", []) is False


def test_max_links_is_passed_on() -> None:
    page = "<pre>" + "".join(f"<a href='f{i}'>f{i}</a> {i}\n" for i in range(2000)) + "</pre>"
    res = structural_listing(page, "/", max_links=10)  # checked after each 32 KiB of text
    assert res is not None and res.truncated and len(res.entries) < 2000
    full = structural_listing(page, "/")
    assert full is not None and not full.truncated and len(full.entries) == 2000


def test_two_shared_lines_add_up() -> None:
    page = ("<p><a href='a'>a</a> <a href='b'>b</a></p>"
            "<p><a href='c'>c</a> <a href='d'>d</a></p>")  # fmt: skip
    res = analyse(page, "/")
    assert res is not None and res.evidence.shared == 4


def test_newlines_outside_pre_do_not_split_lines() -> None:
    page = "<div><a href='a'>a</a> 1 KB\n<a href='b'>b</a> 2 KB\n<a href='c'>c</a> 3 KB\n</div>"
    res = analyse(page, "/")
    assert res is not None and res.evidence.shared == 3
    assert structural_listing(page, "/") is None


def test_pre_header_lines_stay_out_of_the_rows() -> None:
    page = ("<pre>\nName Size Date\n-----\n<a href='a'>a</a> 1 KB\n<a href='b'>b</a> 2 KB\n"
            "<a href='c'>c</a> 3 KB\n</pre>")  # fmt: skip
    res = analyse(page, "/")
    assert res is not None
    assert res.evidence.row_words == [1, 1, 1] and res.evidence.shared == 0
    assert [s for _, _, s, _ in res.entries] == [1024, 2048, 3072]
    assert res.evidence.free_words == 4  # "Name Size Date" and "-----"


def test_header_rows_are_barriers() -> None:
    page = ("<table><thead><tr><th>Name Size</th></tr></thead>"
            "<tr><td>Header words</td></tr>"
            + "".join(f"<tr><td><a href='{n}'>{n}</a></td><td>{s} KB</td></tr>"
                      for n, s in [("a", 1), ("b", 2), ("c", 3)])
            + "<tbody><tr><td>Total words</td></tr></tbody></table>")  # fmt: skip
    res = analyse(page, "/")
    assert res is not None
    assert res.evidence.row_words == [1, 1, 1]
    assert [s for _, _, s, _ in res.entries] == [1024, 2048, 3072]
    page2 = ("<div><table><tr><td>Legend words</td></tr></table>"
             + "".join(f"<span>{s} KB</span><div><a href='{n}'>{n}</a></div>"
                       for n, s in [("a", 1), ("b", 2), ("c", 3)]) + "</div>")  # fmt: skip
    res2 = analyse(page2, "/")
    assert res2 is not None
    assert res2.evidence.row_words == [1, 1, 1]
    assert [s for _, _, s, _ in res2.entries] == [1024, 2048, 3072]


def test_a_sibling_holding_another_link_is_a_barrier() -> None:
    page = ("<div><div><a href='../'>Parent Directory</a></div>"
            + "".join(f"<span>{s} KB</span><div><a href='{n}'>{n}</a></div>"
                      for n, s in [("a", 1), ("b", 2), ("c", 3)]) + "</div>")  # fmt: skip
    res = analyse(page, "/x/")
    assert res is not None
    assert res.evidence.row_words == [1, 1, 1] and res.evidence.parent
    assert [s for _, _, s, _ in res.entries] == [1024, 2048, 3072]


def test_bare_text_siblings_carry_sizes() -> None:
    page = ("<div>" + "".join(f"<div><a href='{n}'>{n}</a></div> {s} KB "
                              for n, s in [("a", 1), ("b", 2), ("c", 3)]) + "</div>")  # fmt: skip
    assert [s for _, _, s, _ in _entries(page)] == [1024, 2048, 3072]


def test_sibling_texts_on_a_tie_go_to_the_row_before() -> None:
    # one text before the first row, one after the last: the texts follow their rows
    page = ("<div><span>1 KB</span><div><a href='a'>a</a></div><div><a href='b'>b</a></div>"
            "<span>2 KB</span></div>")  # fmt: skip
    assert [(n, s) for n, _, s, _ in _entries(page)] == [("a", None), ("b", 2048)]


def test_table_rows_have_no_words_left() -> None:
    res = structural_listing(TABLE_PAGE, "/")
    assert res is not None and res.evidence.row_words == [1, 1, 0, 0]  # "KB", "MB"


@pytest.mark.parametrize(
    ("data", "want"),
    [
        ([{"name": "a", "type": "file", "size": 0}], [("a", False, 0, None)]),
        ([{"name": "boX/", "type": "dir"}], [("boX", True, None, None)]),
        ([{"name": "/", "type": "dir"}, {"name": "a", "type": "file"}],
         [("a", False, None, None)]),
        ([{"name": "a", "type": "file", "size": " " * 62 + "123"}], [("a", False, 12, None)]),
        ([{"name": "a", "type": "file", "mtime": "x" * 49 + "2019-03-14 10:15"}],
         [("a", False, None, None)]),
        ([{"name": "a", "mtime": "x" * 49 + "2019-03-14 10:15"}], None),
    ],
)
def test_json_edge_rows(data: Any, want: list[Any] | None) -> None:
    assert json_listing(data) == want


def test_attr_date_reads_64_characters() -> None:
    assert _attr_date({"data-date": "x" * 48 + "2019-03-14 10:15"}) == "2019-03-14T10:15:00"
    assert _attr_date({"data-date": "x" * 49 + "2019-03-14 10:15"}) is None
