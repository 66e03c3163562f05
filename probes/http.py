"""HTTP directory listings and WebDAV: the probe that would have caught the 1177 server.

Per service: TLS is tried first, plaintext second (plain HTTP on a TLS port is evidence in its
own right). Then ``/`` and a short list of storage paths are fetched; a page counts as a listing
only when ``scanner.protocols.listing`` recognises it (a family, or its structure confirmed by
one more request, ``probes.http_confirm``) and it is not a soft-404 (a random path is fetched
for comparison). Listings are crawled breadth-first within
``ctx.bounds`` (depth, entries, bytes, requests) without fetching any file body. WebDAV is
checked with OPTIONS and PROPFIND Depth 1, no credentials; PUT/DELETE are only *noted* when
advertised. S3 endpoints are left to the S3 probe (not-applicable here).

Findings: ``unauthenticated-access`` (protocol ``http`` for listings, ``webdav`` for 207
Multi-Status) per listing root, with the bounded ``Listing`` attached; one
``cleartext-transport`` per plaintext service that serves listings/DAV, offers Basic/Digest
authentication, or sits on a port conventionally used for TLS.

Intrusive, only with ``--sample-bytes N`` (``ctx.sample_bytes > 0``): for each listing or WebDAV
collection already reported as ``unauthenticated-access``, a few of its listed files
(``http.sample_files``, default 3, at most ``MAX_SAMPLE_FILES``, chosen by
``scanner.classify.magic.choose_samples``) are fetched from the same host and port with
``GET`` + ``Range: bytes=0-(N-1)``, taking at most ``min(N, MAX_SAMPLE_READ)`` body bytes whatever
the server sends (``HttpTarget.first_bytes``), no redirects followed; the bytes are sniffed into
``evidence["sniffed"]`` and the finding says sampling was used (``evidence["intrusive"]``).
With ``sample_bytes == 0`` no file body is ever requested.

Gather/judge (``scanner.probe_skeleton``): ``gather`` records ``HttpFacts`` (whether ``/``
answered or is S3, the soft-404 baseline, the catch-all answer, one ``ResourceFacts`` per listing
root or WebDAV collection with its crawl as it fills and its samples, the DAV classes and write
methods of ``OPTIONS /``, the Basic/Digest challenges met); ``judge`` decides the findings and
the status, also for an attempt cut short (the entries listed before the cut, truncated).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from probes.http_confirm import Fetch, confirm_listing
from scanner.catchall import NOT_ASKED, CatchAllCheck
from scanner.classify.magic import choose_samples
from scanner.crawl import Budget, Crawler, CrawlResult, Item, Lister, NotListable, Page
from scanner.dialer import OutOfScopeError
from scanner.http_samples import NET_ERRORS, STOP_MARGIN, sample_first_bytes
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Finding,
    ProbeResult,
    ServiceInfo,
    Status,
    Transport,
)
from scanner.probe import ProbeContext, ProbeOption
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe, Samples
from scanner.protocols import s3 as s3proto
from scanner.protocols.http_client import (
    MAX_PAGE_BODY,
    HttpResponse,
    HttpTarget,
    looks_like_http,
)
from scanner.protocols.listing import ParsedListing, parse_listing
from scanner.protocols.listing_stream import ListingStream
from scanner.protocols.webdav import (
    PROPFIND_BODY,
    advertised_write_methods,
    dav_classes,
    parse_multistatus,
)

DEFAULT_PATHS = (
    "/files/", "/share/", "/shares/", "/recordings/", "/backup/", "/backups/", "/data/",
    "/public/", "/pub/", "/download/", "/media/", "/storage/", "/dav/", "/webdav/",
)  # fmt: skip
DAV_PATHS = ("/", "/dav/", "/webdav/")
TLS_PORTS = frozenset({443, 8443, 9443, 4443, 10443, 5001, 8843, 2083, 2087, 2096})
MAX_REDIRECTS = 3
DISCOVERY_REQUESTS = 2 + len(DEFAULT_PATHS) + 1 + len(DAV_PATHS) + 8
SAMPLE = 10
STREAM_LISTINGS = True
"""Parse listing pages as they arrive and stop reading one at its entry bound
(``scanner.protocols.listing_stream``); False reads every page up to the byte bound first."""
SOFT404_BYTES = 65536
"""Bytes of a page compared with the soft-404 baseline (the path removed first)."""


@dataclass
class _Budget:
    """The crawl's shared bounds for one service."""

    deadline: float
    requests_left: int
    bytes_left: int
    truncated: bool = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def can_request(self) -> bool:
        if self.requests_left <= 0 or self.bytes_left <= 0 or self.remaining() < 0.3:
            self.truncated = True
            return False
        return True


@dataclass
class _State:
    """The live part of one attempt: the facts being filled, the target, the shared bounds."""

    facts: HttpFacts
    target: HttpTarget
    budget: _Budget
    visited: set[str] = field(default_factory=set)
    server: str = ""
    max_entries: int = 2000


def _decoded_path(path: str) -> str:
    return unquote(urlsplit(path).path)


@dataclass
class _PageParse:
    """The listing parse of the page one request (or ``_get`` with its redirects) ends at,
    made while its body arrives.

    ``_get`` sets ``path`` to each request's path; for an answer 200 ``consumer`` hands the
    client a ``ListingStream`` for ``listing_path(path)``, which reads the body as it comes and
    stops the read once the page is a listing cut at ``max_entries``. ``parse`` then answers
    what ``parse_listing`` answers for that body, with the ``Server`` header the probe knows by
    then. ``root``: the page of ``/``, parsed only after the soft-404 baseline, whose ``Server``
    header counts when ``/`` sent none: such a page is read whole and parsed afterwards."""

    st: _State
    max_entries: int
    listing_path: Callable[[str], str] = str
    root: bool = False
    path: str = "/"
    stream: ListingStream | None = None

    def consumer(self, resp: HttpResponse) -> ListingStream | None:
        self.stream = None
        server = self.st.server or resp.header("server") or ""
        if not STREAM_LISTINGS or resp.status != 200 or (self.root and not server):
            return None
        self.stream = ListingStream(
            path=self.listing_path(self.path), content_type=resp.content_type, server=server,
            max_entries=self.max_entries, min_bytes=2 * SOFT404_BYTES,
        )  # fmt: skip
        return self.stream

    def parse(self, resp: HttpResponse) -> ParsedListing | None:
        """The listing on ``resp``, the last answer (200) of the request, or None."""
        stream, self.stream = self.stream, None  # (its parsers are garbage after this)
        if stream is not None:
            return stream.close()
        return parse_listing(
            resp.body, path=self.listing_path(self.path), content_type=resp.content_type,
            server=self.st.server, max_entries=self.max_entries,
        )  # fmt: skip


def _norm_dir(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def _quote_path(path: str) -> str:
    return quote(path, safe="/-._~!$&'()*+,;=:@")


async def _get(
    st: _State, method: str, path: str, *, headers: dict[str, str] | None = None,
    body: bytes = b"", follow: bool = True, page: _PageParse | None = None,
) -> tuple[str, HttpResponse] | None:  # fmt: skip
    """One request (following same-host redirects); records auth challenges; None on failure.
    ``page``: the listing parse of the page it ends at, made as the body arrives."""
    last: tuple[str, HttpResponse] | None = None
    for _ in range(MAX_REDIRECTS + 1):
        if not st.budget.can_request():
            return last
        st.budget.requests_left -= 1
        if page is not None:
            page.path = path
        try:
            resp = await st.target.request(
                method, path, headers=headers, body=body,
                max_body=max(0, min(st.target.max_body, st.budget.bytes_left)),
                timeout=max(0.3, min(st.target.request_timeout, st.budget.remaining())),
                consumer=None if page is None else page.consumer,
            )  # fmt: skip
        except (OutOfScopeError, ValueError):
            return None
        except NET_ERRORS:
            return None
        st.budget.bytes_left -= len(resp.body)
        if resp.truncated:
            st.budget.truncated = True
        if not st.server:
            st.server = resp.header("server") or ""
        if resp.status == 401:
            for ch in resp.headers_all("www-authenticate"):
                scheme = ch.split(" ", 1)[0].strip().lower()
                if scheme in ("basic", "digest") and len(st.facts.auth_challenges) < 8:
                    st.facts.auth_challenges.append(
                        {"path": path, "scheme": scheme, "challenge": ch[:120]}
                    )
        if follow and resp.status in (301, 302, 303, 307, 308):
            loc = resp.header("location") or ""
            parts = urlsplit(loc)
            if parts.netloc and parts.netloc.lower() not in _own_authorities(st.target):
                return path, resp
            if parts.scheme and parts.scheme != st.target.scheme:
                return path, resp
            new = parts.path or "/"
            if not new.startswith("/"):
                new = _norm_dir(path.rsplit("/", 1)[0]) + new
            if parts.query:
                new += "?" + parts.query
            if new == path:
                return path, resp
            last = (path, resp)
            path = new
            continue
        return path, resp
    return last


def _own_authorities(t: HttpTarget) -> set[str]:
    h = f"[{t.host}]" if ":" in t.host else t.host
    out = {f"{h}:{t.port}".lower(), t.authority.lower()}
    if t.port == (443 if t.tls else 80):
        out.add(h.lower())
    return out


def _soft404_key(body: bytes, path: str) -> bytes:
    return body.replace(path.encode(), b"").replace(path.rstrip("/").encode(), b"")[:SOFT404_BYTES]


@dataclass
class _Baseline:
    status: int | None = None
    key: bytes = b""
    names: frozenset[str] | None = None
    catch_all: CatchAllCheck = NOT_ASKED
    """The random path itself came back as a listing: guessed paths prove nothing."""


async def _baseline(st: _State) -> _Baseline:
    path = f"/nasscan-{secrets.token_hex(6)}/"
    page = _PageParse(st, max_entries=2000)
    got = await _get(st, "GET", path, follow=True, page=page)
    if got is None:
        return _Baseline()
    final, resp = got
    parsed = page.parse(resp)
    names = frozenset(e.name for e in parsed.entries) if parsed else None
    listed = parsed is not None and resp.status == 200 and unquote(urlsplit(final).path) == path
    return _Baseline(resp.status, _soft404_key(resp.body, final), names,
                     CatchAllCheck(path, listed))


def _is_soft404(base: _Baseline, body: bytes, path: str, parsed: ParsedListing) -> bool:
    if base.status != 200:
        return False
    if _soft404_key(body, path) == base.key:
        return True
    return base.names is not None and base.names == frozenset(e.name for e in parsed.entries)


def _fetcher(st: _State) -> Fetch:
    async def fetch(method: str, path: str, headers: dict[str, str]) -> HttpResponse | None:
        got = await _get(st, method, _quote_path(path), headers=headers, follow=False)
        return None if got is None else got[1]

    return fetch


def _is_s3(resp: HttpResponse) -> bool:
    return s3proto.fingerprint(resp.status, resp.headers, resp.body) is not None


def _items(parsed: ParsedListing, url_path: str) -> list[Item]:
    return [
        Item(name=i.name, is_dir=i.is_dir, size=i.size, mtime=i.mtime,
             key=url_path + i.name + "/" if i.is_dir else None)
        for i in parsed.entries
    ]  # fmt: skip


def _url_path(root: str, path: str) -> str:
    """The URL path of the crawl path ``/a/b`` under the resource ``root`` (``/files/``)."""
    return root if path == "/" else root + path[1:] + "/"


async def _fetch(st: _State, method: str, url_path: str, budget: Budget, **kw: Any) -> HttpResponse:
    """One request of a crawl (the crawler already charged it); no redirects followed."""
    resp = await st.target.request(
        method, _quote_path(url_path),
        max_body=max(0, min(st.target.max_body, budget.bytes_left)),
        timeout=max(0.3, min(st.target.request_timeout, st.budget.remaining())), **kw,
    )  # fmt: skip
    budget.spend(len(resp.body))
    return resp


def _http_lister(st: _State, root: str) -> Lister:
    async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
        url_path = _url_path(root, path)
        st.visited.add(url_path)
        page = _PageParse(st, st.max_entries, path=url_path)
        resp = await _fetch(st, "GET", url_path, budget, consumer=page.consumer)
        if resp.status != 200:
            raise NotListable(f"HTTP {resp.status}")
        parsed = page.parse(resp)
        if parsed is None:
            raise NotListable("not a listing page")
        return Page(_items(parsed, url_path), complete=not (parsed.truncated or resp.truncated))

    return list_dir


def _dav_items(resources: list[Any], url_path: str) -> list[Item]:
    out: list[Item] = []
    for r in resources:
        rp = _norm_dir(r.href) if r.is_collection else r.href
        if not rp.startswith(url_path) or rp.rstrip("/") == url_path.rstrip("/"):
            continue
        name = rp[len(url_path) :].strip("/")
        if not name or "/" in name:
            continue  # not a direct child (a Depth: 1 answer holds only those)
        out.append(Item(name=name, is_dir=r.is_collection, size=r.size, mtime=r.mtime,
                        key="dav:" + rp if r.is_collection else None))  # fmt: skip
    return out


def _dav_lister(st: _State, root: str) -> Lister:
    async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
        url_path = _url_path(root, path)
        st.visited.add("dav:" + url_path)
        resp = await _fetch(st, "PROPFIND", url_path, budget, headers=_DAV_HEADERS,
                            body=PROPFIND_BODY)  # fmt: skip
        if resp.status != 207:
            raise NotListable(f"HTTP {resp.status}")
        resources = list(parse_multistatus(resp.body, truncated=resp.truncated))
        return Page(_dav_items(resources, url_path), complete=not resp.truncated)

    return list_dir


_DAV_HEADERS = {"Depth": "1", "Content-Type": 'application/xml; charset="utf-8"'}


async def _propfind(st: _State, path: str) -> tuple[HttpResponse, list[Any]] | None:
    got = await _get(
        st, "PROPFIND", _quote_path(path), headers=_DAV_HEADERS, body=PROPFIND_BODY, follow=False
    )
    if got is None:
        return None
    _, resp = got
    if resp.status != 207:
        return resp, []
    try:  # a body cut by the byte bound: its whole responses (a huge directory is still listed)
        return resp, list(parse_multistatus(resp.body, truncated=resp.truncated))
    except ValueError:
        return resp, []


async def _crawl(
    st: _State, ctx: ProbeContext, lister: Lister, first: Page, res: ResourceFacts,
    first_bytes: int,
) -> None:  # fmt: skip
    """One resource's crawl by the shared crawler: its own request/byte budget (the first page,
    already fetched, counts), the service's deadline. The resource joins the facts before the
    crawl starts, so an attempt cut mid-crawl still reports what was listed."""
    budget = Budget(max(1, ctx.bounds.requests), ctx.bounds.bytes, st.budget.deadline - 0.3)
    budget.spend(first_bytes)
    crawler = Crawler(
        lister, ctx.bounds, first=first, root_key=res.key, budget=budget,
        seed=int(ctx.option("seed", 0) or 0), max_errors=5,
    )  # fmt: skip
    res.crawl = crawler.result
    st.facts.resources.append(res)
    await crawler.run()
    res.done = True


async def _sample(st: _State, res: ResourceFacts) -> None:
    """INTRUSIVE (``--sample-bytes N``): read the first bytes of a few files of a listing that
    is already an ``unauthenticated-access`` finding, on the same host and port, and record
    what they are. Never called without ``--sample-bytes``."""
    root = _norm_dir(res.root)
    entries = [
        e.model_copy(update={"path": root + e.path.lstrip("/")})
        for e in res.crawl.entries
        if e.path.startswith("/") and not e.path.startswith("//")
    ]
    files = [(e.path, _quote_path(e.path)) for e in choose_samples(entries, res.samples.files)]
    await sample_first_bytes(st.target, res.samples, files, st.budget.deadline)


@dataclass
class ResourceFacts:
    """One listing root or WebDAV collection readable without authentication."""

    protocol: str
    """``http`` (a directory listing) or ``webdav`` (PROPFIND 207 Multi-Status)."""
    root: str
    url: str
    family: str
    key: str
    """The crawl's root key (the URL path, ``dav:`` + path for WebDAV)."""
    crawl: CrawlResult = field(default_factory=CrawlResult)
    """Filled as the crawl goes (``done``: it finished)."""
    done: bool = False
    samples: Samples = field(default_factory=Samples)


@dataclass
class HttpFacts(Facts):
    """What one HTTP attempt saw (empty: that step was not reached)."""

    tls: bool | None = None
    answered: bool = False
    """``GET /`` got an HTTP answer."""
    s3: bool = False
    """``GET /`` is an S3 API (left to the s3 probe)."""
    server: str = ""
    """The ``Server`` header of the first answers (``/`` and the soft-404 baseline)."""
    soft404: bool = False
    """A random path answered 200 (pages are compared with it)."""
    catch_all: CatchAllCheck = NOT_ASKED
    resources: list[ResourceFacts] = field(default_factory=list)
    """Listings, then WebDAV collections, in the order found."""
    dav: list[str] | None = None
    """The DAV classes ``OPTIONS /`` announced."""
    write_methods: list[str] = field(default_factory=list)
    """Write methods ``OPTIONS /`` advertised (never tried)."""
    auth_challenges: list[dict[str, str]] = field(default_factory=list)
    """Basic/Digest challenges met (path, scheme, challenge)."""
    requests: int = 0
    bytes: int = 0
    sample: Samples = field(default_factory=Samples)
    """``--sample-bytes``: the per-resource sampling settings (size 0: off)."""


class HttpProbe(GatherJudgeProbe[HttpFacts]):
    name = "http"
    default_ports = (80, 443, 8000, 8008, 8080, 8081, 8443, 8888, 5000, 5001, 9000)
    transport = Transport.TCP
    description = "HTTP directory listings and WebDAV without authentication; plain HTTP"
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("paths", "list", DEFAULT_PATHS, "paths fetched besides /"),
        ProbeOption("dav_paths", "list", (), "extra paths tried with PROPFIND"),
    )
    facts_type = HttpFacts
    generic = True  # any web server; an S3 API or media server there goes to its own probe

    tls_ports: ClassVar[frozenset[int]] = TLS_PORTS

    async def detect(self, service: ServiceInfo, ctx: ProbeContext) -> bool:
        if service.greeting:
            return service.greeting.startswith(b"HTTP/")
        return bool(await looks_like_http(ctx.dialer, service.host, service.port))

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> HttpFacts:
        return HttpFacts(service, sample=Samples.for_context(ctx, "http"))

    # -- gather ----------------------------------------------------------------------------------
    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: HttpFacts, deadline: Deadline
    ) -> None:
        budget = _Budget(
            deadline=deadline.at - STOP_MARGIN,
            # discovery (/, a soft-404 baseline, the storage paths, OPTIONS, PROPFINDs) has its
            # own allowance; each listing root's crawl gets ctx.bounds.requests of its own
            requests_left=max(ctx.bounds.requests, DISCOVERY_REQUESTS),
            bytes_left=ctx.bounds.bytes,
        )
        target = HttpTarget(
            ctx.dialer, service.host, service.port, tls=service.tls,
            host_header=service.hostname and (
                service.hostname if service.port in (80, 443) else
                f"{service.hostname}:{service.port}"
            ),
            request_timeout=min(10.0, max(1.0, deadline.total / 3)),
            max_body=min(MAX_PAGE_BODY, ctx.bounds.bytes), cache=ctx.responses,
        )  # fmt: skip
        if target.tls is None:
            await asyncio.wait_for(target.probe_scheme(), max(1.0, budget.remaining()))
        facts.tls = target.tls
        st = _State(facts, target, budget, max_entries=ctx.bounds.entries)
        try:
            await self._gather(st, ctx)
        finally:
            facts.requests, facts.bytes = target.requests, target.bytes_read

    def _new_resource(
        self, st: _State, protocol: str, root: str, family: str, key: str
    ) -> ResourceFacts:
        url = f"{st.target.scheme}://{st.target.authority}{_quote_path(root)}"
        sample = st.facts.sample
        samples = Samples(size=sample.size, files=sample.files, note=sample.note, requests=0,
                          ranged={})  # fmt: skip
        return ResourceFacts(protocol, root, url, family, key, samples=samples)

    async def _gather(self, st: _State, ctx: ProbeContext) -> None:
        facts = st.facts
        root_page = _PageParse(st, ctx.bounds.entries, _decoded_path, root=True)
        got = await _get(st, "GET", "/", page=root_page)
        if got is None:
            return
        facts.answered = True
        root_got = got
        _, root_resp = got
        if _is_s3(root_resp):
            facts.s3 = True
            return
        base = await _baseline(st)
        facts.server = st.server
        facts.soft404 = base.status == 200
        facts.catch_all = base.catch_all
        listing_roots: list[str] = []
        guessed = [p for p in self.option(ctx, "paths") if p != "/"]
        paths = ["/", *base.catch_all.guesses(guessed)]  # none from a server listing any path
        for path in paths:
            path = _norm_dir("/" + path.lstrip("/"))
            if any(path.startswith(r) for r in listing_roots):
                continue  # inside a listing root: its crawl (and its budget) covers it
            if path in st.visited:
                continue
            if len(listing_roots) >= ctx.bounds.resources:
                break
            page = root_page
            if path != "/":
                page = _PageParse(st, ctx.bounds.entries, _decoded_path)
                got = await _get(st, "GET", _quote_path(path), page=page)
            else:
                got = root_got
            if got is None:
                if st.budget.truncated:
                    break
                continue
            final, resp = got
            if resp.status != 200 or _is_s3(resp):
                continue
            final = _decoded_path(final)
            parsed = page.parse(resp)
            if parsed is None or _is_soft404(base, resp.body, final, parsed):
                continue
            if parsed.structural and not await confirm_listing(  # no family: ask once more
                _fetcher(st), _norm_dir(final), parsed, server=st.server,
                soft404=base.key if base.status == 200 else b"",
            ):  # fmt: skip
                continue
            root = _norm_dir(final)
            if root in st.visited:
                continue
            st.visited.add(root)
            first = Page(_items(parsed, root), complete=not (parsed.truncated or resp.truncated))
            res = self._new_resource(st, "http", root, parsed.family, root)
            await _crawl(st, ctx, _http_lister(st, root), first, res, len(resp.body))
            listing_roots.append(root)
            if res.samples.size > 0:
                await _sample(st, res)
        await self._webdav(st, ctx)

    async def _webdav(self, st: _State, ctx: ProbeContext) -> None:
        facts = st.facts
        got = await _get(st, "OPTIONS", "/", follow=False)
        dav_header = allow = None
        if got is not None:
            _, resp = got
            dav_header = resp.header("dav")
            allow = resp.header("allow") or resp.header("public")
        facts.write_methods = advertised_write_methods(allow)
        if dav_header:
            facts.dav = dav_classes(dav_header)
        candidates = list(DAV_PATHS)
        for p in self.option(ctx, "dav_paths"):
            candidates.append(_norm_dir("/" + str(p).lstrip("/")))
        for path in candidates:
            if "dav:" + path in st.visited:
                continue
            got_dav = await _propfind(st, path)
            if got_dav is None:
                if st.budget.truncated:
                    break
                continue
            resp, resources = got_dav
            if resp.status != 207 or not resources:
                continue
            st.visited.add("dav:" + path)
            first = Page(_dav_items(resources, path), complete=not resp.truncated)
            res = self._new_resource(st, "webdav", path, "webdav", "dav:" + path)
            await _crawl(st, ctx, _dav_lister(st, path), first, res, len(resp.body))
            if res.samples.size > 0:
                await _sample(st, res)

    # -- judge -----------------------------------------------------------------------------------
    def judge(self, facts: HttpFacts, cut: Cut | None) -> ProbeResult:
        tls = facts.tls
        if not facts.answered:
            if cut is not None:
                return cut.result(tls=tls)
            return ProbeResult(status=Status.NOT_APPLICABLE, detail="no HTTP answer", tls=tls)
        if facts.s3:
            return ProbeResult(
                status=Status.NOT_APPLICABLE, protocol="s3", tls=tls,
                detail="S3 API endpoint: reported by the s3 probe",
            )  # fmt: skip
        findings = [self._unauth(facts, res, cut) for res in facts.resources]
        if not tls:
            clear = self._cleartext(facts, findings)
            if clear is not None:
                findings.append(clear)
        info: dict[str, Any] = {"server": facts.server, "tls": tls, "soft404": facts.soft404}
        info.update(facts.catch_all.evidence())
        if facts.dav is not None:
            info["dav"] = facts.dav
        if facts.write_methods:
            info["write_methods_advertised"] = facts.write_methods
        if facts.auth_challenges:
            info["auth_challenges"] = facts.auth_challenges[:4]
        info["requests"] = facts.requests
        info["bytes"] = facts.bytes
        if facts.sample.size > 0:
            info["intrusive"] = ["sample-bytes"]
            info["sample_requests"] = sum(r.samples.requests or 0 for r in facts.resources)
        if facts.resources:
            status = Status.SUCCESS
        elif facts.auth_challenges:
            status = Status.AUTH_REQUIRED
        else:
            status = Status.SUCCESS
        protocol = "https" if tls else "http"
        if cut is not None:
            return cut.result(protocol=protocol, tls=tls, findings=findings, info=info)
        return ProbeResult(
            status=status, protocol=protocol, tls=tls, findings=findings, info=info,
            detail=None if findings else "no listing or WebDAV without authentication",
        )  # fmt: skip

    def _unauth(self, facts: HttpFacts, res: ResourceFacts, cut: Cut | None) -> Finding:
        # cut in the middle of the crawl: what it had listed, marked truncated
        listing = res.crawl.listing(cut=cut.detail if cut and not res.done else None)
        what = "WebDAV collection" if res.protocol == "webdav" else "directory listing"
        ev: dict[str, Any] = {"url": res.url, "family": res.family, "pages": res.crawl.requests}
        if res.protocol == "webdav":
            ev["method"] = "PROPFIND Depth: 1 -> 207 Multi-Status"
            if facts.dav is not None:
                ev["dav"] = facts.dav
            if facts.write_methods:
                ev["write_methods_advertised"] = facts.write_methods
                ev["note"] = "write methods are advertised (not tried)"
        else:
            ev.update(facts.catch_all.evidence())
        if facts.sample.size > 0:
            ev.update(res.samples.evidence())
        files = sum(1 for e in res.crawl.entries if not e.is_dir)
        return self.unauthenticated(
            facts, res.root,
            f"{what} at {res.url} readable without authentication "
            f"({files} files{'+' if listing.truncated else ''} seen)",
            protocol=res.protocol,
            encryption=Encryption.REQUIRED if facts.tls else Encryption.NONE,
            access=Access.LIST, evidence=ev, listing=listing,
            remediation="Turn off automatic directory listings (autoindex/Indexes/dir-listing)"
            " and WebDAV for anonymous users, and require authentication for stored files.",
        )  # fmt: skip

    def _cleartext(self, facts: HttpFacts, findings: list[Finding]) -> Finding | None:
        port = facts.service.port
        tls_port = port in self.tls_ports
        served = sorted({f.resource or "/" for f in findings})
        challenges = facts.auth_challenges
        if not (tls_port or challenges or served):
            return None
        ev: dict[str, Any] = {"scheme": "http", "tls_handshake": "failed, plaintext answered"}
        reasons = []
        if tls_port:
            ev["tls_conventional_port"] = port
            reasons.append(f"plain HTTP on port {port}, a port conventionally used for TLS")
        if challenges:
            ev["auth_over_plaintext"] = sorted({c["scheme"] for c in challenges})
            ev["auth_paths"] = sorted(  # not the random soft-404 path: it differs every scan
                {c["path"] for c in challenges if not c["path"].startswith("/nasscan-")}
            )[:5]
            reasons.append("Basic/Digest credentials would travel unencrypted")
        if served:
            ev["exposed_resources"] = served[:10]
            reasons.append("listings/WebDAV served without encryption")
        ev["reasons"] = reasons
        return self.cleartext(
            facts, f"Plain HTTP on {facts.service.host}:{port}: " + "; ".join(reasons),
            protocol="http",
            authentication=Authentication.NONE if served
            else Authentication.REQUIRED if challenges else Authentication.UNKNOWN,
            evidence=ev,
            remediation="Serve this over HTTPS only (redirect or close plain HTTP), and never"
            " offer Basic/Digest authentication over plaintext.",
        )  # fmt: skip


PROBE = HttpProbe()
