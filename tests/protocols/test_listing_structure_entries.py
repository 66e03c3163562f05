"""scanner.protocols.listing_structure.analyse on small hand-written pages: which element is an
entry's row (links that are not entries bound the rows), links repeated in a page, link texts
that are not names, the directory rules, and the free-text count.

Every expected value is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import pytest

from scanner.protocols.listing_structure import (
    Evidence,
    Link,
    _name_shown,
    analyse,
    classify_link,
)


def entries(page: str, base: str = "/d/") -> list[tuple[str, bool, int | None, str | None]]:
    res = analyse(page, base)
    assert res is not None
    return res.entries


@pytest.mark.parametrize(
    "other",
    [
        "../",  # the parent of /d/e/
        "/",  # an ancestor
        "/other/",  # another folder
    ],
)
def test_links_that_are_not_entries_bound_the_rows(other: str) -> None:
    # the <ul> holds the entry and another link: it is no row of a.txt, so the other link's
    # '99 KB' is not a.txt's size (a.txt's row is its <li>, which holds no size)
    page = f'<ul><li><a href="a.txt">a.txt</a></li><li><a href="{other}">x</a> 99 KB</li></ul>'
    assert entries(page, "/d/e/") == [("a.txt", False, None, None)]


def test_repeated_links_and_their_texts() -> None:
    # a.txt: first 'Download' (not its name), then 'get' titled 'a.txt': the titled one is its
    # text (named). XXXX: 'Download' then 'Other/': neither shows the name, the first stays
    # (so XXXX is no directory). Named: a.txt only.
    page = (
        '<ul><li><a href="a.txt">Download</a></li><li><a href="a.txt" title="a.txt">get</a></li>'
        '<li><a href="XXXX">Download</a></li><li><a href="XXXX">Other/</a></li></ul>'
    )
    res = analyse(page, "/d/")
    assert res is not None
    assert res.entries == [("a.txt", False, None, None), ("XXXX", False, None, None)]
    assert res.evidence.named == 1
    assert res.evidence.children == 4


def test_link_texts_leave_the_rows() -> None:
    # the name is removed from the link text once; a text without the name is removed whole:
    # a.txt's row is '5 KB' (1 word of letters: KB), b.txt's ' b.txt 6 KB' (txt, KB)
    page = (
        '<ul><li><a href="a.txt">Download file now</a> 5 KB</li>'
        '<li><a href="b.txt">b.txt b.txt</a> 6 KB</li></ul>'
    )
    res = analyse(page, "/d/")
    assert res is not None
    assert res.entries == [("a.txt", False, 5120, None), ("b.txt", False, 6144, None)]
    assert res.evidence.row_words == [1, 2]


def test_a_row_linked_twice_counts_its_words_once() -> None:
    # words: '5 KB' (the ul, the row of a.txt) + 'one two three' = 5; the row's words are
    # counted once although two links lead to it: 5 - 2 = 3 free words
    page = (
        '<ul><li><a href="a.txt">a.txt</a> <a href="a.txt">get</a> 5 KB</li></ul>'
        "<p>one two three</p>"
    )
    res = analyse(page, "/d/")
    assert res is not None
    assert res.evidence.free_words == 3


@pytest.mark.parametrize(
    ("rows", "b_is_dir"),
    [
        # one row of two with a size: not more than half, b (a date, no size) stays a file
        (['<a href="a.txt">a.txt</a> 5 KB 2024-01-01 10:00',
          '<a href="b">b</a> 2024-02-01 10:00'], False),
        # one of three: not more than half either
        (['<a href="a.txt">a.txt</a> 5 KB 2024-01-01 10:00', '<a href="b">b</a> 2024-02-01 10:00',
          '<a href="c">c</a> 2024-03-01 10:00'], False),
        # two of three: b, with a date and no size, is a directory
        (['<a href="a.txt">a.txt</a> 5 KB 2024-01-01 10:00', '<a href="b">b</a> 2024-02-01 10:00',
          '<a href="c.txt">c.txt</a> 7 KB 2024-03-01 10:00'], True),
    ],
)  # fmt: skip
def test_a_row_without_size_among_sized_rows(rows: list[str], b_is_dir: bool) -> None:
    page = "<ul>" + "".join(f"<li>{r}</li>" for r in rows) + "</ul>"
    b = [e for e in entries(page) if e[0] == "b"]
    assert b == [("b", b_is_dir, None, "2024-02-01T10:00:00")]


def test_lines_of_a_shared_block() -> None:
    # both links sit in the <div> itself: their rows are its lines, split at the <br>
    # ('5 KB', '7 KB': one word of letters each)
    page = '<div><a href="a.txt">a.txt</a> 5 KB<br><a href="b.txt">b.txt</a> 7 KB</div>'
    res = analyse(page, "/d/")
    assert res is not None
    assert res.entries == [("a.txt", False, 5120, None), ("b.txt", False, 7168, None)]
    assert (res.evidence.row_words, res.evidence.free_words) == ([1, 1], 0)


def test_a_block_inside_a_shared_block() -> None:
    # a.txt is a line of the <div>; b.txt's row is its own <p> ('7 KB'), and the text before
    # it in the <div> (' 1 KB', no text after it) joins that row: '7 KB 1 KB' (2 words).
    # Words: 1 KB, 7 KB and five free ones = 9; covered: a's line 2, b's row 2 and the line
    # that ends with b's <p> 2 = 6; free: 3
    page = (
        '<div><a href="a.txt">a.txt</a> 1 KB<br><p><a href="b.txt">b.txt</a> 7 KB</p></div>'
        "<p>one two three four five</p>"
    )
    res = analyse(page, "/d/")
    assert res is not None
    assert res.entries == [("a.txt", False, 1024, None), ("b.txt", False, 7168, None)]
    assert (res.evidence.row_words, res.evidence.free_words) == ([1, 2], 3)


def test_directory_by_any_of_its_links_or_its_text() -> None:
    # d: linked as 'd/' first, then as 'd' (shown as 'd', the text kept): still a directory.
    # x: linked once, its text 'Folder/' (not its name, but the only text it has) ends in '/'
    page = (
        '<ul><li><a href="d/">d/</a></li><li><a href="d">d</a></li>'
        '<li><a href="x">Folder/</a></li></ul>'
    )
    assert entries(page) == [("d", True, None, None), ("x", True, None, None)]


def test_directories_have_no_size() -> None:
    assert entries('<ul><li><a href="d/">d/</a> 4 KB</li></ul>') == [("d", True, None, None)]


def test_the_last_line_of_a_pre_block() -> None:
    # the rows of a shared <pre> are its lines; the last one ends with the block
    page = '<pre><a href="a.txt">a.txt</a> 5 KB\n<a href="b.txt">b.txt</a> 7 KB</pre>'
    assert entries(page) == [("a.txt", False, 5120, None), ("b.txt", False, 7168, None)]


def test_a_table_head_is_no_part_of_the_first_row() -> None:
    # the <thead> ends the siblings' texts: 'Name Size' joins no row (row words: KB only)
    page = (
        "<table><thead><tr><th>Name</th><th>Size</th></tr></thead>"
        '<tr><td><a href="a.txt">a.txt</a></td><td>5 KB</td></tr>'
        '<tr><td><a href="b.txt">b.txt</a></td><td>7 KB</td></tr></table>'
    )
    res = analyse(page, "/d/")
    assert res is not None
    assert res.entries == [("a.txt", False, 5120, None), ("b.txt", False, 7168, None)]
    assert res.evidence.row_words == [1, 1]


@pytest.mark.parametrize(
    ("name", "display", "title", "shown"),
    [
        ("MA", "Download", "MAX", False),  # the title is another name
        ("abcdefgh-long.txt", "abcdefgh ...", "", True),  # cut short: 8 characters kept
        ("a.txt", "a.txt a.txt", "", False),  # the name and more letters
        ("a", "aXX", "", False),  # the name and a word after it
        ("a", "aX", "", True),  # one letter is no word
    ],
)
def test_name_shown_rows(name: str, display: str, title: str, shown: bool) -> None:
    assert _name_shown(name, display, title) is shown


def test_metadata_point_needs_half_the_rows() -> None:
    # 3 rows, 1 with metadata: 1 * 2 < 3, no point for it; free text 1 + three rows 0.5
    assert Evidence(children=3, named=3, row_words=[0, 0, 0], with_meta=1).points() == 1.5


@pytest.mark.parametrize(
    ("base", "href", "link"),
    [
        ("/d/", "a%5Cb", Link("other")),  # a backslash once decoded
        ("/d/", "%2e", Link("other")),  # '.' once decoded
        ("/d/", "///d/a", Link("other", offsite=True)),  # '//': another host, even empty
        ("/d/", "..X", Link("child", "..X", False)),  # a name that starts with '..'
        ("/", "./..", Link("parent")),  # the parent, also on the root itself
    ],
)
def test_link_rows(base: str, href: str, link: Link) -> None:
    assert classify_link(base, href) == link
