"""The listing parser at its boundaries: which links are children of the folder (and which are
not: ``%2e%2e/``, ``a%2Fb``, links outside the folder or two levels down), look-alike and
hostile pages, date and size edge rows, the JSON and XML formats, truncation.

Every expected value is written by hand from the page or text in the same row.
"""

from __future__ import annotations

import json

import pytest

from scanner.protocols.listing import (
    ListedItem,
    _child,
    _dir_base,
    find_date,
    normalise_date,
    parse_listing,
    parse_size,
)
from scanner.protocols.sizes import BAD_SIZE

BASE = "/data/"

CHILDREN = [
    ("a.txt", ("a.txt", False)),
    ("docs/", ("docs", True)),
    ("  a.txt  ", ("a.txt", False)),
    ("./a.txt", ("a.txt", False)),
    (".hidden", (".hidden", False)),
    ("a%20b.txt", ("a b.txt", False)),
    ("a.txt?download=1", ("a.txt", False)),
    ("/data/a.txt", ("a.txt", False)),
    ("/data/docs/", ("docs", True)),
    ("a%252Fb", ("a%2Fb", False)),  # decoded once: a literal '%2F' in the name
    ("\u00e5.txt", ("\u00e5.txt", False)),
]

NOT_CHILDREN = [
    "",
    "   ",
    "%2e%2e/",
    "%2e%2e",
    "%2E%2E%2F",
    "%2e/",
    ".",
    "./",
    "..",
    "../",
    "../x",
    "a%2Fb",
    "a%2fb/",
    "%2F",
    "/data/a%2Fb",
    "/data/%2e%2e/",
    "/data/x/y",
    "x/y",
    "x/y/",
    "docs/sub/file",
    "/data/",
    "/data",
    "/datax/y",
    "/other/a.txt",
    "/",
    "/data//x",
    "//host/data/x",
    "http://host/data/x",
    "https://host/",
    "x:y",
    "mailto:a@b",
    "javascript:alert(1)",
    "data:text/html,x",
    "?C=N;O=D",
    "#top",
    "//[x",
    "http://[::1",
]


@pytest.mark.parametrize(("href", "child"), CHILDREN)
def test_children(href: str, child: tuple[str, bool]) -> None:
    assert _child(BASE, href) == child


@pytest.mark.parametrize("href", NOT_CHILDREN)
def test_not_children(href: str) -> None:
    assert _child(BASE, href) is None


@pytest.mark.parametrize(
    ("path", "base"),
    [("/", "/"), ("", "/"), ("/data", "/data/"), ("data/", "/data/"), ("/a/b?x=1", "/a/b/"),
     ("//[x", "/"), ("http://h/d/", "/d/")],
)  # fmt: skip
def test_dir_base(path: str, base: str) -> None:
    assert _dir_base(path) == base


def _nginx(rows: list[str], title: str = "/data/") -> bytes:
    body = "\n".join(rows)
    return (
        f"<html>\r\n<head><title>Index of {title}</title></head>\r\n<body>\r\n"
        f'<h1>Index of {title}</h1><hr><pre><a href="../">../</a>\r\n{body}\r\n'
        "</pre><hr></body>\r\n</html>\r\n"
    ).encode()


NGINX_ROWS = [
    '<a href="docs/">docs/</a>                               01-Jan-2024 10:00       -',
    '<a href="a.txt">a.txt</a>                               02-Feb-2024 11:30    1234',
    '<a href="big.iso">big.iso</a>                           29-Feb-2024 23:59 4294967296',
]
NGINX_ENTRIES = [
    ListedItem("docs", None, "2024-01-01T10:00:00", True),
    ListedItem("a.txt", 1234, "2024-02-02T11:30:00", False),
    ListedItem("big.iso", 4294967296, "2024-02-29T23:59:00", False),
]


def test_nginx_page() -> None:
    parsed = parse_listing(_nginx(NGINX_ROWS), path="/data/")
    assert parsed is not None
    assert (parsed.family, parsed.truncated, parsed.structural) == ("nginx", False, False)
    assert parsed.entries == NGINX_ENTRIES
    assert parsed.entries[1].as_dict() == {
        "name": "a.txt", "size": 1234, "mtime": "2024-02-02T11:30:00", "is_dir": False,
    }  # fmt: skip


def test_hostile_links_on_a_real_listing_are_not_entries() -> None:
    hostile = [
        '<a href="%2e%2e/">%2e%2e/</a>                 01-Jan-2024 10:00       -',
        '<a href="a%2Fb">a%2Fb</a>                     01-Jan-2024 10:00       5',
        '<a href="/data/a%2Fb">a/b</a>                 01-Jan-2024 10:00       5',
        '<a href="/data/docs/deep.txt">deep</a>        01-Jan-2024 10:00       5',
        '<a href="/etc/passwd">passwd</a>              01-Jan-2024 10:00       5',
        '<a href="a.txt">a.txt again</a>               01-Jan-2024 10:00       9',
    ]
    # 4 children among 8 links: too few for a listing (and never an entry '..' or 'a/b')
    assert parse_listing(_nginx(NGINX_ROWS + hostile), path="/data/") is None
    one_bad = NGINX_ROWS * 4 + [hostile[0]]  # 12 good rows (3 names) and one %2e%2e/
    parsed = parse_listing(_nginx(one_bad), path="/data/")
    assert parsed is not None and parsed.family == "nginx"
    assert parsed.entries == NGINX_ENTRIES  # duplicates once, the parent never


def test_the_same_page_under_another_folder_has_no_children() -> None:
    rows = [r.replace('href="', 'href="/data/') for r in NGINX_ROWS]
    assert parse_listing(_nginx(rows), path="/data/").entries == NGINX_ENTRIES  # type: ignore[union-attr]
    assert parse_listing(_nginx(rows), path="/elsewhere/") is None


LOOK_ALIKES = [
    # a blog post about directory listings
    b"<html><head><title>Index of /data/ considered harmful</title></head><body>"
    b"<h1>Index of /data/ considered harmful</h1><p>Servers that show an index of files "
    b'leak data. See <a href="https://example.org/a">this</a> and '
    b'<a href="https://example.org/b">that</a>.</p></body></html>',
    # a search form titled like a listing
    b"<html><head><title>Index of /data/</title></head><body><h1>Index of /data/</h1><hr>"
    b'<pre><a href="../">../</a>\n<form action="/s"><input name="q"></form>\n</pre><hr>'
    b"</body></html>",
    # a page of text without links
    b"<html><head><title>Directory</title></head><body><pre>a.txt 1234\nb.txt 99</pre>"
    b"</body></html>",
    b"",
    b"not html at all \x00\xff",
]


@pytest.mark.parametrize("body", LOOK_ALIKES)
def test_look_alike_pages_are_not_listings(body: bytes) -> None:
    assert parse_listing(body, path="/data/") is None


def test_truncation_at_max_entries() -> None:
    rows = [f'<a href="f{i:03d}.txt">f{i:03d}.txt</a> 01-Jan-2024 10:00 {i + 1}' for i in range(80)]
    parsed = parse_listing(_nginx(rows), path="/data/", max_entries=10)
    assert parsed is not None and parsed.truncated
    assert [e.name for e in parsed.entries] == [f"f{i:03d}.txt" for i in range(10)]
    assert [e.size for e in parsed.entries] == list(range(1, 11))
    whole = parse_listing(_nginx(rows), path="/data/", max_entries=80)
    assert whole is not None and not whole.truncated and len(whole.entries) == 80


DATES = [
    ("2024-01-02 03:04", "2024-01-02T03:04:00"),
    ("2024-01-02T03:04:05", "2024-01-02T03:04:05"),
    ("02-Jan-2024 03:04", "2024-01-02T03:04:00"),
    ("2-jan-2024 3:04", "2024-01-02T03:04:00"),
    ("2024-Jan-02 03:04:05", "2024-01-02T03:04:05"),
    ("02 Jan 2024 03:04", "2024-01-02T03:04:00"),
    ("Tue, 02 Jan 2024 03:04:05 GMT", "2024-01-02T03:04:05"),
    ("Tuesday, January 2, 2024 3:04 PM", "2024-01-02T15:04:00"),
    ("Tuesday, January 2, 2024 12:04 AM", "2024-01-02T00:04:00"),
    ("Tuesday, January 2, 2024 12:04 PM", "2024-01-02T12:04:00"),
    ("Tuesday, January 2, 2024 11:04", "2024-01-02T11:04:00"),
    ("1/2/2024 3:04 PM", "2024-01-02T15:04:00"),
    ("1/2/2024 3:04 am", "2024-01-02T03:04:00"),  # lower-case am/pm is not read: 3:04 stays
    ("12/31/2024 13:04:05", "2024-12-31T13:04:05"),
    ("2024/01/02 03:04", "2024-01-02T03:04:00"),
    ("02Jan2024 03:04", "2024-01-02T03:04:00"),
    ("Tue Jan  2 03:04:05 2024", "2024-01-02T03:04:05"),
    ("Jan  2  2024", "2024-01-02T00:00:00"),
    ("Dec 31 1999", "1999-12-31T00:00:00"),
    ("2024-12-31 23:59:60", "2024-12-31T23:59:60"),
    ("2024-12-31 23:59:61", None),
    ("2024-12-31 24:00", None),
    ("2024-12-31 23:60", None),
    ("2024-12-31 00:00", "2024-12-31T00:00:00"),
    ("2024-13-01 00:00", None),
    ("2024-00-10 10:00", None),
    ("2024-01-00 10:00", None),
    ("2024-01-31 10:00", "2024-01-31T10:00:00"),
    ("2024-01-32 10:00", None),
    ("2024-12-01 10:00", "2024-12-01T10:00:00"),
    ("02-Foo-2024 03:04", None),
    ("no date", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "iso"), DATES)
def test_date_rows(text: str, iso: str | None) -> None:
    assert normalise_date(text) == iso


def test_find_date_removes_the_date_and_looks_at_four_matches_per_form() -> None:
    assert find_date("a 2024-01-02 03:04 b") == ("2024-01-02T03:04:00", "a   b")
    assert find_date("size 12") == (None, "size 12")
    bad = "2024-13-01 00:00 "
    assert find_date(bad * 3 + "2024-01-02 03:04")[0] == "2024-01-02T03:04:00"
    assert find_date(bad * 4 + "2024-01-02 03:04")[0] is None
    assert find_date("x" * 4090 + " 2024-01-02 03:04")[0] is None  # past the first 4096


SIZES = [
    ("20000", 20000),
    ("20K", 20480),
    ("20k", 20480),
    ("1.2 kb", 1228),  # 1228.8
    ("1.5K", 1536),
    ("5 KiB", 5120),
    ("3 MiB", 3 * 1024**2),
    ("2G", 2 * 1024**3),
    ("1 TB", 1024**4),
    ("1P", 1024**5),
    ("1023P", 1023 * 1024**5),
    ("1024P", BAD_SIZE),  # 2**60: an exbibyte is no file
    ("12 bytes", 12),
    ("1024 b", 1024),
    ("1,234,567", 1234567),
    ("0", 0),
    ("-", None),
    ("", None),
    ("  ", None),
    ("999 1K", 1024),  # a number with a unit before a larger one without
    ("10 20", 20),
    ("1K 2K", 2048),
    ("\u00b2", BAD_SIZE),
    ("\u0663", BAD_SIZE),
    ("1" + "0" * 40, BAD_SIZE),
    ("v1.2", None),
    ("file-2", None),
    ("10:30", None),
    ("a 7 b", 7),
    (" ".join(str(i) for i in range(1, 17)) + " 999", 16),  # only the first 16 numbers
    ("x" * 4096 + " 5", None),
]


@pytest.mark.parametrize(("text", "size"), SIZES)
def test_size_rows(text: str, size: int | None) -> None:
    assert parse_size(text) == size


def test_nginx_json() -> None:
    body = json.dumps(
        [
            {"name": "d", "type": "directory", "mtime": "Tue, 02 Jan 2024 03:04:05 GMT"},
            {"name": "a.txt", "type": "file", "mtime": "Tue, 02 Jan 2024 03:04:06 GMT",
             "size": 12},
            {"name": "b", "type": "other", "size": "12"},
        ]
    ).encode()  # fmt: skip
    parsed = parse_listing(body)
    assert parsed is not None and parsed.family == "nginx-json" and not parsed.structural
    assert parsed.entries == [
        ListedItem("d", None, "2024-01-02T03:04:05", True),
        ListedItem("a.txt", 12, "2024-01-02T03:04:06", False),
        ListedItem("b", None, None, False),
    ]
    assert parse_listing(b"  []", content_type="application/json") == parse_listing(b"[]")


def test_caddy_json() -> None:
    body = json.dumps(
        [
            {"name": "d/", "is_dir": True, "url": "./d/", "size": 4096,
             "mod_time": "2024-01-02T03:04:05Z"},
            {"name": "a", "is_dir": False, "url": "./a", "size": 5, "mod_time": ""},
            {"name": "b", "is_dir": False, "url": "./b", "size": "5"},
        ]
    ).encode()  # fmt: skip
    parsed = parse_listing(body, content_type="application/json")
    assert parsed is not None and parsed.family == "caddy-json"
    assert parsed.entries == [
        ListedItem("d", None, "2024-01-02T03:04:05", True),
        ListedItem("a", 5, None, False),
        ListedItem("b", None, None, False),
    ]


@pytest.mark.parametrize(
    "body", [b"[", b"{", b"[" * 100_000, b'{"a": 1}', b"[1, 2]", b'"x"', b"[{}]"]
)
def test_json_that_is_no_listing(body: bytes) -> None:
    assert parse_listing(body, content_type="application/json") is None


NGINX_XML = (
    b'<?xml version="1.0"?>\n<list>'
    b'<directory mtime="2024-01-02T03:04:05Z">d</directory>'
    b'<file mtime="2024-01-02T03:04:06Z" size="12"> a.txt </file>'
    b'<file size="x">b</file>'
    b"</list>"
)


def test_nginx_xml() -> None:
    parsed = parse_listing(NGINX_XML)
    assert parsed is not None and parsed.family == "nginx-xml"
    assert parsed.entries == [
        ListedItem("d", None, "2024-01-02T03:04:05", True),
        ListedItem("a.txt", 12, "2024-01-02T03:04:06", False),
        ListedItem("b", BAD_SIZE, None, False),
    ]
    no_declaration = NGINX_XML.removeprefix(b'<?xml version="1.0"?>\n')
    assert no_declaration.startswith(b"<list>")
    assert parse_listing(no_declaration, content_type="text/xml") == parsed


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><lists><file>a</file></lists>',
        b'<?xml version="1.0"?><list><link>a</link></list>',
        b'<?xml version="1.0"?><!-- ' + b"x" * 600 + b" --><list><file>a</file></list>",
        b'<?xml version="1.0"?><list><file>a</file>',
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY e "x">]><list><file>&e;</file></list>',
        b'<?xml version="1.0"?><feed/>',
    ],
)
def test_xml_that_is_no_listing(body: bytes) -> None:
    assert parse_listing(body) is None


def test_charset() -> None:
    rows = ['<a href="%E9.txt">\xe9.txt</a>                 01-Jan-2024 10:00       5']
    latin = _nginx(rows).decode().encode("latin-1")
    parsed = parse_listing(latin, content_type="text/html; charset=ISO-8859-1")
    assert parsed is not None and parsed.entries[0].name == "\ufffd.txt"  # %E9 is no UTF-8
    unknown = parse_listing(_nginx(NGINX_ROWS), content_type="text/html; charset=x-nonsense")
    assert unknown is not None and unknown.entries == NGINX_ENTRIES


def _dominance_of(hrefs: list[str]) -> float:
    from scanner.protocols.listing import _dominance, _Tokenizer

    tok = _Tokenizer()
    tok.feed("".join(f'<a href="{h}">x</a>' for h in hrefs))
    tok.close()
    return _dominance(tok, BASE)


@pytest.mark.parametrize(
    ("hrefs", "share"),
    [
        ([], 1.0),
        (["../", "/", "/data", "?C=N;O=D", "#top", ""], 1.0),  # none counts as a link
        (["?C=N;O=D", "/other/x"], 0.0),
        (["#top", "/other/x"], 0.0),
        (["/other/x"], 0.0),
        (["a.txt"], 1.0),
        (["//host/", "a.txt"], 0.5),  # another host's root is no ancestor here
        (["/dat", "a.txt"], 0.5),  # '/dat' is not an ancestor of '/data/'
        (["a.txt", "b/", "http://h/x", "mailto:a@b"], 0.5),
    ],
)
def test_dominance_rows(hrefs: list[str], share: float) -> None:
    assert _dominance_of(hrefs) == share


def test_xhtml_self_closing_tags() -> None:
    page = (
        '<html><head><title>Index of /data/</title><script src="x.js"/><style/></head>'
        '<body><h1>Index of /data/</h1><hr/><pre><a href="../">../</a>\r\n'
        + "\r\n".join(NGINX_ROWS)
        + "\r\n</pre><hr/></body></html>"
    ).encode()
    parsed = parse_listing(page, path="/data/")
    assert parsed is not None and parsed.family == "nginx"
    assert parsed.entries == NGINX_ENTRIES


def test_xml_entry_without_text_or_date() -> None:
    body = b'<?xml version="1.0"?><list><file size="3"/><file mtime="">b</file></list>'
    parsed = parse_listing(body)
    assert parsed is not None
    assert parsed.entries == [ListedItem("", 3, None, False), ListedItem("b", None, None, False)]


@pytest.mark.parametrize(
    "data",
    [
        {"files": [{"name": "a.txt", "size": 5, "mtime": "2024-01-02 03:04"},
                   {"name": "d", "is_dir": True}, {"name": "b.txt", "size": 7}]},
        [{"filename": "a.txt", "bytes": 5, "modified": "2024-01-02 03:04"},
         {"filename": "d", "type": "dir"}, {"filename": "b.txt", "bytes": 7}],
    ],
)  # fmt: skip
def test_generic_json_listings(data: object) -> None:
    parsed = parse_listing(json.dumps(data).encode())
    assert parsed is not None
    assert (parsed.family, parsed.structural, parsed.truncated) == ("generic-json", True, False)
    assert parsed.entries[0] == ListedItem("a.txt", 5, "2024-01-02T03:04:00", False)
    assert parsed.entries[-1] == ListedItem("b.txt", 7, None, False)


def test_json_formats_without_dates() -> None:
    nginx = [{"name": "a", "type": "file", "size": 1}]
    assert parse_listing(json.dumps(nginx).encode()).entries == [  # type: ignore[union-attr]
        ListedItem("a", 1, None, False)
    ]
    caddy = [{"name": "d/", "is_dir": True, "url": "./d/"}, {"name": "e", "is_dir": False,
              "url": "./e", "size": 2}]  # fmt: skip
    assert parse_listing(json.dumps(caddy).encode()).entries == [  # type: ignore[union-attr]
        ListedItem("d", None, None, True),
        ListedItem("e", 2, None, False),
    ]
    # not every row a Caddy row (one without its url): not read as Caddy's format
    mixed = [{"name": "d/", "is_dir": True, "url": "./d/"}, {"name": "e", "is_dir": False}]
    parsed = parse_listing(json.dumps(mixed).encode())
    assert parsed is None or parsed.family != "caddy-json"
