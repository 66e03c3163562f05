"""Safe XML for untrusted server replies (WebDAV multistatus, S3, nginx autoindex XML).

Stdlib only: a first expat pass refuses any DOCTYPE, entity declaration or external reference
(billion laughs, XXE), then ElementTree builds the tree. Tags come back with their namespace
stripped (``{DAV:}href`` -> ``href``) because every caller matches on local names.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat

MAX_XML_BYTES = 8 * 1024 * 1024


class UnsafeXMLError(ValueError):
    """The document declares a DTD or entities, or is too large: never expanded."""


def _refuse(*_: Any) -> None:
    raise UnsafeXMLError("XML with DTD/entity declarations refused")


def _check(data: bytes, max_depth: int | None = None) -> None:
    if len(data) > MAX_XML_BYTES:
        raise UnsafeXMLError("XML document too large")
    p = expat.ParserCreate()
    if max_depth is not None:
        depth = [0]

        def start(*_: Any) -> None:
            depth[0] += 1
            if depth[0] > max_depth:
                raise UnsafeXMLError(f"XML nested deeper than {max_depth} elements")

        def end(*_: Any) -> None:
            depth[0] -= 1

        p.StartElementHandler = start
        p.EndElementHandler = end
    p.StartDoctypeDeclHandler = _refuse
    p.EntityDeclHandler = _refuse
    p.UnparsedEntityDeclHandler = _refuse
    p.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    try:
        p.Parse(data, True)
    except expat.ExpatError as exc:
        raise ValueError(f"malformed XML: {exc}") from None
    except (LookupError, RecursionError):  # an unknown encoding="..." declaration
        raise ValueError("malformed XML: unusable encoding or nesting") from None


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def parse_xml(data: bytes, max_depth: int | None = None) -> ET.Element:
    """Parse untrusted XML safely; raises ``UnsafeXMLError`` or ``ValueError``.

    ``max_depth`` also refuses documents nested deeper than that many elements."""
    _check(data, max_depth)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"malformed XML: {exc}") from None
    except (LookupError, RecursionError):
        raise ValueError("malformed XML: unusable encoding or nesting") from None
    for el in root.iter():
        if isinstance(el.tag, str):
            el.tag = local(el.tag)
    return root


def xml_root(data: bytes, tag: str) -> ET.Element | None:
    """The root of ``data`` when it is safe, well-formed XML whose root element (namespace
    stripped) is ``tag``; None for anything else (malformed, refused, another document)."""
    try:
        root = parse_xml(data)
    except ValueError:  # UnsafeXMLError is one too
        return None
    return root if root.tag == tag else None
