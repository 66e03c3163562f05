"""Directory-listing recognisers and parsers, per web-server family.

``parse_listing(body, path=..., content_type=..., server=...)`` returns a ``ParsedListing``
(family + entries with name, size, mtime, dir flag) when the page *is* a directory listing, and
``None`` when it is not (an ordinary page, even one titled "Index of"). Family parsers are
the fast paths (they read sizes and dates best), one rule per family:

- nginx autoindex: ``<pre>`` rows ``<a>name</a>  DD-Mon-YYYY HH:MM  size``, first link ``../``;
  also its JSON (``autoindex_format json``) and XML (``<list>``) formats;
- Apache mod_autoindex: fancy table / fancy ``<pre>`` (sort links ``?C=N;O=D``) and the plain
  ``<ul>`` index;
- lighttpd mod_dirlisting (``<table summary="Directory Listing">``);
- IIS directory browsing (``[To Parent Directory]``, title ``host - /path``, ``&lt;dir&gt;``);
- Tomcat DefaultServlet ("Directory Listing For [/path]");
- Caddy ``file_server browse`` (``data-size`` cells, ``<time datetime>``; and its JSON);
- Python ``http.server`` ("Directory listing for /path");

then any other page is judged by its structure alone (``listing_structure``: family
``generic``, and ``generic-json`` for JSON listings of other servers), with
``ParsedListing.structural`` set so that the probe confirms it by one more request.
Never raises: any input that is no listing answers None.

Sizes are bytes (human forms like ``20K`` or ``1.2 kb`` are converted with 1024 multipliers,
so they are approximate); dates are normalised to ``YYYY-MM-DDTHH:MM:SS`` when recognised.
Pure functions on bytes: no I/O here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from scanner.protocols.listing_fields import find_date, normalise_date, parse_size
from scanner.protocols.listing_structure import StructuralResult, json_listing, structural_listing
from scanner.protocols.sizes import parse_decimal
from scanner.protocols.xmlsafe import xml_root

MAX_TOKENS = 400_000
"""HTML tokens kept per page: bodies are already byte-bounded; this bounds the work too."""


@dataclass(frozen=True)
class ListedItem:
    name: str
    size: int | None = None
    mtime: str | None = None
    is_dir: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "mtime": self.mtime, "is_dir": self.is_dir}


@dataclass
class ParsedListing:
    family: str
    entries: list[ListedItem] = field(default_factory=list)
    truncated: bool = False
    """The page held more links than ``max_entries``: only the first ones were parsed."""
    structural: bool = False
    """Recognised by its structure alone (no family's markup): worth a confirming request."""
    points: float = 0.0
    """The structural evidence (``listing_structure.Evidence.points``) when ``structural``."""


# -- HTML tokens -------------------------------------------------------------------------------

_KEEP_TAGS = frozenset(
    {"a", "tr", "li", "br", "td", "th", "pre", "table", "ul", "ol", "hr", "title", "h1", "h2"}
    | {"time", "span", "div", "form", "input", "script", "style"}
)
_ROW_BREAKS = frozenset({"tr", "li", "br", "table", "ul", "ol", "pre", "hr"})


@dataclass
class _Anchor:
    href: str
    text: str = ""
    before: str = ""
    after: str = ""
    attrs_after: dict[str, str] = field(default_factory=dict)


class _Tokenizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = ""
        self.tags: dict[str, int] = {}
        self.anchors: list[_Anchor] = []
        self.attr_values: list[tuple[str, str, str]] = []
        self._in: list[str] = []
        self._cur: _Anchor | None = None
        self._last: _Anchor | None = None
        self._before: list[str] = []
        self._after_open = False
        self.tokens = 0

    def _count(self) -> bool:
        self.tokens += 1
        return self.tokens <= MAX_TOKENS

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._count() or tag not in _KEEP_TAGS:
            return
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = {k.lower(): (v or "") for k, v in attrs}
        for k, v in a.items():
            if k in ("summary", "class", "data-size", "datetime"):
                self.attr_values.append((tag, k, v))
        if tag in ("title", "h1", "h2", "script", "style", "pre"):
            self._in.append(tag)
        if tag == "a" and "href" in a:
            self._after_open = False
            self._cur = _Anchor(href=a["href"], before="".join(self._before))
            self._before = []
            return
        if tag in _ROW_BREAKS:
            self._after_open = False
            self._before = []
        else:
            self._before.append(" ")
        if self._after_open and self._last is not None:
            self._last.after += " "
            for k in ("data-size", "datetime"):
                if k in a:
                    self._last.attrs_after.setdefault(k, a[k])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("title", "h1", "h2", "script", "style", "pre"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self._count():
            return
        if tag in self._in:
            while self._in and self._in.pop() != tag:
                pass
        if tag == "a" and self._cur is not None:
            self.anchors.append(self._cur)
            self._last = self._cur
            self._cur = None
            self._after_open = True
        elif tag in ("tr", "li"):
            self._after_open = False
        elif self._after_open and self._last is not None:
            self._last.after += " "

    def handle_data(self, data: str) -> None:
        if not self._count():
            return
        if "script" in self._in or "style" in self._in:
            return
        if "title" in self._in:
            self.title += data
        if "h1" in self._in or "h2" in self._in:
            self.h1 += data
        if self._cur is not None:
            self._cur.text += data
            return
        if self._after_open and self._last is not None:
            if "\n" in data and "pre" in self._in:
                head, _, tail = data.partition("\n")
                self._last.after += head
                self._after_open = False
                self._before = [tail]
                return
            self._last.after += data
            return
        self._before.append(data)
        if len(self._before) > 64:
            self._before = self._before[-64:]


# -- entry extraction --------------------------------------------------------------------------

_SIMPLE_HREF = re.compile(r"^[^/?#:.][^/?#:]*/?$")


def _child(base: str, href: str) -> tuple[str, bool] | None:
    """(name, is_dir) when ``href`` is a direct child of the directory ``base``; else None."""
    href = href.strip()
    if not href or href.startswith(("?", "#", "mailto:", "javascript:", "data:")):
        return None
    if _SIMPLE_HREF.match(href):  # fast path: 'name' or 'name/' relative to the directory
        name = unquote(href.rstrip("/"))
        return (name, href.endswith("/")) if name not in (".", "..") and "/" not in name else None
    try:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            return None
        resolved = urlsplit(urljoin(base, parts.path)).path
    except ValueError:  # e.g. an unbalanced '[' read as an IPv6 host
        return None
    if not resolved.startswith(base) or resolved == base:
        return None
    rest = resolved[len(base) :]
    is_dir = rest.endswith("/")
    name = unquote(rest.rstrip("/"))  # decoded first: '/data/a%2Fb' is no child named 'a/b'
    if not name or "/" in name or name in (".", ".."):
        return None
    return name, is_dir


def _dir_base(path: str) -> str:
    try:
        p = urlsplit(path).path or "/"
    except ValueError:  # '//[x': not a URL we can resolve against
        p = "/"
    if not p.startswith("/"):
        p = "/" + p
    return p if p.endswith("/") else p + "/"


def _items(
    tok: _Tokenizer, base: str, *, meta_side: str, dir_marker: str | None
) -> list[ListedItem]:
    items: dict[str, ListedItem] = {}
    for a in tok.anchors:
        child = _child(base, a.href)
        if child is None:
            continue
        name, is_dir = child
        is_dir = is_dir or a.text.strip().endswith("/")
        meta = a.before if meta_side == "before" else a.after
        if dir_marker and dir_marker in meta.lower():
            is_dir = True
        mtime = None
        if "datetime" in a.attrs_after:
            mtime = normalise_date(a.attrs_after["datetime"])
        rest = meta
        if mtime is None:
            mtime, rest = find_date(meta)
        size: int | None = None
        if "data-size" in a.attrs_after:
            size = parse_size(a.attrs_after["data-size"])
        elif not is_dir:
            size = parse_size(rest)
        if is_dir and "data-size" in a.attrs_after:
            size = None
        if name not in items:
            items[name] = ListedItem(name=name, size=size, mtime=mtime, is_dir=is_dir)
    return list(items.values())


def _has_attr(tok: _Tokenizer, key: str, contains: str = "") -> bool:
    return any(k == key and contains in v.lower() for _, k, v in tok.attr_values)


def _detect_family(tok: _Tokenizer, server: str) -> str | None:
    title = " ".join(tok.title.split())
    tl = title.lower()
    h1 = " ".join(tok.h1.split()).lower()
    hrefs = [a.href for a in tok.anchors]
    texts = [a.text.strip().lower() for a in tok.anchors]
    if tl.startswith("directory listing for [") or h1.startswith("directory listing for ["):
        return "tomcat"
    if tl.startswith("directory listing for ") and h1.startswith("directory listing for "):
        return "python"
    if _has_attr(tok, "summary", "directory listing") and tok.tags.get("table"):
        return "lighttpd"
    if "[to parent directory]" in texts or (
        re.match(r"^\S+ - /", title) and tok.tags.get("pre") and tok.tags.get("br")
    ):
        return "iis"
    if _has_attr(tok, "data-size") and ("caddy" in server or _has_attr(tok, "datetime")):
        return "caddy"
    sort_links = sum(1 for h in hrefs if h.upper().startswith("?C=N;O="))
    if sort_links and tl.startswith("index of "):
        return "apache-fancy-table" if tok.tags.get("table") else "apache-fancy-pre"
    if tl.startswith("index of ") and h1.startswith("index of "):
        if tok.tags.get("pre") and hrefs[:1] == ["../"] and tok.tags.get("hr"):
            return "nginx"
        if tok.tags.get("ul") and tok.tags.get("li") and not tok.tags.get("pre"):
            return "apache-ul"
    return None


def _dominance(tok: _Tokenizer, base: str) -> float:
    """Share of the page's links (not sort links, anchors or ancestors) that are children."""
    links = 0
    children = 0
    for a in tok.anchors:
        href = a.href.strip()
        if not href or href.startswith(("?", "#")):
            continue
        try:
            parts = urlsplit(href)
            if not parts.scheme and not parts.netloc:
                resolved = urlsplit(urljoin(base, parts.path)).path
                if base.startswith(resolved if resolved.endswith("/") else resolved + "/"):
                    continue  # the parent or another ancestor
        except ValueError:  # an unbalanced '[' read as an IPv6 host: a link, not a child
            pass
        links += 1
        if _child(base, href) is not None:
            children += 1
    return 1.0 if links == 0 else children / links


_STRICT_FAMILIES = frozenset(
    {"nginx", "apache-ul", "apache-fancy-table", "apache-fancy-pre", "python", "iis", "tomcat"}
)


def _parse_html(body: str, base: str, server: str, max_entries: int) -> ParsedListing | None:
    parsed = _parse_family_html(body, base, server, max_entries)
    if parsed is not None:
        return parsed
    return _generic(structural_listing(body, base, max_links=max_entries + 64), max_entries)


def _generic(found: StructuralResult | None, max_entries: int) -> ParsedListing | None:
    """The listing a structural result stands for (family ``generic``), or None."""
    if found is None:
        return None
    items = [ListedItem(name=n, size=s, mtime=m, is_dir=d) for n, d, s, m in found.entries]
    return ParsedListing(
        "generic",
        items[:max_entries],
        truncated=found.truncated or len(items) > max_entries,
        structural=True,
        points=found.points,
    )


def _parse_family_html(
    body: str, base: str, server: str, max_entries: int
) -> ParsedListing | None:
    tok = _Tokenizer()
    cut = False
    try:
        for i in range(0, len(body), 32768):
            tok.feed(body[i : i + 32768])
            if len(tok.anchors) > max_entries + 64:
                cut = True
                break
        else:
            tok.close()
    except Exception:  # HTMLParser is lenient; anything left is a non-listing
        return None
    return _family_result(tok, base, server, max_entries, cut)


def _family_result(
    tok: _Tokenizer, base: str, server: str, max_entries: int, cut: bool
) -> ParsedListing | None:
    """The family listing of what ``tok`` read; ``cut``: it stopped at the anchor bound."""
    parsed = _parse_tokens(tok, base, server)
    if parsed is not None and cut:
        parsed.truncated = True
        parsed.entries = parsed.entries[:max_entries]
    return parsed


def _parse_tokens(tok: _Tokenizer, base: str, server: str) -> ParsedListing | None:
    family = _detect_family(tok, server)
    if family in _STRICT_FAMILIES and (
        tok.tags.get("form") or tok.tags.get("input") or _dominance(tok, base) < 0.9
    ):
        family = None
    if family is None:
        return None
    if family == "iis":
        return ParsedListing(family, _items(tok, base, meta_side="before", dir_marker="<dir>"))
    return ParsedListing(family, _items(tok, base, meta_side="after", dir_marker=None))


# -- JSON and XML formats ----------------------------------------------------------------------


def _parse_json(body: str) -> ParsedListing | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the stack
        return None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        found = json_listing(data)
        if not found:
            return None
        items = [ListedItem(name=n, size=s, mtime=m, is_dir=d) for n, d, s, m in found]
        return ParsedListing("generic-json", items, structural=True)
    if all("name" in x and x.get("type") in ("file", "directory", "other") for x in data):
        out = [
            ListedItem(
                name=str(x["name"]),
                size=int(x["size"]) if isinstance(x.get("size"), int) else None,
                mtime=normalise_date(str(x.get("mtime", ""))),
                is_dir=x["type"] == "directory",
            )
            for x in data
        ]
        return ParsedListing("nginx-json", out)
    if all("name" in x and "is_dir" in x and "url" in x for x in data):
        out = [
            ListedItem(
                name=str(x["name"]).rstrip("/"),
                size=None if x["is_dir"] or not isinstance(x.get("size"), int) else x["size"],
                mtime=normalise_date(str(x.get("mod_time", ""))),
                is_dir=bool(x["is_dir"]),
            )
            for x in data
        ]
        return ParsedListing("caddy-json", out)
    found = json_listing(data)
    if not found:
        return None
    items = [ListedItem(name=n, size=s, mtime=m, is_dir=d) for n, d, s, m in found]
    return ParsedListing("generic-json", items, structural=True)


def _parse_nginx_xml(body: bytes) -> ParsedListing | None:
    root = xml_root(body, "list")
    if root is None:
        return None
    out: list[ListedItem] = []
    for el in root:
        if el.tag not in ("file", "directory"):
            return None
        size = el.get("size") or ""
        mtime = el.get("mtime")
        out.append(
            ListedItem(
                name=el.text.strip() if el.text else "",
                size=parse_decimal(size),
                mtime=normalise_date(mtime) if mtime else None,
                is_dir=el.tag == "directory",
            )
        )
    return ParsedListing("nginx-xml", out)


# -- entry point -------------------------------------------------------------------------------


def _charset(content_type: str) -> str | None:
    """The charset a Content-Type names (not checked against the codecs)."""
    m = re.search(r"charset=([\w-]+)", content_type, re.I)
    return m.group(1) if m else None


def _decode(body: bytes, content_type: str) -> str:
    charset = _charset(content_type)
    if charset:
        try:
            return body.decode(charset, errors="replace")
        except LookupError:
            pass
    return body.decode("utf-8", errors="replace")


def parse_listing(
    body: bytes,
    *,
    path: str = "/",
    content_type: str = "",
    server: str = "",
    max_entries: int = 20000,
) -> ParsedListing | None:
    """The listing on this page, or None when the page is not a directory listing."""
    ct = content_type.lower()
    head = body[:64].lstrip()
    if "json" in ct or head.startswith((b"[", b"{")):
        return _parse_json(_decode(body, content_type))
    if head.startswith(b"<?xml") or "xml" in ct:
        if b"<list" in body[:512]:
            return _parse_nginx_xml(body)
        return None
    return _parse_html(_decode(body, content_type), _dir_base(path), server.lower(), max_entries)
