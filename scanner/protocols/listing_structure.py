"""Directory listings recognised by their structure, whatever server wrote them.

``structural_listing(html, base)`` answers the entries of an HTML page when the page *looks
like* a listing of the directory ``base`` (a decoded path ending in ``/``), and None otherwise.
No server family's words are used; the evidence is:

- most of the page's links point at **children** of ``base`` (``name``, ``name/``,
  ``./name``, ``/base/name``), and the link's text is the name (possibly cut short, or with
  the name's size and date inside the link);
- a **parent** link (``../``, ``..``, ``/parent/``), the **path** in the title or a heading;
- **sizes or dates** in the row of each link, whatever the layout: a table row, a list item, a
  card (the highest element holding this entry and no other), or a line of a ``<pre>``/``<br>``
  block (sizes before or after the name);
- little **free text** outside those rows (an article, a download page or a login page has
  prose and other links); a password field or long prose in the rows vetoes.

Links that are not children are not entries: ``%2e%2e/``, ``a%2Fb``, links two levels down,
absolute links elsewhere, other hosts, queries and fragments. The row of each entry also gives
the directory flag (trailing ``/`` on the link or its text, a ``d`` mode, a ``<dir>`` cell, a
row without size where the others have one).

``json_listing(data)`` does the same for JSON listings (a list of objects, or an object holding
one, whose members carry a name and a file/directory type, a size or a date).

Both are pure functions: no input raises (they answer None), and the work is bounded by the
body size (``MAX_TOKENS`` HTML tokens, a bounded element depth, linear passes).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from scanner.protocols.listing_fields import SIZE_RE, find_date, normalise_date, parse_size

MAX_TOKENS = 400_000
MAX_DEPTH = 256
MIN_POINTS = 2.0

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr", "param", "keygen"}
)  # fmt: skip
_SKIP = frozenset({"script", "style", "template", "noscript", "svg", "textarea", "select"})
_BLOCK = frozenset(
    {"div", "p", "li", "tr", "table", "tbody", "thead", "ul", "ol", "dl", "dt", "dd", "section",
     "article", "header", "footer", "main", "nav", "form", "pre", "blockquote", "address",
     "center", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "br", "aside", "figure"}
)  # fmt: skip
# start tag -> (tags it closes when open, tags that stop the search)
_IMPLICIT = {
    "li": ({"li"}, {"ul", "ol", "menu"}),
    "tr": ({"tr", "td", "th"}, {"table", "tbody", "thead", "tfoot"}),
    "td": ({"td", "th"}, {"tr", "table"}),
    "th": ({"td", "th"}, {"tr", "table"}),
    "dt": ({"dt", "dd"}, {"dl"}),
    "dd": ({"dt", "dd"}, {"dl"}),
    "p": ({"p"}, {"div", "body", "td", "li"}),
    "a": ({"a"}, {"td", "li", "div", "tr", "table", "body"}),
    "option": ({"option"}, {"select"}),
}


class _Node:
    __slots__ = ("attrs", "children", "entry", "multi", "parent", "pre", "tag")

    def __init__(self, tag: str, attrs: dict[str, str], parent: _Node | None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[_Node | str] = []
        self.parent = parent
        self.entry: str | None = None  # the one entry name below this node (see ``multi``)
        self.multi = False  # more than one entry below this node
        self.pre: bool = tag == "pre" or (parent is not None and parent.pre)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {}, None)
        self.stack: list[_Node] = [self.root]
        self.anchors: list[_Node] = []
        self.title = ""
        self.headings: list[str] = []
        self.password = False
        self.tokens = 0
        self._skip = 0
        self._in_title = False
        self._heading: list[str] | None = None

    def _count(self) -> bool:
        self.tokens += 1
        return self.tokens <= MAX_TOKENS

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._count():
            return
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip += 1
            return
        if self._skip:
            return
        a = {k.lower(): (v or "") for k, v in attrs[:32]}
        if tag == "input" and a.get("type", "").lower() == "password":
            self.password = True
        if tag == "title":
            self._in_title = True
            return
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = []
        closes = _IMPLICIT.get(tag)
        if closes is not None:
            for i in range(len(self.stack) - 1, max(0, len(self.stack) - 16), -1):
                t = self.stack[i].tag
                if t in closes[1]:
                    break
                if t in closes[0]:
                    del self.stack[i:]
                    break
        parent = self.stack[-1]
        node = _Node(tag, a, parent)
        parent.children.append(node)
        if tag == "a" and "href" in a:
            self.anchors.append(node)
        if tag not in _VOID and len(self.stack) < MAX_DEPTH:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:  # <svg/> and the like open nothing
            self._count()
            return
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack[-1].tag == tag and len(self.stack) > 1:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if not self._count():
            return
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag == "title":
            self._in_title = False
            return
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None
        for i in range(len(self.stack) - 1, max(0, len(self.stack) - 64), -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not self._count() or self._skip:
            return
        if self._in_title:
            self.title += data[:500]
            return
        if self._heading is not None and len(self._heading) < 64:
            self._heading.append(data)
        self.stack[-1].children.append(data)


def _walk(node: _Node) -> Iterator[_Node | str]:
    """Every node and text below ``node`` in document order (iterative: no recursion)."""
    todo: list[_Node | str] = list(reversed(node.children))
    while todo:
        item = todo.pop()
        yield item
        if isinstance(item, _Node):
            todo.extend(reversed(item.children))


def _text(node: _Node) -> str:
    """The text below ``node``, one space between the texts of different elements."""
    return " ".join(" ".join(x for x in _walk(node) if isinstance(x, str)).split())


def _words(text: str) -> int:
    return len(text.split())


# -- links -------------------------------------------------------------------------------------

_NAME_KEYS_SKIP = ("#", "?", "javascript:", "mailto:", "data:", "tel:")


_SIMPLE = re.compile(r"^[^/?#:\\.][^/?#:\\]*/?$")


@dataclass
class Link:
    kind: str  # child | parent | ancestor | ignore | other
    name: str = ""
    is_dir: bool = False
    offsite: bool = False


def _segments(path: str) -> list[str] | None:
    """Decoded segments of an encoded path; None when one hides a '/' or a dot segment."""
    out = []
    for raw in path.split("/")[1:]:
        seg = unquote(raw)
        if "/" in seg or (seg in (".", "..") and raw != seg):
            return None
        out.append(seg)
    return out


def classify_link(base: str, href: str) -> Link:
    """What ``href`` on the page of directory ``base`` (decoded, ending in '/') points at."""
    href = href.strip()
    if not href or href.lower().startswith(_NAME_KEYS_SKIP):
        return Link("ignore")
    if _SIMPLE.match(href):  # fast path: 'name' or 'name/' (the usual listing link)
        name = unquote(href[:-1] if href.endswith("/") else href)
        if "/" in name or "\\" in name or name in (".", ".."):
            return Link("other")
        return Link("child", name, href.endswith("/"))
    try:
        parts = urlsplit(href)
    except ValueError:
        return Link("other")
    if parts.scheme or parts.netloc or href.startswith("//"):
        return Link("other", offsite=True)
    if "\\" in parts.path:
        return Link("other")
    if parts.path.rstrip("/") in ("..", "./.."):  # the parent (also "../" on "/" itself)
        return Link("parent")
    base_segs = [s for s in base.split("/")[1:] if s != ""]
    joined = urljoin("/" + "/".join(_quote_seg(s) for s in base_segs) + "/", parts.path or "./")
    if not joined.startswith("/"):  # urljoin drops the leading '/' when '..' climbs above it
        joined = "/" + joined  # (RFC 3986: excess '..' stop at the root)
    segs = _segments(joined)
    if segs is None:
        return Link("other")
    is_dir = joined.endswith("/")
    segs = [s for s in segs if s != ""] if is_dir else [s for s in segs[:-1] if s] + segs[-1:]
    if any(s in (".", "..") for s in segs):
        return Link("other")
    if len(segs) == len(base_segs) + 1 and segs[:-1] == base_segs and segs[-1]:
        if parts.query:
            return Link("ignore")  # another view of a child (``name?view``)
        return Link("child", segs[-1], is_dir)
    if len(segs) <= len(base_segs) and segs == base_segs[: len(segs)]:
        if len(segs) == len(base_segs) - 1:
            return Link("parent")
        return Link("ignore" if len(segs) == len(base_segs) else "ancestor")
    return Link("other")


def _quote_seg(seg: str) -> str:
    from urllib.parse import quote

    return quote(seg, safe="")


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


# -- sizes and dates (shared with the family parsers) -------------------------------------------


def _meta(text: str) -> tuple[str | None, int | None, str]:
    mtime, rest = find_date(text)
    return mtime, parse_size(rest), rest


_DIR_WORD = re.compile(r"(<dir>|\[dir\]|\bdirectory\b|\bfolder\b|(?<!\S)\(?d[r-][w-][xsS-])", re.I)
_NAME_WORDS = re.compile(r"[^\W\d_]{2,}")


@dataclass
class _Row:
    name: str
    link_dir: bool
    text: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    display: str = ""
    title: str = ""


def _name_shown(name: str, display: str, title: str) -> bool:
    """The link's text (or title) is the entry's name: whole, cut short, or with metadata."""
    t = _nfc(display.strip())
    n = _nfc(name)
    if t.rstrip("/") == n or _nfc(title.strip()).rstrip("/") == n:
        return True
    if not t:
        return False
    stem = re.sub(r"(\.\.>|\.\.\.|…|\.\.|~)$", "", t).rstrip()
    if len(stem) >= 8 and n.startswith(stem):
        return True
    if n in t:  # the name with its size and date inside the link, or an icon's [DIR]
        rest = SIZE_RE.sub(" ", find_date(t.replace(n, " ", 1))[1])
        rest = re.sub(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>", " ", rest)
        return not _NAME_WORDS.findall(rest)
    return False


@dataclass
class Evidence:
    children: int = 0
    others: int = 0
    offsite: int = 0
    """Of the others, links to another host."""
    parent: bool = False
    named: int = 0
    with_meta: int = 0
    dir_marked: bool = False
    path_shown: bool = False
    free_words: int = 0
    row_words: list[int] = field(default_factory=list)
    password: bool = False
    shared: int = 0
    """Entries whose line holds other entries too (links inside prose, not one per row)."""

    def points(self) -> float:
        n = len(self.row_words)
        p = 0.0
        p += 1.0 if self.parent else 0.0
        p += 1.0 if self.path_shown else 0.0
        p += 1.0 if n and self.with_meta * 2 >= n else 0.0
        p += 0.5 if self.dir_marked else 0.0
        p += 1.0 if self.free_words <= 30 + 2 * n else 0.0
        p += 0.5 if n >= 3 else 0.0
        return p

    def vetoed(self) -> str | None:
        n = len(self.row_words)
        if n == 0:
            return "no child links"
        if self.password:
            return "password field"
        signature = self.others == 1 and self.offsite == 1  # one link away: a server's name
        if not signature and self.children < 0.7 * (self.children + self.others):
            return "most links are not children"
        if self.named < 0.7 * n:
            return "link texts are not the names"
        if self.shared * 2 > n:
            return "several entries per line"
        if sorted(self.row_words)[n // 2] > 15:
            return "prose in the rows"
        if self.free_words > 150 + 10 * n:
            return "prose outside the rows"
        return None


@dataclass
class StructuralResult:
    entries: list[tuple[str, bool, int | None, str | None]]
    evidence: Evidence
    points: float
    truncated: bool = False


def _path_shown(base: str, title: str, headings: list[str]) -> bool:
    texts = [" ".join(title.split()), *headings[:8]]
    if base == "/":
        return any(t == "/" or t.endswith((" /", ":/")) for t in texts)
    p = base.rstrip("/")
    last = p.rsplit("/", 1)[-1]
    return any(p in t or (last + "/") in t or t.endswith(" " + last) for t in texts)


def analyse(html: str, base: str, max_links: int = 50_000) -> StructuralResult | None:
    """The structural evidence and the entries of an HTML page (None: nothing listing-like).
    Parsing stops after ``max_links`` links (``truncated`` then says so)."""
    tb = _TreeBuilder()
    truncated = False
    try:
        for i in range(0, len(html), 32768):
            if tb.tokens > MAX_TOKENS or len(tb.anchors) > max_links:
                truncated = True
                break
            tb.feed(html[i : i + 32768])
        else:
            tb.close()
    except (AssertionError, ValueError):  # HTMLParser's own complaints: not a listing
        return None
    return analyse_tree(tb, base, truncated)


def analyse_tree(tb: _TreeBuilder, base: str, truncated: bool) -> StructuralResult | None:
    """``analyse`` of a page already fed to ``tb`` (``truncated``: the feeding stopped early)."""
    ev = Evidence(password=tb.password)
    rows: dict[str, _Row] = {}
    child_anchors: list[tuple[_Node, str]] = []
    marks: list[tuple[_Node, str]] = []
    cache: dict[str, Link] = {}
    for a in tb.anchors:
        href = a.attrs.get("href", "")
        link = cache.get(href) or cache.setdefault(href, classify_link(base, href))
        if link.kind == "other":
            ev.others += 1
            ev.offsite += link.offsite
        elif link.kind == "parent":
            ev.parent = True
        if link.kind in ("parent", "ancestor", "other"):
            marks.append((a, f"\0{len(marks)}"))  # another link: no row holds it and an entry
        if link.kind != "child":
            continue
        ev.children += 1
        name = _nfc(link.name)
        display = _text(a)
        row = rows.get(name)
        if row is None:
            row = rows[name] = _Row(name, link.is_dir)
        row.link_dir = row.link_dir or link.is_dir
        if not row.display or _name_shown(name, display, a.attrs.get("title", "")):
            row.display, row.title = display, a.attrs.get("title", "")
        child_anchors.append((a, name))
        marks.append((a, name))
    if not rows:
        return None
    _mark_entries(marks)
    for a, name in child_anchors:  # the name leaves the row: what stays is its metadata
        shown = _text(a)
        a.children = [shown.replace(name, " ", 1) if name in shown else " "]
    ev.shared, covered = _row_texts(child_anchors, rows)
    # free text: the page's words outside the entry rows
    total = sum(_words(x) for x in _walk(tb.root) if isinstance(x, str))
    ev.free_words = max(0, total - covered)
    ev.path_shown = _path_shown(base, tb.title, tb.headings)
    entries: list[tuple[str, bool, int | None, str | None]] = []
    sizes_seen = 0
    parsed: list[tuple[_Row, str | None, int | None, str]] = []
    for row in rows.values():
        named = _name_shown(row.name, row.display, row.title)
        ev.named += named
        mtime, size, rest = _meta(row.text)
        mtime = mtime or _attr_date(row.attrs)
        size = _attr_size(row.attrs) if _attr_size(row.attrs) is not None else size
        if mtime or size is not None:
            ev.with_meta += 1
        sizes_seen += size is not None
        ev.row_words.append(len(_NAME_WORDS.findall(rest)))
        parsed.append((row, mtime, size, rest))
    for row, mtime, size, rest in parsed:
        is_dir = row.link_dir or row.display.rstrip().endswith("/") or bool(_DIR_WORD.search(rest))
        if not is_dir and size is None and sizes_seen * 2 > len(parsed) and mtime:
            is_dir = True  # the others show a size, this one a date and no size
        ev.dir_marked = ev.dir_marked or is_dir
        entries.append((row.name, is_dir, None if is_dir else size, mtime))
    return StructuralResult(entries, ev, ev.points(), truncated)


def structural_listing(html: str, base: str, max_links: int = 50_000) -> StructuralResult | None:
    """The entries, (name, is_dir, size, mtime) each, when the page is a listing of ``base``."""
    return accepted(analyse(html, base, max_links))


def accepted(res: StructuralResult | None) -> StructuralResult | None:
    """``res`` when its evidence makes the page a listing (no veto, enough points)."""
    if res is None or res.evidence.vetoed() or res.points < MIN_POINTS:
        return None
    return res


def _mark_entries(child_anchors: list[tuple[_Node, str]]) -> None:
    """Record on every element which entry it holds, or that it holds several (linear)."""
    for a, name in child_anchors:
        node: _Node | None = a
        while node is not None and not node.multi:
            if node.entry is None:
                node.entry = name
            elif node.entry != name:
                node.multi = True
            else:
                break
            node = node.parent


def _row_texts(child_anchors: list[tuple[_Node, str]], rows: dict[str, _Row]) -> tuple[int, int]:
    """Fill each row's text (and attributes): the highest element holding only this entry, or
    the line of a shared block. Answers how many entries share a line with another one, and
    the words of all rows (every occurrence)."""
    covered = 0
    flat: dict[int, _Node] = {}
    seen_rows: set[int] = set()
    groups: dict[int, tuple[_Node, dict[int, _Row]]] = {}
    for a, name in child_anchors:
        row = rows[name]
        node = a
        while node.parent is not None and not node.parent.multi and node.parent.tag != "#root":
            if node.parent.tag in ("body", "html"):
                break
            node = node.parent
        if node is a and a.parent is not None and a.parent.multi:
            flat[id(a.parent)] = a.parent
            continue
        if id(node) in seen_rows:
            continue
        seen_rows.add(id(node))
        text = _text(node)
        covered += _words(text)
        if not row.text:
            row.text = text
            for x in _walk(node):
                if isinstance(x, _Node):
                    for k, v in x.attrs.items():
                        row.attrs.setdefault(k, v)
            for k, v in node.attrs.items():
                row.attrs.setdefault(k, v)
            if node.parent is not None:
                groups.setdefault(id(node.parent), (node.parent, {}))[1][id(node)] = row
    for parent, members in groups.values():
        _attach_siblings(parent, members)
    shared = 0
    for container in flat.values():
        for line, names in _lines(container):
            if names:
                covered += _words(line)
            if len(names) > 1:
                shared += len(names)
            elif names and names[0] in rows and not rows[names[0]].text:
                rows[names[0]].text = line
    return shared, covered


def _attach_siblings(parent: _Node, members: dict[int, _Row]) -> None:
    """Sizes and dates in sibling elements of the rows (``<dt>``+``<dd>``, a size cell beside
    a name card): the text between two rows belongs to the row before it, or to the row after
    it when the texts come first (text before the first row and none after the last)."""
    seq: list[_Row | str | None] = []  # a row, a text, or None for a barrier
    for k in parent.children[:50_000]:
        if isinstance(k, str):
            if k.strip():
                seq.append(k)
        elif id(k) in members:
            seq.append(members[id(k)])
        elif k.tag in ("tr", "thead", "tbody", "table") or any(
            isinstance(x, _Node) and x.tag == "a" for x in _walk(k)
        ):
            seq.append(None)
        else:
            text = _text(k)
            if text:
                seq.append(text)
    after: dict[int, list[str]] = {}
    before: dict[int, list[str]] = {}
    cur: _Row | None = None
    pending: list[str] = []
    for item in seq:
        if item is None:
            cur, pending = None, []
        elif isinstance(item, str):
            pending.append(item)
            if cur is not None:
                after.setdefault(id(cur), []).append(item)
        else:
            if pending:
                before[id(item)] = pending
            cur, pending = item, []
    rows = [r for r in seq if isinstance(r, _Row)]
    use = before if len(before) > len(after) else after
    for r in rows:
        extra = use.get(id(r))
        if extra:
            r.text = " ".join([r.text, *extra])


def _lines(container: _Node) -> Iterator[tuple[str, list[str]]]:
    """The lines of a shared block: split at newlines inside <pre>, <br> and block elements;
    each line with the entries whose links it holds."""
    buf: list[str] = []
    names: list[str] = []
    todo: list[_Node | str | None] = list(reversed(container.children))
    parents: list[_Node] = []
    while todo:
        item = todo.pop()
        if item is None:  # end of an element
            el = parents.pop()
            if el.tag in _BLOCK:
                yield " ".join("".join(buf).split()), names
                buf, names = [], []
            continue
        if isinstance(item, str):
            if container.pre and "\n" in item:
                pieces = item.split("\n")
                for piece in pieces[:-1]:
                    buf.append(piece)
                    yield " ".join("".join(buf).split()), names
                    buf, names = [], []
                buf.append(pieces[-1])
            else:
                buf.append(item)
            continue
        if item.tag in _BLOCK:
            yield " ".join("".join(buf).split()), names
            buf, names = [], []
        if item.tag == "a" and item.entry is not None and not item.entry.startswith("\0"):
            names.append(item.entry)
        parents.append(item)
        todo.append(None)
        todo.extend(reversed(item.children))
    yield " ".join("".join(buf).split()), names


def _attr_size(attrs: dict[str, str]) -> int | None:
    for k, v in attrs.items():
        if "size" in k and v.strip().isdigit() and len(v.strip()) < 19:
            return int(v.strip())
    return None


def _attr_date(attrs: dict[str, str]) -> str | None:
    for k, v in attrs.items():
        if k == "datetime" or ("date" in k or "time" in k or "modified" in k):
            d = normalise_date(v[:64])
            if d:
                return d
    return None


# -- JSON --------------------------------------------------------------------------------------

_J_NAME = ("basename", "base", "filename", "file_name", "name", "title", "key", "path", "href",
           "url", "relative")  # fmt: skip
_J_TYPE = ("type", "kind", "filetype", "file_type", "mime", "mimetype", "mime_type")
_J_DIR = ("is_dir", "isdir", "isDir", "is_directory", "isDirectory", "directory", "dir",
          "folder", "is_folder", "isFolder")  # fmt: skip
_J_SIZE = ("size", "length", "bytes", "filesize", "file_size", "content_length")
_J_TIME = ("mtime", "mod_time", "modtime", "modified", "last_modified", "lastModified",
           "lastmod", "date", "time", "updated", "ctime")  # fmt: skip
_DIR_TYPES = frozenset({"directory", "dir", "folder", "collection", "d"})
_FILE_TYPES = frozenset({"file", "f", "regular", "other", "link", "symlink"})


def _j_members(data: Any) -> list[dict[str, Any]] | None:
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v]
        lists = [v for v in lists if all(isinstance(x, dict) for x in v)]
        if not lists:
            return [] if any(isinstance(v, list) for v in data.values()) else None
        items = max(lists, key=len)
    else:
        return None
    if not all(isinstance(x, dict) for x in items):
        return None
    return items


def _j_size(v: Any) -> int | None:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    if isinstance(v, str) and v.strip():
        return parse_size(v[:64])
    return None


def json_listing(data: Any) -> list[tuple[str, bool, int | None, str | None]] | None:
    """(name, is_dir, size, mtime) when decoded JSON is a directory listing, else None."""
    items = _j_members(data)
    if items is None:
        return None
    if not items:
        return [] if isinstance(data, list) else None
    name_key = next((k for k in _J_NAME if all(isinstance(x.get(k), str) for x in items)), None)
    if name_key is None:
        return None
    typed = sum(
        1 for x in items
        if any(str(x.get(k, "")).lower() in _DIR_TYPES | _FILE_TYPES for k in _J_TYPE)
        or any(isinstance(x.get(k), bool) for k in _J_DIR)
    )  # fmt: skip
    sized = sum(
        1 for x in items
        if any(_j_size(x.get(k)) is not None for k in _J_SIZE)
        or any(x.get(k) is not None and normalise_date(str(x[k])[:64]) for k in _J_TIME)
    )  # fmt: skip
    if typed * 2 < len(items) and sized * 2 < len(items):
        return None
    out: list[tuple[str, bool, int | None, str | None]] = []
    for x in items:
        raw = str(x[name_key])
        is_dir = raw.endswith("/")
        for k in _J_TYPE:
            if str(x.get(k, "")).lower() in _DIR_TYPES:
                is_dir = True
        for k in _J_DIR:
            if x.get(k) is True:
                is_dir = True
        name = raw.rstrip("/").rsplit("/", 1)[-1]
        if name in ("", ".", ".."):
            continue
        size = next((_j_size(x.get(k)) for k in _J_SIZE if _j_size(x.get(k)) is not None), None)
        mtime = next(
            (normalise_date(str(x[k])[:64]) for k in _J_TIME if x.get(k) is not None), None
        )
        out.append((name, is_dir, None if is_dir else size, mtime))
    return out
