"""A file server of a family nobody ships: each directory is a grid of cards, the size first,
then the name as a link; no title, no heading, no parent link, no dates. Served in-process on
a loopback address (asyncio), from an in-memory tree.

``decoy=True`` serves the same-looking page at ``/`` but answers every other path with one
generic 200 page: a page that looks like a listing whose entries do not exist.
``no_head=True`` refuses HEAD (405), as some servers do.
"""

from __future__ import annotations

import contextlib
from html import escape
from urllib.parse import quote, unquote

from http_answers import serve_answers

Tree = dict[str, "bytes | Tree"]

STYLE = "<style>.grid{display:grid;grid-template-columns:repeat(4,1fr)}.card{padding:1em}</style>"


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        n_ = n / 1024
        if n_ < 1024 or unit == "GiB":
            return f"{n_:.1f} {unit}"
        n = int(n_)
    raise AssertionError


def render(node: Tree) -> bytes:
    cards = []
    for name, child in sorted(node.items()):
        size = "folder" if isinstance(child, dict) else _human(len(child))
        href = quote(name) + ("/" if isinstance(child, dict) else "")
        cards.append(
            f'<div class="card"><div class="size">{size}</div>'
            f'<div class="name"><a href="{href}">{escape(name)}</a></div></div>'
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>{STYLE}</head><body>"
        f'<div class="grid">{"".join(cards)}</div></body></html>'
    ).encode()


NOT_FOUND = b"<!doctype html><html><body><p>Nothing here.</p><a href='/'>home</a></body></html>"


def _lookup(tree: Tree, path: str) -> bytes | Tree | None:
    node: bytes | Tree = tree
    for seg in [unquote(s) for s in path.split("?")[0].split("/") if s]:
        if not isinstance(node, dict) or seg not in node:
            return None
        node = node[seg]
    return node


def _answer(
    tree: Tree, method: str, path: str, decoy: bool, no_head: bool
) -> tuple[int, str, bytes]:
    if no_head and method == "HEAD":
        return 405, "text/html", b""
    if decoy:
        return (200, "text/html", render(tree)) if path == "/" else (200, "text/html", NOT_FOUND)
    node = _lookup(tree, path)
    if node is None:
        return 404, "text/html", NOT_FOUND
    if isinstance(node, dict):
        if not path.endswith("/"):
            return 301, "text/html", b""
        return 200, "text/html; charset=utf-8", render(node)
    return 200, "application/octet-stream", node


def serve(
    addr: str, tree: Tree, *, decoy: bool = False, no_head: bool = False
) -> contextlib.AbstractAsyncContextManager[int]:
    """The cards server of ``tree`` on ``addr``."""
    return serve_answers(addr, lambda m, p: _answer(tree, m, p, decoy, no_head))
