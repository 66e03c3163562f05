"""UPnP/DLNA media servers: SSDP (unicast M-SEARCH), device descriptions, ContentDirectory
SOAP ``Browse`` and DIDL-Lite.

Every XML document (device description, SOAP envelope, the DIDL-Lite escaped inside its
``<Result>``) goes through ``xmlsafe.parse_xml``: no DTD, no entity declaration (billion laughs,
XXE), bounded size and nesting depth. Parsers return typed values or raise ``UPnPError``
(a ``ValueError``); they never follow a URL themselves: resolving is ``urljoin`` only, and the
caller decides (through the dialer's scope check) whether a host may be contacted.

SSDP search is UNICAST only: one ``M-SEARCH`` datagram to the scanned address's UDP 1900
(UPnP Device Architecture 1.1, 1.3.2 "unicast search"), replies accepted only from that
address; never the multicast group.
"""

from __future__ import annotations

import asyncio
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

from scanner.dialer import Dialer
from scanner.protocols.xmlsafe import UnsafeXMLError, parse_xml

SSDP_PORT = 1900
MAX_SSDP_DATAGRAM = 8192
MAX_SSDP_REPLIES = 32
MAX_XML_DEPTH = 64
CONTENT_DIRECTORY = "urn:schemas-upnp-org:service:ContentDirectory"
BROWSE_ACTION = f'"{CONTENT_DIRECTORY}:1#Browse"'
MAX_DEVICES = 16
MAX_SERVICES = 64


class UPnPError(ValueError):
    """A reply that is not the UPnP document it should be."""


class SoapFault(UPnPError):
    """A SOAP fault with its UPnP error code (401 invalid action, 606 not authorized, ...)."""

    def __init__(self, code: int | None, description: str) -> None:
        super().__init__(f"UPnP error {code}: {description}"[:200])
        self.code = code
        self.description = description


# ------------------------------------------------------------------------------------ SSDP


@dataclass(frozen=True)
class SsdpReply:
    location: str
    st: str = ""
    usn: str = ""
    server: str = ""


def msearch(host: str, st: str = "ssdp:all", port: int = SSDP_PORT) -> bytes:
    """A unicast M-SEARCH for ``host`` (HOST names the device itself, not the group)."""
    if any(c in host + st for c in "\r\n"):
        raise ValueError("header injection")
    h = f"[{host}]" if ":" in host else host
    return (
        f"M-SEARCH * HTTP/1.1\r\nHOST: {h}:{port}\r\nMAN: \"ssdp:discover\"\r\n"
        f"ST: {st}\r\nUSER-AGENT: nasscan/0.1 UPnP/1.1 nasscan/0.1\r\n\r\n"
    ).encode("ascii")


def parse_ssdp_reply(data: bytes) -> SsdpReply | None:
    """One M-SEARCH response datagram; None when it is not one (or has no usable LOCATION)."""
    if len(data) > MAX_SSDP_DATAGRAM:
        return None
    text = data.decode("latin-1")
    lines = text.replace("\r\n", "\n").split("\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or not status[0].upper().startswith("HTTP/1.") or status[1] != "200":
        return None
    headers: dict[str, str] = {}
    for line in lines[1:65]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers.setdefault(name.strip().lower(), value.strip())
    location = headers.get("location", "")
    parts = urlsplit(location) if location.isprintable() else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        _ = parts.port
    except ValueError:
        return None
    return SsdpReply(location, headers.get("st", ""), headers.get("usn", ""),
                     headers.get("server", ""))  # fmt: skip


async def ssdp_search(
    dialer: Dialer, host: str, *, timeout: float = 1.0, port: int = SSDP_PORT
) -> list[SsdpReply]:
    """Unicast M-SEARCH to ``host``:``port`` on a connected UDP socket (so replies come only
    from there and an ICMP port-unreachable ends the wait at once); the distinct replies within
    ``timeout`` (at most ``MAX_SSDP_REPLIES`` datagrams read). The dialer refuses an
    out-of-scope host (``OutOfScopeError``)."""
    out: dict[str, SsdpReply] = {}
    async with dialer.udp(host, port) as sock:
        await sock.send(msearch(host, port=port))
        deadline = time.monotonic() + timeout
        for _ in range(MAX_SSDP_REPLIES):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                data, _addr = await asyncio.wait_for(sock.recv(), left)
            except (TimeoutError, ConnectionRefusedError):
                break
            reply = parse_ssdp_reply(data)
            if reply is not None and reply.location not in out:
                out[reply.location] = reply
    return list(out.values())


# --------------------------------------------------------------------------- descriptions


@dataclass(frozen=True)
class UPnPService:
    service_type: str
    control_url: str
    """Absolute (resolved against URLBase or the description's URL)."""
    scpd_url: str = ""


@dataclass
class Device:
    device_type: str = ""
    friendly_name: str = ""
    manufacturer: str = ""
    model_name: str = ""
    model_number: str = ""
    udn: str = ""
    services: list[UPnPService] = field(default_factory=list)

    def content_directory(self) -> UPnPService | None:
        for s in self.services:
            if s.service_type.startswith(CONTENT_DIRECTORY + ":"):
                return s
        return None

    def summary(self) -> dict[str, str]:
        return {k: v[:120] for k, v in (
            ("device_type", self.device_type), ("friendly_name", self.friendly_name),
            ("manufacturer", self.manufacturer), ("model_name", self.model_name),
            ("model_number", self.model_number)) if v}  # fmt: skip


def _parse(data: bytes) -> ET.Element:
    try:
        return parse_xml(data, max_depth=MAX_XML_DEPTH)
    except UnsafeXMLError:
        raise
    except ValueError as exc:
        raise UPnPError(str(exc)[:200]) from None


def _text(el: ET.Element | None, tag: str) -> str:
    if el is None:
        return ""
    found = el.find(tag)
    return (found.text or "").strip() if found is not None else ""


def parse_description(data: bytes, url: str) -> Device:
    """The root device of a UPnP device description (``<root><device>``), with the services of
    its embedded devices too; control URLs resolved against ``URLBase`` or ``url``."""
    root = _parse(data)
    if root.tag != "root":
        raise UPnPError(f"not a UPnP device description (<{root.tag[:40]}>)")
    top = root.find("device")
    if top is None:
        raise UPnPError("device description without <device>")
    base = _text(root, "URLBase") or url
    dev = Device(
        device_type=_text(top, "deviceType"), friendly_name=_text(top, "friendlyName"),
        manufacturer=_text(top, "manufacturer"), model_name=_text(top, "modelName"),
        model_number=_text(top, "modelNumber"), udn=_text(top, "UDN"),
    )  # fmt: skip
    devices = [top, *list(top.iter("device"))[1:MAX_DEVICES]]
    for d in devices:
        sl = d.find("serviceList")
        for s in sl.findall("service") if sl is not None else []:
            if len(dev.services) >= MAX_SERVICES:
                break
            st, ctl = _text(s, "serviceType"), _text(s, "controlURL")
            if not st or not ctl:
                continue
            dev.services.append(
                UPnPService(st, _join(base, ctl), _join(base, _text(s, "SCPDURL")))
            )
    return dev


def _join(base: str, ref: str) -> str:
    if not ref:
        return ""
    try:
        return urljoin(base, ref)
    except ValueError:
        return ""


# ------------------------------------------------------------------------------------ SOAP


def browse_request(
    object_id: str, start: int, count: int, flag: str = "BrowseDirectChildren"
) -> bytes:
    """The SOAP envelope of ContentDirectory:1 ``Browse`` (read-only)."""
    if flag not in ("BrowseDirectChildren", "BrowseMetadata"):
        raise ValueError("bad browse flag")
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
        ' s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f'<u:Browse xmlns:u="{CONTENT_DIRECTORY}:1">'
        f"<ObjectID>{escape(object_id)}</ObjectID><BrowseFlag>{flag}</BrowseFlag>"
        "<Filter>*</Filter>"
        f"<StartingIndex>{max(0, int(start))}</StartingIndex>"
        f"<RequestedCount>{max(0, int(count))}</RequestedCount>"
        "<SortCriteria></SortCriteria></u:Browse></s:Body></s:Envelope>"
    ).encode()


@dataclass
class BrowseResult:
    didl: str
    number_returned: int | None
    total_matches: int | None
    update_id: int | None = None


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


def parse_browse_response(data: bytes) -> BrowseResult:
    """A ``BrowseResponse`` (raises ``SoapFault`` for a SOAP fault, ``UPnPError`` otherwise)."""
    root = _parse(data)
    if root.tag != "Envelope":
        raise UPnPError(f"not a SOAP envelope (<{root.tag[:40]}>)")
    body = root.find("Body")
    if body is None or len(body) == 0:
        raise UPnPError("SOAP envelope without a body")
    first = body[0]
    if first.tag == "Fault":
        err = next(first.iter("UPnPError"), None)
        code = _int(_text(err, "errorCode")) if err is not None else None
        desc = _text(err, "errorDescription") if err is not None else _text(first, "faultstring")
        raise SoapFault(code, desc)
    if first.tag != "BrowseResponse":
        raise UPnPError(f"not a BrowseResponse (<{first.tag[:40]}>)")
    return BrowseResult(
        didl=_text(first, "Result"),
        number_returned=_int(_text(first, "NumberReturned")),
        total_matches=_int(_text(first, "TotalMatches")),
        update_id=_int(_text(first, "UpdateID")),
    )


# -------------------------------------------------------------------------------- DIDL-Lite


@dataclass(frozen=True)
class Resource:
    url: str
    size: int | None = None
    mime: str = ""


@dataclass(frozen=True)
class DidlObject:
    id: str
    title: str
    upnp_class: str
    is_container: bool
    child_count: int | None = None
    resources: tuple[Resource, ...] = ()
    ref_id: str = ""


def _mime(protocol_info: str) -> str:
    parts = protocol_info.split(":")
    return parts[2].strip().lower()[:80] if len(parts) >= 3 else ""


def parse_didl(text: str, max_objects: int = 10_000) -> list[DidlObject]:
    """Containers and items of a DIDL-Lite document (at most ``max_objects``)."""
    if not text.strip():
        return []
    root = _parse(text.encode("utf-8", "surrogatepass"))
    if root.tag != "DIDL-Lite":
        raise UPnPError(f"not DIDL-Lite (<{root.tag[:40]}>)")
    out: list[DidlObject] = []
    for el in root:
        if el.tag not in ("container", "item"):
            continue
        if len(out) >= max_objects:
            break
        res: list[Resource] = []
        for r in el.findall("res")[:8]:
            size_txt = (r.get("size") or "").strip()
            res.append(Resource(
                url=(r.text or "").strip(),
                size=int(size_txt) if size_txt.isdigit() and len(size_txt) <= 19 else None,
                mime=_mime(r.get("protocolInfo") or ""),
            ))  # fmt: skip
        out.append(DidlObject(
            id=el.get("id") or "",
            title=_text(el, "title"),
            upnp_class=_text(el, "class"),
            is_container=el.tag == "container",
            child_count=_int(el.get("childCount") or ""),
            resources=tuple(res),
            ref_id=el.get("refID") or "",
        ))  # fmt: skip
    return out


MIME_EXT = {
    "audio/x-wav": ".wav", "audio/wav": ".wav", "audio/vnd.wave": ".wav", "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/ogg": ".ogg", "audio/flac": ".flac",
    "audio/x-flac": ".flac", "audio/x-ms-wma": ".wma", "audio/amr": ".amr", "audio/aac": ".aac",
    "video/mp4": ".mp4", "video/x-matroska": ".mkv", "video/x-msvideo": ".avi",
    "video/mpeg": ".mpg", "image/jpeg": ".jpg", "image/png": ".png",
}  # fmt: skip


_HAS_EXT = re.compile(r"\.[A-Za-z0-9]{2,5}$")


def file_name(obj: DidlObject) -> str:
    """A listing name for an item: its title, with the extension of its resource URL (or of
    its MIME type) appended when the title has none, so that triage sees ``x.wav``."""
    title = obj.title.replace("/", "_").strip()
    if not title:
        return ""
    if _HAS_EXT.search(title):
        return title
    ext = ""
    if obj.resources:
        path = unquote(urlsplit(obj.resources[0].url).path)
        tail = path.rsplit("/", 1)[-1]
        if "." in tail:
            cand = "." + tail.rsplit(".", 1)[1].lower()
            if 2 <= len(cand) <= 6 and cand[1:].isalnum():
                ext = cand
        if not ext:
            ext = MIME_EXT.get(obj.resources[0].mime, "")
    return title + ext
