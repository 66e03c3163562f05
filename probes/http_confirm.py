"""Confirming a listing recognised by its structure alone, with one or two more requests.

A page that no family parser knows but that *looks like* a listing (``ParsedListing.structural``)
is reported only when the server backs it up:

- a listed **directory** answers 200 with a listing of its own (any family, or structural), and
  that answer is not the soft-404 page; or
- a listed **file** answers ``HEAD`` with 200/206, differently from what a random sibling
  path answers (status, or Content-Type, or Content-Length); a "file" that redirects to
  itself plus ``/`` is a directory listed without its slash, checked as one.

No file body is ever requested (the probe reads file contents only with ``--sample-bytes``),
so a server that refuses HEAD is confirmed through a listed directory or not at all: ``GET``
with ``Range: bytes=0-0`` is deliberately not used. At most ``MAX_TRIES`` entries are tried,
one or two requests each (the random sibling is asked once). The requests go through
``fetch`` (the probe's own bounded request).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from scanner.protocols.http_client import HttpResponse
from scanner.protocols.listing import ListedItem, ParsedListing, parse_listing

Fetch = Callable[[str, str, dict[str, str]], Awaitable[HttpResponse | None]]
"""``fetch(method, path, headers)``: one request (path decoded, unquoted), no redirects."""

MAX_TRIES = 3
STRONG_POINTS = 4.0
"""Structural evidence that stands without confirmation when the server answers nothing."""


def _pick(entries: list[ListedItem]) -> list[ListedItem]:
    dirs = [e for e in entries if e.is_dir]
    files = [e for e in entries if not e.is_dir]
    return (dirs[:1] + files[:1] + dirs[1:2] + files[1:3])[:MAX_TRIES]


def _signature(resp: HttpResponse) -> tuple[int, str, str]:
    ctype = resp.content_type.split(";")[0].strip().lower()
    return resp.status, ctype, resp.header("content-length") or ""


class _Sibling:
    """The answer to a random path beside the entries (asked once per method)."""

    def __init__(self, fetch: Fetch, path: str) -> None:
        self.fetch, self.path = fetch, path
        self.answers: dict[str, HttpResponse | None] = {}

    async def answer(self, method: str) -> HttpResponse | None:
        if method not in self.answers:
            self.answers[method] = await self.fetch(method, self.path, {})
        return self.answers[method]


async def _file_answers(fetch: Fetch, path: str, sibling: _Sibling) -> bool | None:
    """True/False, or None when the server would not say (HEAD refused, no answer)."""
    resp = await fetch("HEAD", path, {})
    if resp is None or resp.status in (405, 501):
        return None
    if resp.status in (301, 302, 303, 307, 308):
        location = urlsplit(resp.header("location") or "").path
        if location == path + "/":  # a directory listed without its trailing slash
            return await _dir_answers(fetch, location, "", b"")
        return False
    if resp.status not in (200, 206):
        return False
    other = await sibling.answer("HEAD")
    return None if other is None else _signature(other) != _signature(resp)


async def _dir_answers(fetch: Fetch, path: str, server: str, soft404: bytes) -> bool | None:
    resp = await fetch("GET", path, {})
    if resp is None:
        return None
    if resp.status != 200:
        return False
    key = resp.body.replace(path.encode(), b"").replace(path.rstrip("/").encode(), b"")
    if soft404 and key[:65536] == soft404:
        return False
    parsed = parse_listing(
        resp.body, path=path, content_type=resp.content_type, server=server, max_entries=200
    )
    return parsed is not None


async def confirm_listing(
    fetch: Fetch, root: str, parsed: ParsedListing, *, server: str = "", soft404: bytes = b""
) -> bool:
    """True when one listed entry of the page at ``root`` (a directory path ending in '/')
    answers as a real directory or file. ``soft404``: the random-path page (path removed).

    When the server answers no question (HEAD refused everywhere, no directory listed), the
    page stands on its own evidence: only a strong one (``STRONG_POINTS``: path in the title,
    parent link, sizes or dates, little else) is reported."""
    if not parsed.entries:
        return False
    sibling = _Sibling(fetch, f"{root}nasscan-{secrets.token_hex(6)}")
    answered = False
    for entry in _pick(parsed.entries):
        if entry.is_dir:
            ok = await _dir_answers(fetch, f"{root}{entry.name}/", server, soft404)
        else:
            ok = await _file_answers(fetch, root + entry.name, sibling)
        if ok:
            return True
        answered = answered or ok is not None
    return not answered and parsed.points >= STRONG_POINTS
