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
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from probes.http_confirm import Fetch, confirm_listing
from scanner.catchall import NOT_ASKED, CatchAllCheck
from scanner.classify.magic import choose_samples, sniff_evidence
from scanner.crawl import Budget, CrawlResult, Item, Lister, NotListable, Page, crawl
from scanner.dialer import OutOfScopeError
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
from scanner.probe import (
    MAX_SAMPLE_FILES,
    MAX_SAMPLE_READ,
    Probe,
    ProbeContext,
    ProbeOption,
    result_for_exception,
)
from scanner.protocols import s3 as s3proto
from scanner.protocols.http_client import (
    MAX_PAGE_BODY,
    HttpError,
    HttpResponse,
    HttpTarget,
    looks_like_http,
)
from scanner.protocols.listing import ParsedListing, parse_listing
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
NET_ERRORS = (OSError, TimeoutError, HttpError, ssl.SSLError, asyncio.IncompleteReadError)


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
    target: HttpTarget
    budget: _Budget
    auth_challenges: list[dict[str, str]] = field(default_factory=list)
    visited: set[str] = field(default_factory=set)
    server: str = ""
    max_entries: int = 2000


def _norm_dir(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def _quote_path(path: str) -> str:
    return quote(path, safe="/-._~!$&'()*+,;=:@")


async def _get(
    st: _State, method: str, path: str, *, headers: dict[str, str] | None = None,
    body: bytes = b"", follow: bool = True,
) -> tuple[str, HttpResponse] | None:  # fmt: skip
    """One request (following same-host redirects); records auth challenges; None on failure."""
    last: tuple[str, HttpResponse] | None = None
    for _ in range(MAX_REDIRECTS + 1):
        if not st.budget.can_request():
            return last
        st.budget.requests_left -= 1
        try:
            resp = await st.target.request(
                method, path, headers=headers, body=body,
                max_body=max(0, min(st.target.max_body, st.budget.bytes_left)),
                timeout=max(0.3, min(st.target.request_timeout, st.budget.remaining())),
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
                if scheme in ("basic", "digest") and len(st.auth_challenges) < 8:
                    st.auth_challenges.append(
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
    return body.replace(path.encode(), b"").replace(path.rstrip("/").encode(), b"")[:65536]


@dataclass
class _Baseline:
    status: int | None = None
    key: bytes = b""
    names: frozenset[str] | None = None
    catch_all: CatchAllCheck = NOT_ASKED
    """The random path itself came back as a listing: guessed paths prove nothing."""


async def _baseline(st: _State) -> _Baseline:
    path = f"/nasscan-{secrets.token_hex(6)}/"
    got = await _get(st, "GET", path, follow=True)
    if got is None:
        return _Baseline()
    final, resp = got
    parsed = parse_listing(
        resp.body, path=final, content_type=resp.content_type, server=st.server, max_entries=2000
    )
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
        resp = await _fetch(st, "GET", url_path, budget)
        if resp.status != 200:
            raise NotListable(f"HTTP {resp.status}")
        parsed = parse_listing(
            resp.body, path=url_path, content_type=resp.content_type, server=st.server,
            max_entries=st.max_entries,
        )  # fmt: skip
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
    st: _State, ctx: ProbeContext, lister: Lister, first: Page, key: str, first_bytes: int
) -> CrawlResult:
    """One resource's crawl by the shared crawler: its own request/byte budget (the first page,
    already fetched, counts), the service's deadline."""
    budget = Budget(max(1, ctx.bounds.requests), ctx.bounds.bytes, st.budget.deadline - 0.3)
    budget.spend(first_bytes)
    return await crawl(
        lister, ctx.bounds, first=first, root_key=key, budget=budget,
        seed=int(ctx.option("seed", 0) or 0), max_errors=5,
    )  # fmt: skip


async def _sample(st: _State, ctx: ProbeContext, finding: Finding) -> None:
    """INTRUSIVE (``--sample-bytes N``): read the first bytes of a few files of a listing that
    is already an ``unauthenticated-access`` finding, on the same host and port, and record
    what they are. Never called when ``ctx.sample_bytes == 0``."""
    n, count = ctx.sample_settings("http")
    if n == 0 or finding.kind != Kind.UNAUTHENTICATED_ACCESS or finding.listing is None:
        return
    root = _norm_dir(finding.resource or "/")
    entries = [
        e.model_copy(update={"path": root + e.path.lstrip("/")})
        for e in finding.listing.entries
        if e.path.startswith("/") and not e.path.startswith("//")
    ]
    samples: dict[str, bytes] = {}
    errors: dict[str, str] = {}
    ranged: dict[str, str] = {}
    requests = 0
    for e in choose_samples(entries, count):
        left = st.budget.remaining()
        if left < 0.3:
            errors[e.path] = "no time left"
            break
        requests += 1
        try:
            resp = await st.target.first_bytes(
                _quote_path(e.path), n, timeout=max(0.3, min(st.target.request_timeout, left))
            )
        except (OutOfScopeError, ValueError) as exc:
            errors[e.path] = str(exc)[:120]
            continue
        except NET_ERRORS as exc:
            errors[e.path] = f"{type(exc).__name__}: {exc}"[:120]
            continue
        if resp.status not in (200, 206):
            errors[e.path] = f"HTTP {resp.status}"
            continue
        samples[e.path] = resp.body[:n]
        ranged[e.path] = "honoured" if resp.status == 206 else "ignored (200, cut at N bytes)"
    ev = finding.evidence
    ev["intrusive"] = ["sample-bytes"]
    ev["sample_bytes"] = n
    ev["sampled_files"] = len(samples)
    ev["sample_requests"] = requests
    if samples:
        ev["sniffed"] = sniff_evidence(samples)
        ev["sample_range"] = dict(list(ranged.items())[:MAX_SAMPLE_FILES])
    if errors:
        ev["sample_errors"] = dict(list(errors.items())[:4])
    if int(ctx.sample_bytes or 0) > n:
        ev["sample_note"] = f"at most {MAX_SAMPLE_READ} bytes are read per file"


class HttpProbe(Probe):
    name = "http"
    default_ports = (80, 443, 8000, 8008, 8080, 8081, 8443, 8888, 5000, 5001, 9000)
    transport = Transport.TCP
    description = "HTTP directory listings and WebDAV without authentication; plain HTTP"
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("paths", "list", DEFAULT_PATHS, "paths fetched besides /"),
        ProbeOption("dav_paths", "list", (), "extra paths tried with PROPFIND"),
    )

    tls_ports: ClassVar[frozenset[int]] = TLS_PORTS

    async def detect(self, service: ServiceInfo, ctx: ProbeContext) -> bool:
        if service.greeting:
            return service.greeting.startswith(b"HTTP/")
        return bool(await looks_like_http(ctx.dialer, service.host, service.port))

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        try:
            return await self._run(service, ctx)
        except Exception as exc:  # never raise
            return result_for_exception(exc)

    async def _run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        started = time.monotonic()
        budget = _Budget(
            deadline=started + max(1.0, ctx.timeout * 0.85),
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
            request_timeout=min(10.0, max(1.0, ctx.timeout / 3)),
            max_body=min(MAX_PAGE_BODY, ctx.bounds.bytes), cache=ctx.responses,
        )  # fmt: skip
        if target.tls is None:
            await asyncio.wait_for(target.probe_scheme(), max(1.0, budget.remaining()))
        st = _State(target, budget, max_entries=ctx.bounds.entries)
        got = await _get(st, "GET", "/")
        if got is None:
            return ProbeResult(
                status=Status.NOT_APPLICABLE, detail="no HTTP answer", tls=target.tls
            )
        root_got = got
        _, root_resp = got
        if _is_s3(root_resp):
            return ProbeResult(
                status=Status.NOT_APPLICABLE, protocol="s3", tls=target.tls,
                detail="S3 API endpoint: reported by the s3 probe",
            )  # fmt: skip
        base = await _baseline(st)

        findings: list[Finding] = []
        info: dict[str, Any] = {
            "server": st.server,
            "tls": target.tls,
            "soft404": base.status == 200,
        }
        listing_roots: list[str] = []
        guessed = [p for p in ctx.option_list("http.paths", DEFAULT_PATHS) if p != "/"]
        paths = ["/", *base.catch_all.guesses(guessed)]  # none from a server listing any path
        info.update(base.catch_all.evidence())
        for path in paths:
            path = _norm_dir("/" + path.lstrip("/"))
            if any(path.startswith(r) for r in listing_roots):
                continue  # inside a listing root: its crawl (and its budget) covers it
            if path in st.visited:
                continue
            if len(listing_roots) >= ctx.bounds.resources:
                break
            got = root_got if path == "/" else await _get(st, "GET", _quote_path(path))
            if got is None:
                if budget.truncated:
                    break
                continue
            final, resp = got
            if resp.status != 200 or _is_s3(resp):
                continue
            final = unquote(urlsplit(final).path)
            parsed = parse_listing(
                resp.body,
                path=final,
                content_type=resp.content_type,
                server=st.server,
                max_entries=ctx.bounds.entries,
            )
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
            result = await _crawl(st, ctx, _http_lister(st, root), first, root, len(resp.body))
            listing_roots.append(root)
            url = f"{target.scheme}://{target.authority}{_quote_path(root)}"
            finding = self._unauth(service, "http", root, result, url, target.tls, parsed.family)
            finding.evidence.update(base.catch_all.evidence())
            if ctx.sample_bytes > 0:
                await _sample(st, ctx, finding)
            findings.append(finding)

        dav_info = await self._webdav(st, service, ctx, findings)
        info.update(dav_info)
        if st.auth_challenges:
            info["auth_challenges"] = st.auth_challenges[:4]

        if not target.tls:
            clear = self._cleartext(service, st, findings, dav_info)
            if clear is not None:
                findings.append(clear)
        info["requests"] = target.requests
        info["bytes"] = target.bytes_read
        if ctx.sample_bytes > 0:
            info["intrusive"] = ["sample-bytes"]
            info["sample_requests"] = sum(
                int(f.evidence.get("sample_requests", 0)) for f in findings
            )
        if any(f.kind == Kind.UNAUTHENTICATED_ACCESS for f in findings):
            status = Status.SUCCESS
        elif st.auth_challenges:
            status = Status.AUTH_REQUIRED
        else:
            status = Status.SUCCESS
        return ProbeResult(
            status=status, protocol="https" if target.tls else "http", tls=target.tls,
            findings=findings, info=info,
            detail=None if findings else "no listing or WebDAV without authentication",
        )  # fmt: skip

    async def _webdav(
        self, st: _State, service: ServiceInfo, ctx: ProbeContext, findings: list[Finding]
    ) -> dict[str, Any]:
        info: dict[str, Any] = {}
        got = await _get(st, "OPTIONS", "/", follow=False)
        dav_header = allow = None
        if got is not None:
            _, resp = got
            dav_header = resp.header("dav")
            allow = resp.header("allow") or resp.header("public")
        writes = advertised_write_methods(allow)
        if dav_header:
            info["dav"] = dav_classes(dav_header)
        if writes:
            info["write_methods_advertised"] = writes
        candidates = list(DAV_PATHS)
        for p in ctx.option_list("http.dav_paths", ()):
            candidates.append(_norm_dir("/" + str(p).lstrip("/")))
        for path in candidates:
            if "dav:" + path in st.visited:
                continue
            res = await _propfind(st, path)
            if res is None:
                if st.budget.truncated:
                    break
                continue
            resp, resources = res
            if resp.status != 207 or not resources:
                continue
            st.visited.add("dav:" + path)
            first = Page(_dav_items(resources, path), complete=not resp.truncated)
            result = await _crawl(
                st, ctx, _dav_lister(st, path), first, "dav:" + path, len(resp.body)
            )
            url = f"{st.target.scheme}://{st.target.authority}{_quote_path(path)}"
            f = self._unauth(service, "webdav", path, result, url, st.target.tls, "webdav")
            f.evidence["method"] = "PROPFIND Depth: 1 -> 207 Multi-Status"
            if dav_header:
                f.evidence["dav"] = dav_classes(dav_header)
            if writes:
                f.evidence["write_methods_advertised"] = writes
                f.evidence["note"] = "write methods are advertised (not tried)"
            if ctx.sample_bytes > 0:
                await _sample(st, ctx, f)
            findings.append(f)
        return info

    def _unauth(
        self, service: ServiceInfo, protocol: str, root: str, result: CrawlResult, url: str,
        tls: bool | None, family: str,
    ) -> Finding:  # fmt: skip
        what = "WebDAV collection" if protocol == "webdav" else "directory listing"
        ev: dict[str, Any] = {"url": url, "family": family, "pages": result.requests}
        files = sum(1 for e in result.entries if not e.is_dir)
        return Finding(
            host=service.host, hostname=service.hostname, port=service.port,
            protocol=protocol, kind=Kind.UNAUTHENTICATED_ACCESS,
            authentication=Authentication.NONE,
            encryption=Encryption.REQUIRED if tls else Encryption.NONE,
            resource=root, access=Access.LIST,
            title=f"{what} at {url} readable without authentication "
            f"({files} files{'+' if result.truncated else ''} seen)",
            evidence=ev,
            remediation="Turn off automatic directory listings (autoindex/Indexes/dir-listing)"
            " and WebDAV for anonymous users, and require authentication for stored files.",
            probe=self.name,
            listing=result.listing(),
        )  # fmt: skip

    def _cleartext(
        self, service: ServiceInfo, st: _State, findings: list[Finding], dav: dict[str, Any]
    ) -> Finding | None:
        tls_port = service.port in self.tls_ports
        served = sorted({f.resource or "/" for f in findings})
        if not (tls_port or st.auth_challenges or served):
            return None
        ev: dict[str, Any] = {"scheme": "http", "tls_handshake": "failed, plaintext answered"}
        reasons = []
        if tls_port:
            ev["tls_conventional_port"] = service.port
            reasons.append(f"plain HTTP on port {service.port}, a port conventionally used for TLS")
        if st.auth_challenges:
            ev["auth_over_plaintext"] = sorted({c["scheme"] for c in st.auth_challenges})
            ev["auth_paths"] = sorted(  # not the random soft-404 path: it differs every scan
                {c["path"] for c in st.auth_challenges if not c["path"].startswith("/nasscan-")}
            )[:5]
            reasons.append("Basic/Digest credentials would travel unencrypted")
        if served:
            ev["exposed_resources"] = served[:10]
            reasons.append("listings/WebDAV served without encryption")
        ev["reasons"] = reasons
        return Finding(
            host=service.host, hostname=service.hostname, port=service.port,
            protocol="http", kind=Kind.CLEARTEXT_TRANSPORT,
            authentication=Authentication.NONE if served
            else Authentication.REQUIRED if st.auth_challenges else Authentication.UNKNOWN,
            encryption=Encryption.NONE, resource=None,
            title=f"Plain HTTP on {service.host}:{service.port}: " + "; ".join(reasons),
            evidence=ev,
            remediation="Serve this over HTTPS only (redirect or close plain HTTP), and never"
            " offer Basic/Digest authentication over plaintext.",
            probe=self.name,
        )  # fmt: skip


PROBE = HttpProbe()
