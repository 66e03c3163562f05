"""probes.http_confirm with a scripted server: which answers confirm a structural listing.

The fake ``fetch`` answers from a table (method, path) -> response and records every request,
so each row says exactly what was asked and what it proves.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from probes.http_confirm import (
    MAX_TRIES,
    STRONG_POINTS,
    _pick,
    _signature,
    confirm_listing,
)
from scanner.protocols.http_client import HttpResponse
from scanner.protocols.listing import ListedItem, ParsedListing

LISTING = (b"<html><head><title>Index of /d/sub/</title></head><body><h1>Index of /d/sub/</h1>"
           b"<pre><a href='../'>../</a>\n<a href='x.txt'>x.txt</a> 14-Mar-2019 10:15 12\n"
           b"<a href='y.txt'>y.txt</a> 14-Mar-2019 10:15 13\n</pre></body></html>")  # fmt: skip


def resp(status: int, body: bytes = b"", **headers: str) -> HttpResponse:
    hs = [(k.replace("_", "-").lower(), v) for k, v in headers.items()]
    return HttpResponse(status, "", "HTTP/1.1", hs, body)


class Server:
    def __init__(self, table: dict[tuple[str, str], HttpResponse | None],
                 default: HttpResponse | None = None) -> None:  # fmt: skip
        self.table = table
        self.default = default
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, method: str, path: str, headers: dict[str, str]) -> Any:
        assert headers == {}  # never a Range request
        self.asked.append((method, path))
        if (method, path) in self.table:
            return self.table[(method, path)]
        if path.startswith("/d/nasscan-"):
            return self.table.get((method, "SIBLING"), self.default)
        return self.default


def page(*items: ListedItem, points: float = 3.0) -> ParsedListing:
    return ParsedListing("generic", list(items), structural=True, points=points)


F = ListedItem("x.txt", 12)
G = ListedItem("y.txt", 13)
D = ListedItem("sub", is_dir=True)


def confirm(server: Server, parsed: ParsedListing, **kw: Any) -> bool:
    return asyncio.run(confirm_listing(server, "/d/", parsed, **kw))


def test_constants_and_pick() -> None:
    assert MAX_TRIES == 3 and STRONG_POINTS == 4.0
    d1, d2, d3 = (ListedItem(f"d{i}", is_dir=True) for i in range(3))
    f1, f2, f3 = (ListedItem(f"f{i}") for i in range(3))
    assert _pick([f1, f2, f3, d1, d2, d3]) == [d1, f1, d2]
    assert _pick([f1, f2, f3]) == [f1, f2, f3]
    assert _pick([d1, d2, d3]) == [d1, d2]
    assert _pick([f1]) == [f1] and _pick([]) == []


def test_signature() -> None:
    r = resp(200, content_type="Text/HTML; charset=utf-8", content_length="12")
    assert _signature(r) == (200, "text/html", "12")
    assert _signature(resp(404)) == (404, "", "")


def test_no_entries_is_never_confirmed() -> None:
    server = Server({}, resp(200))
    assert confirm(server, page(points=9.0)) is False and server.asked == []


def test_a_listed_directory_with_its_own_listing_confirms() -> None:
    server = Server({("GET", "/d/sub/"): resp(200, LISTING, content_type="text/html")})
    assert confirm(server, page(D, F)) is True
    assert server.asked == [("GET", "/d/sub/")]


@pytest.mark.parametrize(
    "answer",
    [resp(404, LISTING), resp(200, b"<html><p>hello</p></html>"), resp(301, LISTING)],
)
def test_a_directory_that_is_no_listing_does_not_confirm(answer: HttpResponse) -> None:
    server = Server({("GET", "/d/sub/"): answer})
    assert confirm(server, page(D, points=9.0)) is False  # answered: points do not matter


def test_the_soft_404_page_is_no_confirmation() -> None:
    soft = LISTING.replace(b"/d/sub/", b"").replace(b"/d/sub", b"")
    server = Server({("GET", "/d/sub/"): resp(200, LISTING)})
    assert confirm(server, page(D), soft404=soft) is False
    assert confirm(Server({("GET", "/d/sub/"): resp(200, LISTING)}), page(D),
                   soft404=b"other page") is True  # fmt: skip


def test_a_file_answering_differently_from_a_random_sibling_confirms() -> None:
    server = Server({("HEAD", "/d/x.txt"): resp(200, content_length="12"),
                     ("HEAD", "SIBLING"): resp(404)})  # fmt: skip
    assert confirm(server, page(F)) is True
    assert server.asked[0] == ("HEAD", "/d/x.txt")
    assert server.asked[1][0] == "HEAD" and server.asked[1][1].startswith("/d/nasscan-")
    assert len(server.asked[1][1]) == len("/d/nasscan-") + 12


@pytest.mark.parametrize("status", [200, 206])
def test_partial_content_counts_as_an_answer(status: int) -> None:
    server = Server({("HEAD", "/d/x.txt"): resp(status), ("HEAD", "SIBLING"): resp(404)})
    assert confirm(server, page(F)) is True


@pytest.mark.parametrize(
    ("sibling", "want"),
    [
        (resp(200, content_type="text/plain", content_length="12"), False),  # same answer
        (resp(200, content_type="text/plain; charset=x", content_length="12"), False),
        (resp(200, content_type="text/html", content_length="12"), True),
        (resp(200, content_type="text/plain", content_length="99"), True),
        (resp(206, content_type="text/plain", content_length="12"), True),
    ],
)
def test_sibling_signature_rows(sibling: HttpResponse, want: bool) -> None:
    server = Server({("HEAD", "/d/x.txt"): resp(200, content_type="text/plain",
                                                content_length="12"),
                     ("HEAD", "SIBLING"): sibling})  # fmt: skip
    assert confirm(server, page(F)) is want


def test_the_sibling_is_asked_once() -> None:
    server = Server({("HEAD", "/d/x.txt"): resp(200), ("HEAD", "/d/y.txt"): resp(200),
                     ("HEAD", "SIBLING"): resp(200)})  # fmt: skip
    assert confirm(server, page(F, G, points=9.0)) is False  # answered, so points do not save it
    assert [m for m, p in server.asked if p.startswith("/d/nasscan-")] == ["HEAD"]
    assert [p for _, p in server.asked if not p.startswith("/d/nasscan-")] == [
        "/d/x.txt", "/d/y.txt"]


@pytest.mark.parametrize("status", [404, 403, 500, 204])
def test_a_file_that_is_not_there(status: int) -> None:
    server = Server({("HEAD", "/d/x.txt"): resp(status)})
    assert confirm(server, page(F, points=9.0)) is False
    assert server.asked == [("HEAD", "/d/x.txt")]  # no sibling needed


@pytest.mark.parametrize("status", [405, 501])
def test_head_refused_leaves_the_points_to_decide(status: int) -> None:
    server = Server({("HEAD", "/d/x.txt"): resp(status)})
    assert confirm(server, page(F, points=4.0)) is True
    server = Server({("HEAD", "/d/x.txt"): resp(status)})
    assert confirm(server, page(F, points=3.99)) is False


def test_no_answer_at_all_leaves_the_points_to_decide() -> None:
    assert confirm(Server({}, None), page(F, D, points=4.0)) is True
    assert confirm(Server({}, None), page(F, D, points=3.5)) is False
    # the file answers, the sibling does not: the server did not say
    server = Server({("HEAD", "/d/x.txt"): resp(200)}, None)
    assert confirm(server, page(F, points=4.0)) is True


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_file_redirecting_to_itself_with_a_slash_is_a_directory(status: int) -> None:
    server = Server({("HEAD", "/d/sub"): resp(status, location="/d/sub/"),
                     ("GET", "/d/sub/"): resp(200, LISTING)})  # fmt: skip
    assert confirm(server, page(ListedItem("sub"))) is True
    assert server.asked == [("HEAD", "/d/sub"), ("GET", "/d/sub/")]
    server = Server({("HEAD", "/d/sub"): resp(status, location="http://h:8/d/sub/"),
                     ("GET", "/d/sub/"): resp(200, LISTING)})  # fmt: skip
    assert confirm(server, page(ListedItem("sub"))) is True


def test_a_redirect_elsewhere_does_not_confirm() -> None:
    server = Server({("HEAD", "/d/x.txt"): resp(302, location="/login")})
    assert confirm(server, page(F, points=9.0)) is False
    server = Server({("HEAD", "/d/x.txt"): resp(302)})
    assert confirm(server, page(F, points=9.0)) is False


def test_later_entries_can_confirm() -> None:
    server = Server({("GET", "/d/sub/"): resp(403), ("HEAD", "/d/x.txt"): resp(200),
                     ("HEAD", "SIBLING"): resp(404)})  # fmt: skip
    assert confirm(server, page(F, D)) is True
    assert server.asked[0] == ("GET", "/d/sub/")


def test_at_most_max_tries_entries() -> None:
    items = [ListedItem(f"f{i}") for i in range(6)]
    server = Server({}, resp(404))
    assert confirm(server, page(*items)) is False
    assert server.asked == [("HEAD", f"/d/f{i}") for i in range(3)]


def _dir_page(path: str) -> bytes:
    # absolute links: children of ``path`` only when the page is read as ``path``'s listing
    rows = "".join(f"<a href='{path}{n}'>{n}</a> 14-Mar-2019 10:15 {s}\n"
                   for n, s in [("x.txt", 12), ("y.txt", 13), ("z.txt", 14)])  # fmt: skip
    return (f"<html><head><title>Index of {path.rstrip('/')}</title></head><body>"
            f"<pre><a href='../'>../</a>\n{rows}</pre></body></html>").encode()


def test_the_soft_404_page_is_compared_without_the_path_in_either_form() -> None:
    for name in ("sub", "subX"):
        body = _dir_page(f"/d/{name}/")
        path = f"/d/{name}/".encode()
        soft = body.replace(path, b"").replace(path.rstrip(b"/"), b"")
        item = ListedItem(name, is_dir=True)
        server = Server({("GET", f"/d/{name}/"): resp(200, body, content_type="text/html")})
        assert confirm(server, page(item), soft404=soft) is False, name
        server = Server({("GET", f"/d/{name}/"): resp(200, body, content_type="text/html")})
        assert confirm(server, page(item), soft404=soft + b" ") is True, name


def test_the_soft_404_comparison_reads_64_kib() -> None:
    body = _dir_page("/d/sub/") + b"<!--" + b"x" * 70_000 + b"-->"
    soft = body.replace(b"/d/sub/", b"").replace(b"/d/sub", b"")[:65536]
    server = Server({("GET", "/d/sub/"): resp(200, body, content_type="text/html")})
    assert confirm(server, page(D), soft404=soft) is False


def test_the_directory_page_is_read_as_that_directory() -> None:
    server = Server({("GET", "/d/sub/"): resp(200, _dir_page("/d/sub/"), content_type="text/html")})
    assert confirm(server, page(D)) is True
    # the same links on a page read as another directory are not its entries
    server = Server({("GET", "/d/sub/"): resp(200, _dir_page("/e/sub/"), content_type="text/html")})
    assert confirm(server, page(D)) is False
