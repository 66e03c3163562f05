"""DLNA/UPnP media servers: the NAS checkbox that serves every recording to anyone.

UPnP AV has no authentication at all: a media server's ContentDirectory answers ``Browse`` to
whoever asks, and its items are plain HTTP URLs. Per TCP service:

1. SSDP: one unicast ``M-SEARCH`` to the scanned address's UDP 1900 (never the multicast
   group; option ``dlna.ssdp=0`` turns it off, ``dlna.ssdp_port`` moves it). A ``LOCATION``
   on this host and port gives the exact description URL; one elsewhere is passed to the
   dialer's scope check (out of scope: refused, noted) and otherwise only noted (that port is
   its own service).
2. The device description: the SSDP location(s), then well-known paths (``DESCRIPTION_PATHS``).
   No UPnP description, or a device without a ContentDirectory: ``not-applicable``.
3. ContentDirectory ``Browse`` (BrowseDirectChildren) of ObjectID ``0``, then every container
   through the shared crawler (``scanner.crawl``): containers are directories, items are files
   named by ``dc:title`` (with the extension of their resource URL or MIME type), sized by
   ``res@size``; paged Browse calls are charged to the same request budget as every listing.
   An item reached again through another view (MiniDLNA shows each file under Music, Artist,
   Album, Folders...) is recognised by its resource URL and counted once.
4. One ``HEAD`` of one item's resource (on the scanned address and port: servers often name
   another of their addresses in the URL) decides ``access``: ``read`` when it answers 200/206.

Findings: ``unauthenticated-access`` (resource: the ContentDirectory control path) with the
listing, and a separate ``cleartext-transport`` (the library and its media over plain HTTP).
A SOAP fault 606 (action not authorized) or HTTP 401/403 on Browse is ``auth-required``.

Read-only: Browse and HEAD only. Intrusive, only with ``--sample-bytes N``: the first
``min(N, MAX_SAMPLE_READ)`` bytes of a few items (``dlna.sample_files``) are read with a ranged
``GET`` and sniffed into ``evidence["sniffed"]``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from scanner.classify.magic import choose_samples, sniff_evidence
from scanner.crawl import Budget, CrawlResult, Item, Lister, Page, crawl
from scanner.dialer import Dialer, OutOfScopeError
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Finding,
    Kind,
    ProbeResult,
    ServiceInfo,
    Status,
    Transport,
)
from scanner.probe import MAX_SAMPLE_READ, Probe, ProbeContext, result_for_exception
from scanner.protocols import upnp
from scanner.protocols.http_client import MAX_PAGE_BODY, HttpError, HttpTarget
from scanner.protocols.xmlsafe import UnsafeXMLError

DESCRIPTION_PATHS = ("/rootDesc.xml", "/description.xml", "/DeviceDescription.xml")
PAGE = 200
"""Objects asked for per Browse call."""
MAX_DESCRIPTION = 256 * 1024
NET_ERRORS = (OSError, TimeoutError, HttpError, ssl.SSLError, asyncio.IncompleteReadError)
PROTOCOL_ERRORS = (upnp.UPnPError, UnsafeXMLError, HttpError)


_SSDP: weakref.WeakKeyDictionary[Dialer, dict[tuple[str, int], asyncio.Task[list[upnp.SsdpReply]]]]
_SSDP = weakref.WeakKeyDictionary()
"""One unicast M-SEARCH per host and scan (a scan has one dialer), shared by detect and run."""
SSDP_CACHE = 4096


def _ssdp_off(ctx: ProbeContext) -> bool:
    return str(ctx.option("dlna.ssdp", "1")).lower() in ("0", "no", "false", "off")


async def _ssdp_search(host: str, ctx: ProbeContext) -> list[upnp.SsdpReply]:
    port = int(ctx.option("dlna.ssdp_port", upnp.SSDP_PORT))
    timeout = float(ctx.option("dlna.ssdp_timeout", min(1.0, ctx.timeout / 10)))
    cache = _SSDP.setdefault(ctx.dialer, {})
    task = cache.get((host, port))
    if task is None:
        while len(cache) >= SSDP_CACHE:
            cache.pop(next(iter(cache)))
        task = asyncio.ensure_future(
            upnp.ssdp_search(ctx.dialer, host, timeout=timeout, port=port)
        )
        cache[(host, port)] = task
    return await asyncio.shield(task)  # one waiter's timeout must not cancel the others'


def _names(location: str, service: ServiceInfo) -> bool:
    """Does an SSDP LOCATION point at this very service (plain HTTP, same host and port)?"""
    parts = urlsplit(location)
    try:
        port = parts.port or 80
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname == service.host and port == service.port


class BrowseRefused(Exception):
    """Browse answered HTTP 401/403 or UPnP error 606: authentication or authorisation."""


@dataclass
class _State:
    target: HttpTarget
    control_path: str
    deadline: float
    max_body: int
    seen_res: set[str] = field(default_factory=set)
    repeated_items: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    res_of: dict[str, str] = field(default_factory=dict)
    """Listing path -> resource URL path on the scanned service."""
    res_urls: dict[str, str] = field(default_factory=dict)
    """Listing path -> resource URL as the server gave it."""
    mimes: dict[str, int] = field(default_factory=dict)

    def left(self) -> float:
        return self.deadline - time.monotonic()


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return path + ("?" + parts.query if parts.query else "")


async def _soap_browse(
    st: _State, object_id: str, start: int, budget: Budget
) -> upnp.BrowseResult:
    body = upnp.browse_request(object_id, start, PAGE)
    resp = await st.target.request(
        "POST", st.control_path,
        headers={"Content-Type": 'text/xml; charset="utf-8"', "SOAPACTION": upnp.BROWSE_ACTION},
        body=body, max_body=max(0, min(st.max_body, budget.bytes_left)),
        timeout=max(0.3, min(st.target.request_timeout, st.left())),
    )  # fmt: skip
    budget.spend(len(resp.body))
    if resp.status in (401, 403):
        raise BrowseRefused(f"HTTP {resp.status}")
    if resp.truncated:
        raise upnp.UPnPError("Browse reply cut by the byte bound")
    try:
        return upnp.parse_browse_response(resp.body)
    except upnp.SoapFault as exc:
        if exc.code == 606:
            raise BrowseRefused(str(exc)) from None
        raise


def _items(st: _State, parent: str, objs: list[upnp.DidlObject]) -> tuple[list[Item], int]:
    items: list[Item] = []
    bad = 0
    names: dict[str, int] = {}
    for o in objs:
        if o.is_container:
            if not o.id:
                bad += 1
                continue
            items.append(Item(name=o.title.replace("/", "_"), is_dir=True, handle=o.id,
                              key=("cd", o.id)))  # fmt: skip
            continue
        res = o.resources[0] if o.resources else None
        ident = _path_of(res.url) if res and res.url else ("id:" + (o.ref_id or o.id))
        if ident in st.seen_res:
            st.repeated_items += 1
            continue
        st.seen_res.add(ident)
        name = upnp.file_name(o)
        if not name:
            bad += 1
            continue
        n = names.get(name, 0) + 1
        names[name] = n
        if n > 1:  # two items with one title (e.g. ID3 titles): both are files
            stem, dot, ext = name.rpartition(".")
            name = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
        path = ("" if parent == "/" else parent) + "/" + name
        if res and res.url:
            st.res_of[path] = ident
            st.res_urls[path] = res.url
        cls = o.upnp_class or "?"
        st.classes[cls] = st.classes.get(cls, 0) + 1
        if res and res.mime:
            st.mimes[res.mime] = st.mimes.get(res.mime, 0) + 1
        items.append(Item(name=name, size=res.size if res else None))
    return items, bad


def _lister(st: _State) -> Lister:
    async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
        object_id = "0" if handle is None else str(handle)
        start = 0
        items: list[Item] = []
        bad = 0
        seen_pages: set[tuple[str, ...]] = set()
        page = Page()
        first = True
        while True:
            if not first and not budget.take():
                page.complete = False
                break
            first = False
            result = await _soap_browse(st, object_id, start, budget)
            objs = upnp.parse_didl(result.didl, max_objects=PAGE * 5)
            ids = tuple(o.id for o in objs)
            if ids and ids in seen_pages:  # the same page again: the server ignores StartingIndex
                page.loops += 1
                break
            seen_pages.add(ids)
            got, nbad = _items(st, path, objs)
            items += got
            bad += nbad
            returned = result.number_returned if result.number_returned is not None else len(objs)
            start += max(returned, len(objs))
            if not objs or returned < PAGE:
                break
            if result.total_matches and start >= result.total_matches:
                break
        page.items = items
        page.bad = bad
        return page

    return list_dir


class DlnaProbe(Probe):
    name = "dlna"
    default_ports = (8200, 50001, 32469, 9000)
    transport = Transport.TCP
    description = (
        "DLNA/UPnP media servers: ContentDirectory browsable by anyone (SSDP unicast to UDP"
        " 1900, device description, Browse); plain-HTTP media"
    )

    async def detect(self, service: ServiceInfo, ctx: ProbeContext) -> bool:
        """An unclaimed port is a media server when the host's SSDP answer names it (one
        unicast M-SEARCH per host and scan, shared with ``run``), or when ``/rootDesc.xml``
        (one GET) is a UPnP description with a ContentDirectory."""
        if service.greeting or service.tls:
            return False
        if not _ssdp_off(ctx):
            try:
                replies = await _ssdp_search(service.host, ctx)
            except (*NET_ERRORS, ValueError):
                replies = []
            if any(_names(r.location, service) for r in replies):
                return True
        target = HttpTarget(ctx.dialer, service.host, service.port, tls=False,
                            request_timeout=3.0, max_body=MAX_DESCRIPTION,
                            cache=ctx.responses)  # fmt: skip
        try:
            resp = await target.request("GET", DESCRIPTION_PATHS[0])
            if resp.status != 200:
                return False
            url = f"http://{target.authority}{DESCRIPTION_PATHS[0]}"
            return upnp.parse_description(resp.body, url).content_directory() is not None
        except (*NET_ERRORS, ValueError):
            return False

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        try:
            return await self._run(service, ctx)
        except Exception as exc:  # never raise
            return result_for_exception(exc, protocol_errors=PROTOCOL_ERRORS)

    async def _ssdp(
        self, service: ServiceInfo, ctx: ProbeContext, info: dict[str, Any]
    ) -> list[str]:
        """Description paths on this service from SSDP LOCATIONs (others are noted)."""
        if _ssdp_off(ctx):
            info["ssdp"] = "off"
            return []
        try:
            replies = await _ssdp_search(service.host, ctx)
        except OutOfScopeError:
            raise
        except (*NET_ERRORS, ValueError) as exc:
            info["ssdp"] = f"{type(exc).__name__}"
            return []
        info["ssdp"] = f"{len(replies)} replies" if replies else "no reply"
        paths: list[str] = []
        refused: list[str] = []
        others: list[str] = []
        for r in replies:
            parts = urlsplit(r.location)
            host, port = parts.hostname or "", parts.port or 80
            if _names(r.location, service):
                p = _path_of(r.location)
                if p not in paths:
                    paths.append(p)
                continue
            try:
                ctx.dialer.check(host, port)
            except OutOfScopeError:
                refused.append(r.location[:200])
                continue
            others.append(r.location[:200])
        if refused:
            info["ssdp_locations_out_of_scope"] = refused[:8]
        if others:
            info["ssdp_other_locations"] = others[:8]
        if replies:
            info["ssdp_server"] = replies[0].server[:120]
        return paths

    async def _run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        deadline = time.monotonic() + max(1.0, ctx.timeout * 0.85)
        target = HttpTarget(
            ctx.dialer, service.host, service.port, tls=bool(service.tls),
            request_timeout=min(10.0, max(1.0, ctx.timeout / 3)),
            max_body=min(MAX_PAGE_BODY, ctx.bounds.bytes), cache=ctx.responses,
        )  # fmt: skip
        info: dict[str, Any] = {}
        paths = await self._ssdp(service, ctx, info)
        paths += [p for p in DESCRIPTION_PATHS if p not in paths]
        device: upnp.Device | None = None
        desc_url = ""
        last_http: int | None = None
        for path in paths[:6]:
            left = deadline - time.monotonic()
            if left < 0.3:
                break
            try:
                resp = await target.request("GET", path, max_body=MAX_DESCRIPTION,
                                            timeout=min(target.request_timeout, left))
            except ConnectionRefusedError:
                raise
            except (*NET_ERRORS, ValueError):
                continue
            last_http = resp.status
            if resp.status != 200:
                continue
            url = f"{target.scheme}://{target.authority}{path}"
            try:
                device = upnp.parse_description(resp.body, url)
            except (upnp.UPnPError, UnsafeXMLError):
                continue
            desc_url = url
            break
        if device is None:
            return ProbeResult(
                status=Status.NOT_APPLICABLE, tls=target.tls, info=info,
                detail="no UPnP device description"
                + (f" (last HTTP status {last_http})" if last_http else ""),
            )  # fmt: skip
        info["description"] = desc_url
        info["device"] = device.summary()
        cd = device.content_directory()
        if cd is None:
            return ProbeResult(
                status=Status.NOT_APPLICABLE, protocol="upnp", tls=target.tls, info=info,
                detail="UPnP device without a ContentDirectory (not a media server)",
            )  # fmt: skip
        ctl = urlsplit(cd.control_url)
        info["control_url"] = cd.control_url
        if (ctl.hostname, ctl.port or 80) != (service.host, service.port):
            # the description names another address: the dialer decides; we browse here
            try:
                ctx.dialer.check(ctl.hostname or "", ctl.port or 80)
            except OutOfScopeError:
                info["control_url_out_of_scope"] = True
        st = _State(target, _path_of(cd.control_url), deadline - 0.3,
                    max_body=min(2 * 1024 * 1024, ctx.bounds.bytes))  # fmt: skip
        # the listing's request budget; one more request is kept for the HEAD of one item
        budget = Budget(max(1, ctx.bounds.requests - 1), ctx.bounds.bytes, st.deadline)
        lister = _lister(st)
        try:
            first = await lister("/", None, budget)  # the crawler charges it as its first
        except BrowseRefused as exc:
            return ProbeResult(
                status=Status.AUTH_REQUIRED, protocol="dlna", tls=target.tls, info=info,
                detail=f"Browse refused: {exc}",
            )  # fmt: skip
        except upnp.SoapFault as exc:
            return ProbeResult(status=Status.PROTOCOL_ERROR, protocol="dlna", tls=target.tls,
                               info=info, detail=str(exc))  # fmt: skip
        result = await crawl(
            lister, ctx.bounds, first=first, root_handle="0", root_key=("cd", "0"),
            budget=budget, seed=int(ctx.option("seed", 0) or 0), max_errors=5,
        )  # fmt: skip
        findings = [self._unauth(service, st, cd.control_url, device, result, desc_url)]
        f = findings[0]
        await self._head(st, f)
        if ctx.sample_bytes > 0:
            await self._sample(st, ctx, f)
        if not target.tls:
            findings.append(self._cleartext(service, st, desc_url))
        info["requests"] = target.requests
        info["bytes"] = target.bytes_read
        if ctx.sample_bytes > 0:
            info["intrusive"] = ["sample-bytes"]
        return ProbeResult(status=Status.SUCCESS, protocol="dlna", tls=target.tls,
                           findings=findings, info=info)  # fmt: skip

    def _unauth(
        self, service: ServiceInfo, st: _State, control_url: str, device: upnp.Device,
        result: CrawlResult, desc_url: str,
    ) -> Finding:  # fmt: skip
        files = sum(1 for e in result.entries if not e.is_dir)
        ev: dict[str, Any] = {
            "description": desc_url, "control_url": control_url, "device": device.summary(),
            "browse_requests": result.requests, "item_classes": dict(
                sorted(st.classes.items(), key=lambda kv: -kv[1])[:10]),
            "mime_types": dict(sorted(st.mimes.items(), key=lambda kv: -kv[1])[:10]),
        }  # fmt: skip
        if st.repeated_items:
            ev["items_in_several_views"] = st.repeated_items
        name = device.friendly_name or "media server"
        return Finding(
            host=service.host, hostname=service.hostname, port=service.port,
            protocol="dlna", kind=Kind.UNAUTHENTICATED_ACCESS,
            authentication=Authentication.NONE, encryption=Encryption.NONE,
            resource=st.control_path, access=Access.LIST,
            title=f"DLNA/UPnP media library '{name[:60]}' on {service.host}:{service.port}"
            f" browsable by anyone ({files}{'+' if result.truncated else ''} items seen)",
            evidence=ev,
            remediation="Turn the media server (DLNA/UPnP) off, or limit it to the folders meant"
            " for it and to trusted network segments: UPnP AV has no authentication.",
            probe=self.name, listing=result.listing(),
        )  # fmt: skip

    async def _head(self, st: _State, f: Finding) -> None:
        """One HEAD (the request kept apart from the listing's budget) of one item's resource
        on this service: ``access`` is ``read`` when it answers 200/206."""
        if not st.res_of or st.left() < 0.3:
            return
        path, res = next(iter(st.res_of.items()))
        try:
            resp = await st.target.request(
                "HEAD", res, max_body=0, timeout=max(0.3, min(st.target.request_timeout, st.left()))
            )
        except (*NET_ERRORS, OutOfScopeError, ValueError) as exc:
            f.evidence["head"] = f"{type(exc).__name__}"[:80]
            return
        f.evidence["head"] = {"item": path, "url": st.res_urls.get(path, res)[:200],
                              "status": resp.status}  # fmt: skip
        if resp.status in (200, 206):
            f.access = Access.READ

    async def _sample(self, st: _State, ctx: ProbeContext, f: Finding) -> None:
        """INTRUSIVE (``--sample-bytes N``): the first bytes of a few listed items."""
        n, count = ctx.sample_settings("dlna")
        if n == 0 or f.listing is None:
            return
        samples: dict[str, bytes] = {}
        errors: dict[str, str] = {}
        chosen = [e for e in choose_samples(f.listing.entries, count) if e.path in st.res_of]
        for e in chosen:
            if st.left() < 0.3:
                errors[e.path] = "no time left"
                break
            try:
                resp = await st.target.first_bytes(
                    st.res_of[e.path], n, timeout=max(0.3, min(st.target.request_timeout,
                                                               st.left()))
                )  # fmt: skip
            except (*NET_ERRORS, OutOfScopeError, ValueError) as exc:
                errors[e.path] = f"{type(exc).__name__}: {exc}"[:120]
                continue
            if resp.status not in (200, 206):
                errors[e.path] = f"HTTP {resp.status}"
                continue
            samples[e.path] = resp.body[:n]
        f.evidence["intrusive"] = ["sample-bytes"]
        f.evidence["sample_bytes"] = n
        f.evidence["sampled_files"] = len(samples)
        if samples:
            f.evidence["sniffed"] = sniff_evidence(samples)
        if errors:
            f.evidence["sample_errors"] = dict(list(errors.items())[:4])
        if int(ctx.sample_bytes or 0) > n:
            f.evidence["sample_note"] = f"at most {MAX_SAMPLE_READ} bytes are read per item"

    def _cleartext(self, service: ServiceInfo, st: _State, desc_url: str) -> Finding:
        return Finding(
            host=service.host, hostname=service.hostname, port=service.port,
            protocol="dlna", kind=Kind.CLEARTEXT_TRANSPORT,
            authentication=Authentication.NONE, encryption=Encryption.NONE, resource=None,
            title=f"DLNA/UPnP media server on {service.host}:{service.port} serves its library"
            " and media over plain HTTP",
            evidence={"description": desc_url, "scheme": "http",
                      "sample_resource_urls": list(st.res_urls.values())[:3]},
            remediation="UPnP AV has no encrypted transport: keep media servers off networks"
            " where the traffic can be read, and off for sensitive folders.",
            probe=self.name,
        )  # fmt: skip


PROBE = DlnaProbe()
