"""WebDAV (RFC 4918): the PROPFIND request body, multistatus parsing and OPTIONS evidence.

XML from the server goes through ``xmlsafe.parse_xml`` (no DTDs, no entities).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from scanner.protocols.listing_fields import normalise_date
from scanner.protocols.sizes import parse_decimal
from scanner.protocols.xmlsafe import parse_xml

PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/>'
    b"<D:getlastmodified/><D:displayname/></D:prop></D:propfind>\n"
)

WRITE_METHODS = ("PUT", "DELETE", "MKCOL", "MOVE", "COPY", "PROPPATCH", "LOCK")


@dataclass(frozen=True)
class DavResource:
    href: str
    """The decoded path of the resource (no scheme/host)."""
    is_collection: bool
    size: int | None = None
    mtime: str | None = None
    ok: bool = True
    """The propstat status was 2xx."""


_ROOT_START = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?multistatus)[\s/>]")
_RESPONSE_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?response\s*>")


def whole_responses(body: bytes) -> bytes | None:
    """A multistatus cut by the byte bound, as a document: its whole ``<response>`` elements, with
    the root element closed again (None when not even one response is whole). A directory of
    100,000 entries is then listed as far as the bound reached, not dropped."""
    root = _ROOT_START.search(body, 0, 4096)
    if root is None:
        return None
    end = max((m.end() for m in _RESPONSE_END.finditer(body, root.end())), default=0)
    if not end:
        return None
    return body[:end] + b"</" + root.group(1) + b">"


def parse_multistatus(body: bytes, *, truncated: bool = False) -> list[DavResource]:
    """Parse a 207 Multi-Status body; raises ValueError (or UnsafeXMLError) if it is not one.

    ``truncated``: the body was cut by the byte bound; its whole responses are parsed.
    """
    if truncated:
        whole = whole_responses(body)
        if whole is None:
            raise ValueError("multistatus cut by the byte bound before its first response")
        body = whole
    root = parse_xml(body)
    if root.tag != "multistatus":
        raise ValueError(f"not a multistatus document: <{root.tag}>")
    out: list[DavResource] = []
    for resp in root.iter("response"):
        href_txt = (resp.findtext("href") or "").strip()
        if not href_txt:
            continue
        href = unquote(urlsplit(href_txt).path) or "/"
        is_coll = False
        size: int | None = None
        mtime: str | None = None
        ok = False
        for ps in resp.iter("propstat"):
            status = (ps.findtext("status") or "").split()
            good = len(status) >= 2 and status[1].startswith("2")
            ok = ok or good
            prop = ps.find("prop")
            if prop is None or not good:
                continue
            rt = prop.find("resourcetype")
            if rt is not None and rt.find("collection") is not None:
                is_coll = True
            length = parse_decimal(prop.findtext("getcontentlength"))
            if length is not None:
                size = length  # BAD_SIZE for '²' or 400 digits: the crawler skips the entry
            lm = prop.findtext("getlastmodified")
            if lm:
                mtime = normalise_date(lm)
        status_el = resp.findtext("status")
        if status_el:  # a response-level status instead of propstats
            parts = status_el.split()
            ok = ok or (len(parts) >= 2 and parts[1].startswith("2"))
        out.append(DavResource(href, is_coll, None if is_coll else size, mtime, ok))
    return out


def dav_classes(header: str | None) -> list[str]:
    """``DAV: 1, 2, <http://apache.org/dav/propset/fs/1>`` -> ``['1', '2', '<...>']``."""
    if not header:
        return []
    return [c.strip() for c in header.split(",") if c.strip()]


def advertised_write_methods(allow: str | None) -> list[str]:
    """Write-capable methods named in an ``Allow``/``Public`` header (a hint; never tried)."""
    if not allow:
        return []
    methods = {m.strip().upper() for m in allow.split(",")}
    return [m for m in WRITE_METHODS if m in methods]
