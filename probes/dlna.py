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

Gather/judge (``scanner.probe_skeleton``): ``gather`` records each step in ``DlnaFacts`` (SSDP,
the description, the first Browse's refusal or fault, the crawl as it fills, the HEAD, the
samples); ``judge`` decides the status and findings, also for an attempt cut short (the items
listed before the cut, the listing marked truncated).

Read-only: Browse and HEAD only. Intrusive, only with ``--sample-bytes N``: the first
``min(N, MAX_SAMPLE_READ)`` bytes of a few items (``dlna.sample_files``) are read with a ranged
``GET`` and sniffed into ``evidence["sniffed"]``.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from scanner.classify.magic import choose_samples
from scanner.crawl import Budget, Crawler, CrawlResult, Item, Lister, Page
from scanner.dialer import Dialer, OutOfScopeError
from scanner.http_samples import NET_ERRORS, STOP_MARGIN, sample_first_bytes
from scanner.models import Access, Encryption, Finding, ProbeResult, ServiceInfo, Status
from scanner.probe import ProbeContext, ProbeOption
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe, Samples
from scanner.protocols import upnp
from scanner.protocols.http_client import MAX_PAGE_BODY, HttpError, HttpTarget
from scanner.protocols.xmlsafe import UnsafeXMLError

DESCRIPTION_PATHS = ("/rootDesc.xml", "/description.xml", "/DeviceDescription.xml")
PAGE = 200
"""Objects asked for per Browse call."""
MAX_DESCRIPTION = 256 * 1024
PROTOCOL_ERRORS = (upnp.UPnPError, UnsafeXMLError, HttpError)


_SSDP: weakref.WeakKeyDictionary[Dialer, dict[tuple[str, int], asyncio.Task[list[upnp.SsdpReply]]]]
_SSDP = weakref.WeakKeyDictionary()
"""One unicast M-SEARCH per host and scan (a scan has one dialer), shared by detect and run."""
SSDP_CACHE = 4096


def _ssdp_off(ctx: ProbeContext) -> bool:
    return str(ctx.option("dlna.ssdp", "1")).lower() in ("0", "no", "false", "off")


async def _ssdp_search(host: str, ctx: ProbeContext) -> list[upnp.SsdpReply]:
    port = int(ctx.option("dlna.ssdp_port", upnp.SSDP_PORT))
    timeout = float(ctx.option("dlna.ssdp_timeout") or min(1.0, ctx.timeout / 10))
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
class DlnaFacts(Facts):
    """What one DLNA attempt saw, step by step (empty: that step was not reached)."""

    tls: bool | None = None
    ssdp: str | None = None
    """How the SSDP search went: ``off``, ``N replies``, ``no reply`` or the error's name."""
    ssdp_server: str | None = None
    ssdp_out_of_scope: list[str] = field(default_factory=list)
    """SSDP LOCATIONs naming an address outside the scope (refused by the dialer)."""
    ssdp_other: list[str] = field(default_factory=list)
    """SSDP LOCATIONs naming another service in scope (probed as that service)."""
    last_http: int | None = None
    """The last HTTP status of a description fetch."""
    description_url: str = ""
    device: upnp.Device | None = None
    control_url: str = ""
    control_out_of_scope: bool = False
    browse_refused: str | None = None
    """Why the first Browse was refused (HTTP 401/403, UPnP error 606)."""
    browse_fault: str | None = None
    """A SOAP fault other than 606 on the first Browse."""
    crawl: CrawlResult | None = None
    """The ContentDirectory crawl, filled as it goes (``crawl_done``: it finished)."""
    crawl_done: bool = False
    classes: dict[str, int] = field(default_factory=dict)
    """``upnp:class`` of the items seen, with counts."""
    mimes: dict[str, int] = field(default_factory=dict)
    repeated_items: int = 0
    """Items met again under another view (counted once)."""
    res_of: dict[str, str] = field(default_factory=dict)
    """Listing path -> resource URL path on the scanned service."""
    res_urls: dict[str, str] = field(default_factory=dict)
    """Listing path -> resource URL as the server gave it."""
    head: str | dict[str, Any] | None = None
    """The HEAD of one item: what it answered, or the error's name."""
    head_status: int | None = None
    samples: Samples = field(default_factory=Samples)
    requests: int = 0
    bytes: int = 0


@dataclass
class _State:
    """The live part of one attempt (the HTTP target, the browse deadline)."""

    facts: DlnaFacts
    target: HttpTarget
    control_path: str
    deadline: float
    max_body: int
    seen_res: set[str] = field(default_factory=set)

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
    f = st.facts
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
            f.repeated_items += 1
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
            f.res_of[path] = ident
            f.res_urls[path] = res.url
        cls = o.upnp_class or "?"
        f.classes[cls] = f.classes.get(cls, 0) + 1
        if res and res.mime:
            f.mimes[res.mime] = f.mimes.get(res.mime, 0) + 1
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


class DlnaProbe(GatherJudgeProbe[DlnaFacts]):
    name = "dlna"
    refines = "http"  # a media server is a web server too: on an unclaimed port, DLNA wins
    default_ports = (8200, 50001, 32469, 9000)
    description = (
        "DLNA/UPnP media servers: ContentDirectory browsable by anyone (SSDP unicast to UDP"
        " 1900, device description, Browse); plain-HTTP media"
    )
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("ssdp", "bool", True,
                    "one unicast SSDP M-SEARCH to UDP 1900 of the scanned address"),
        ProbeOption("ssdp_port", "int", upnp.SSDP_PORT, "UDP port of the SSDP search", minimum=1),
        ProbeOption("ssdp_timeout", "float", None,
                    "seconds to wait for SSDP answers (default: min(1, probe timeout / 10))",
                    minimum=0.1),
    )  # fmt: skip
    facts_type = DlnaFacts
    protocol_errors: ClassVar[tuple[type[BaseException], ...]] = PROTOCOL_ERRORS

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

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> DlnaFacts:
        samples = Samples.for_context(ctx, "dlna", unit="item")
        return DlnaFacts(service, samples=samples)

    # -- gather ----------------------------------------------------------------------------------
    async def _ssdp(self, service: ServiceInfo, ctx: ProbeContext, facts: DlnaFacts) -> list[str]:
        """Description paths on this service from SSDP LOCATIONs (others are noted)."""
        if _ssdp_off(ctx):
            facts.ssdp = "off"
            return []
        try:
            replies = await _ssdp_search(service.host, ctx)
        except OutOfScopeError:
            raise
        except (*NET_ERRORS, ValueError) as exc:
            facts.ssdp = f"{type(exc).__name__}"
            return []
        facts.ssdp = f"{len(replies)} replies" if replies else "no reply"
        paths: list[str] = []
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
                facts.ssdp_out_of_scope.append(r.location[:200])
                continue
            facts.ssdp_other.append(r.location[:200])
        if replies:
            facts.ssdp_server = replies[0].server[:120]
        return paths

    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: DlnaFacts, deadline: Deadline
    ) -> None:
        target = HttpTarget(
            ctx.dialer, service.host, service.port, tls=bool(service.tls),
            request_timeout=min(10.0, max(1.0, deadline.total / 3)),
            max_body=min(MAX_PAGE_BODY, ctx.bounds.bytes), cache=ctx.responses,
        )  # fmt: skip
        facts.tls = target.tls
        try:
            await self._gather(service, ctx, facts, deadline, target)
        finally:
            facts.requests, facts.bytes = target.requests, target.bytes_read

    async def _gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: DlnaFacts, deadline: Deadline,
        target: HttpTarget,
    ) -> None:  # fmt: skip
        paths = await self._ssdp(service, ctx, facts)
        paths += [p for p in DESCRIPTION_PATHS if p not in paths]
        for path in paths[:6]:
            left = deadline.left() - STOP_MARGIN
            if left < 0.3:
                break
            try:
                resp = await target.request("GET", path, max_body=MAX_DESCRIPTION,
                                            timeout=min(target.request_timeout, left))
            except ConnectionRefusedError:
                raise
            except (*NET_ERRORS, ValueError):
                continue
            facts.last_http = resp.status
            if resp.status != 200:
                continue
            url = f"{target.scheme}://{target.authority}{path}"
            try:
                facts.device = upnp.parse_description(resp.body, url)
            except (upnp.UPnPError, UnsafeXMLError):
                continue
            facts.description_url = url
            break
        cd = facts.device.content_directory() if facts.device is not None else None
        if cd is None:
            return
        facts.control_url = cd.control_url
        ctl = urlsplit(cd.control_url)
        if (ctl.hostname, ctl.port or 80) != (service.host, service.port):
            # the description names another address: the dialer decides; we browse here
            try:
                ctx.dialer.check(ctl.hostname or "", ctl.port or 80)
            except OutOfScopeError:
                facts.control_out_of_scope = True
        st = _State(facts, target, _path_of(cd.control_url), deadline.at - STOP_MARGIN,
                    max_body=min(2 * 1024 * 1024, ctx.bounds.bytes))  # fmt: skip
        # the listing's request budget; one more request is kept for the HEAD of one item
        budget = Budget(max(1, ctx.bounds.requests - 1), ctx.bounds.bytes, st.deadline)
        lister = _lister(st)
        try:
            first = await lister("/", None, budget)  # the crawler charges it as its first
        except BrowseRefused as exc:
            facts.browse_refused = str(exc)
            return
        except upnp.SoapFault as exc:
            facts.browse_fault = str(exc)
            return
        crawler = Crawler(
            lister, ctx.bounds, first=first, root_handle="0", root_key=("cd", "0"),
            budget=budget, seed=int(ctx.option("seed", 0) or 0), max_errors=5,
        )  # fmt: skip
        facts.crawl = crawler.result
        await crawler.run()
        facts.crawl_done = True
        await self._head(st)
        if facts.samples.size > 0:
            await self._sample(st)

    async def _head(self, st: _State) -> None:
        """One HEAD (the request kept apart from the listing's budget) of one item's resource
        on this service: ``access`` is ``read`` when it answers 200/206."""
        f = st.facts
        if not f.res_of or st.left() < 0.3:
            return
        path, res = next(iter(f.res_of.items()))
        try:
            resp = await st.target.request(
                "HEAD", res, max_body=0, timeout=max(0.3, min(st.target.request_timeout, st.left()))
            )
        except (*NET_ERRORS, OutOfScopeError, ValueError) as exc:
            f.head = f"{type(exc).__name__}"[:80]
            return
        f.head = {"item": path, "url": f.res_urls.get(path, res)[:200], "status": resp.status}
        f.head_status = resp.status

    async def _sample(self, st: _State) -> None:
        """INTRUSIVE (``--sample-bytes N``): the first bytes of a few listed items."""
        f = st.facts
        s = f.samples
        if f.crawl is None:
            return
        chosen = [(e.path, f.res_of[e.path])
                  for e in choose_samples(f.crawl.entries, s.files) if e.path in f.res_of]
        await sample_first_bytes(st.target, s, chosen, st.deadline)

    # -- judge -----------------------------------------------------------------------------------
    def judge(self, facts: DlnaFacts, cut: Cut | None) -> ProbeResult:
        info = self._info(facts)
        tls = facts.tls
        if facts.device is None:
            if cut is not None:
                return cut.result()
            return ProbeResult(
                status=Status.NOT_APPLICABLE, tls=tls, info=info,
                detail="no UPnP device description"
                + (f" (last HTTP status {facts.last_http})" if facts.last_http else ""),
            )  # fmt: skip
        if not facts.control_url:
            return ProbeResult(
                status=Status.NOT_APPLICABLE, protocol="upnp", tls=tls, info=info,
                detail="UPnP device without a ContentDirectory (not a media server)",
            )  # fmt: skip
        if facts.browse_refused is not None:
            return ProbeResult(
                status=Status.AUTH_REQUIRED, protocol="dlna", tls=tls, info=info,
                detail=f"Browse refused: {facts.browse_refused}",
            )  # fmt: skip
        if facts.browse_fault is not None:
            return ProbeResult(status=Status.PROTOCOL_ERROR, protocol="dlna", tls=tls,
                               info=info, detail=facts.browse_fault)  # fmt: skip
        if facts.crawl is None:  # cut before the first Browse answered
            return (cut or Cut(Status.ERROR, "no Browse answer")).result(
                protocol="dlna", tls=tls, info=info)
        findings = [self._unauth(facts, facts.crawl, cut)]
        if not tls:
            findings.append(self._cleartext(facts))
        if cut is not None:
            return cut.result(protocol="dlna", tls=tls, findings=findings, info=info)
        return ProbeResult(status=Status.SUCCESS, protocol="dlna", tls=tls,
                           findings=findings, info=info)  # fmt: skip

    def _info(self, facts: DlnaFacts) -> dict[str, Any]:
        info: dict[str, Any] = {}
        if facts.ssdp is not None:
            info["ssdp"] = facts.ssdp
        if facts.ssdp_out_of_scope:
            info["ssdp_locations_out_of_scope"] = facts.ssdp_out_of_scope[:8]
        if facts.ssdp_other:
            info["ssdp_other_locations"] = facts.ssdp_other[:8]
        if facts.ssdp_server is not None:
            info["ssdp_server"] = facts.ssdp_server
        if facts.device is None:
            return info
        info["description"] = facts.description_url
        info["device"] = facts.device.summary()
        if not facts.control_url:
            return info
        info["control_url"] = facts.control_url
        if facts.control_out_of_scope:
            info["control_url_out_of_scope"] = True
        if facts.crawl is not None:
            info["requests"] = facts.requests
            info["bytes"] = facts.bytes
            if facts.samples.size > 0:
                info["intrusive"] = ["sample-bytes"]
        return info

    def _unauth(self, facts: DlnaFacts, result: CrawlResult, cut: Cut | None) -> Finding:
        assert facts.device is not None
        # cut in the middle of the crawl: what it had listed, marked truncated
        listing = result.listing(cut=cut.detail if cut and not facts.crawl_done else None)
        files = sum(1 for e in result.entries if not e.is_dir)
        ev: dict[str, Any] = {
            "description": facts.description_url, "control_url": facts.control_url,
            "device": facts.device.summary(), "browse_requests": result.requests,
            "item_classes": dict(sorted(facts.classes.items(), key=lambda kv: -kv[1])[:10]),
            "mime_types": dict(sorted(facts.mimes.items(), key=lambda kv: -kv[1])[:10]),
        }  # fmt: skip
        if facts.repeated_items:
            ev["items_in_several_views"] = facts.repeated_items
        if facts.head is not None:
            ev["head"] = facts.head
        if facts.samples.size > 0:
            ev.update(facts.samples.evidence())
        name = facts.device.friendly_name or "media server"
        s = facts.service
        return self.unauthenticated(
            facts, _path_of(facts.control_url),
            f"DLNA/UPnP media library '{name[:60]}' on {s.host}:{s.port}"
            f" browsable by anyone ({files}{'+' if listing.truncated else ''} items seen)",
            encryption=Encryption.NONE,
            access=Access.READ if facts.head_status in (200, 206) else Access.LIST,
            evidence=ev, listing=listing,
            remediation="Turn the media server (DLNA/UPnP) off, or limit it to the folders meant"
            " for it and to trusted network segments: UPnP AV has no authentication.",
        )  # fmt: skip

    def _cleartext(self, facts: DlnaFacts) -> Finding:
        s = facts.service
        return self.cleartext(
            facts,
            f"DLNA/UPnP media server on {s.host}:{s.port} serves its library"
            " and media over plain HTTP",
            evidence={"description": facts.description_url, "scheme": "http",
                      "sample_resource_urls": list(facts.res_urls.values())[:3]},
            remediation="UPnP AV has no encrypted transport: keep media servers off networks"
            " where the traffic can be read, and off for sensitive folders.",
        )  # fmt: skip


PROBE = DlnaProbe()
