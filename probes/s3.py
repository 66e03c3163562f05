"""S3-compatible object storage: buckets listable without credentials.

Fingerprints an S3 API on any HTTP port (AWS-style error XML, ``Server: MinIO``/``AmazonS3``,
Ceph RGW, ``x-amz-*`` headers), tries anonymous ListBuckets (``GET /``), then anonymous
ListObjectsV2 for every bucket found there plus a short built-in list of names (option
``s3.buckets``). A successful unsigned listing is ``unauthenticated-access`` with object count
and total size; a plaintext endpoint is ``cleartext-transport``. Only GET requests: never writes.

Intrusive, only with ``--sample-bytes N`` (``ctx.sample_bytes > 0``): for each bucket already
reported as listable, a few of its objects (``s3.sample_files``, default 3, at most
``MAX_SAMPLE_FILES``, chosen by ``scanner.classify.magic.choose_samples``) get an anonymous
GetObject with ``Range: bytes=0-(N-1)`` on the same endpoint, taking at most
``min(N, MAX_SAMPLE_READ)`` body bytes whatever the server sends; the bytes are sniffed into
``evidence["sniffed"]`` and the finding says sampling was used (``evidence["intrusive"]``).
With ``sample_bytes == 0`` no GetObject is ever sent.

Gather/judge (``scanner.probe_skeleton``): ``gather`` records ``S3Facts`` (the fingerprint of
``GET /``, ListBuckets, the catch-all answer, one ``BucketFacts`` per bucket tried: its crawl as
it fills, or its S3 error code, and its samples); ``judge`` decides findings and status, also
for an attempt cut short (the objects listed before the cut, the listing marked truncated).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from scanner.catchall import NOT_ASKED, CatchAllCheck, ask_random
from scanner.classify.magic import choose_samples
from scanner.crawl import Budget, Crawler, CrawlResult, Item, NotListable, Page
from scanner.dialer import OutOfScopeError
from scanner.http_samples import NET_ERRORS, STOP_MARGIN, sample_first_bytes
from scanner.models import Access, Authentication, Encryption, ProbeResult, ServiceInfo, Status
from scanner.probe import ProbeContext, ProbeOption
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe, Samples
from scanner.protocols import s3 as proto
from scanner.protocols.http_client import MAX_PAGE_BODY, HttpResponse, HttpTarget

if TYPE_CHECKING:
    from scanner.models import Finding, Transport

COMMON_BUCKETS = (
    "backup", "backups", "data", "files", "public", "recordings", "uploads", "media", "logs",
    "archive", "assets", "static", "www", "share", "storage", "dump",
)  # fmt: skip
REMEDIATION = (
    "Remove public/anonymous list permissions from the bucket policy and ACLs (block public"
    " access), and require signed requests."
)
HTTP_PORTS = frozenset({80, 443, 8000, 8080, 8443, 9000, 9001, 7480, 8333, 9020})
FINGERPRINT_BODY = 64 * 1024
"""Body bytes of ``GET /`` read first: the fingerprint needs the headers, the first KiB and at
most an error document. The whole answer (up to the page bound) is read only when that says
S3 (or holds an ``<Error``): on a port the HTTP probe listed first, its cached page (cut at the
listing's entry bound) answers this read, and nothing is downloaded again."""



@dataclass
class BucketFacts:
    """One bucket tried: listed (``crawl``), refused (``error``: the S3 code) or silent."""

    name: str
    crawl: CrawlResult | None = None
    """The crawl of the bucket, filled as it goes (``done``: it finished)."""
    done: bool = False
    error: str | None = None
    """The S3 error code when the bucket itself cannot be listed."""
    samples: Samples = field(default_factory=Samples)


@dataclass
class S3Facts(Facts):
    """What one S3 attempt saw (empty: that step was not reached)."""

    tls: bool | None = None
    root_status: int | None = None
    """The status of ``GET /`` (None: no HTTP answer)."""
    flavour: str | None = None
    """The S3 API fingerprint of ``GET /`` (None: not S3)."""
    server: str = ""
    list_buckets: str | int | None = None
    """``allowed``, the S3 error code or the HTTP status of anonymous ListBuckets."""
    listed: bool = False
    """Anonymous ListBuckets answered with a bucket list."""
    buckets: list[str] = field(default_factory=list)
    """The buckets ListBuckets named."""
    catch_all: CatchAllCheck = NOT_ASKED
    tried: list[BucketFacts] = field(default_factory=list)
    """Every bucket tried, in order."""
    sample: Samples = field(default_factory=Samples)
    """``--sample-bytes``: the per-bucket sampling settings (size 0: off)."""
    base_url: str = ""
    """``scheme://authority`` of the endpoint as it answered."""


class S3Probe(GatherJudgeProbe[S3Facts]):
    name = "s3"
    refines = "http"  # an S3 API is a web server too: on an unclaimed port, S3 wins
    default_ports = (9000, 7480, 8333, 9020)
    description = "S3-compatible buckets listable without credentials; plaintext S3 endpoints"
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("buckets", "list", COMMON_BUCKETS, "bucket names tried besides ListBuckets"),
    )
    facts_type = S3Facts

    def claims_port(self, port: int, transport: Transport) -> bool:
        """S3 runs on any HTTP port: the fingerprint on ``/`` is one cheap request."""
        return transport == self.transport and port in HTTP_PORTS

    async def detect(self, service: ServiceInfo, ctx: ProbeContext) -> bool:
        if service.greeting:
            return False
        target = HttpTarget(
            ctx.dialer,
            service.host,
            service.port,
            tls=service.tls,
            request_timeout=3.0,
            max_body=16384,
            cache=ctx.responses,
        )
        try:
            resp = await target.request("GET", "/")
        except (*NET_ERRORS, OutOfScopeError, ValueError):
            return False
        return proto.fingerprint(resp.status, resp.headers, resp.body) is not None

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> S3Facts:
        return S3Facts(service, sample=Samples.for_context(ctx, "s3", unit="object"))

    # -- gather ----------------------------------------------------------------------------------
    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: S3Facts, deadline: Deadline
    ) -> None:
        target = HttpTarget(
            ctx.dialer,
            service.host,
            service.port,
            tls=service.tls,
            request_timeout=min(10.0, max(1.0, deadline.total / 3)),
            max_body=min(MAX_PAGE_BODY, ctx.bounds.bytes),
            cache=ctx.responses,
        )
        if target.tls is None:
            await asyncio.wait_for(target.probe_scheme(), max(1.0, deadline.total / 2))
        facts.tls = target.tls
        facts.base_url = f"{target.scheme}://{target.authority}"
        end = deadline.at - STOP_MARGIN
        if end - time.monotonic() < 0.3:
            return
        cap = max(0, min(target.max_body, ctx.bounds.bytes))
        try:
            root = await target.request(
                "GET", "/", max_body=min(cap, FINGERPRINT_BODY),
                timeout=min(target.request_timeout, end - time.monotonic()),
            )  # fmt: skip
            if root.truncated and len(root.body) < cap and (
                b"<Error" in root.body[:1024]
                or proto.fingerprint(root.status, root.headers, root.body) is not None
            ):
                root = await target.request(
                    "GET", "/", max_body=cap,
                    timeout=max(0.3, min(target.request_timeout, end - time.monotonic())),
                )  # fmt: skip
        except NET_ERRORS:
            return
        facts.root_status = root.status
        facts.flavour = proto.fingerprint(root.status, root.headers, root.body)
        if facts.flavour is None:
            return
        facts.server = root.header("server") or ""
        listed = proto.parse_list_buckets(root.body) if root.status == 200 else None
        err = proto.parse_error(root.body)
        facts.listed = listed is not None
        facts.list_buckets = "allowed" if listed is not None else (err.code if err else root.status)
        facts.buckets = list(listed or [])
        extra = self.option(ctx, "buckets")
        if any(b not in facts.buckets for b in extra):  # an endpoint listing any bucket: no guess
            facts.catch_all = await ask_random(
                lambda b: self._lists(target, b, end),
                errors=(OSError, TimeoutError, ValueError),
            )
        candidates = facts.buckets + facts.catch_all.guesses(extra, facts.buckets)
        for bucket in candidates[: max(1, ctx.bounds.resources)]:
            bf = BucketFacts(bucket)
            facts.tried.append(bf)
            await self._list_bucket(target, bf, ctx, end)
            if bf.crawl is not None and facts.sample.size > 0:
                bf.samples = Samples(size=facts.sample.size, files=facts.sample.files,
                                     note=facts.sample.note, requests=0, ranged={})
                await self._sample(target, bucket, bf, end)

    async def _sample(self, target: HttpTarget, bucket: str, bf: BucketFacts, end: float) -> None:
        """INTRUSIVE (``--sample-bytes N``): anonymous ranged GetObject of a few objects of a
        bucket already listed without credentials."""
        assert bf.crawl is not None
        files: list[tuple[str, str]] = []
        for e in choose_samples(bf.crawl.entries, bf.samples.files):
            try:
                files.append((e.path, proto.object_path(bucket, e.path.removeprefix("/"))))
            except ValueError as exc:
                bf.samples.errors[e.path] = str(exc)
        await sample_first_bytes(target, bf.samples, files, end, refused=_s3_refusal)

    async def _lists(self, target: HttpTarget, bucket: str, end: float) -> bool:
        """Does one ListObjectsV2 request of ``bucket`` (one key) answer with a listing?"""
        left = end - time.monotonic()
        resp = await target.request(
            "GET", proto.list_objects_path(bucket, max_keys=1),
            max_body=min(target.max_body, 64 * 1024),
            timeout=max(0.3, min(target.request_timeout, left)),
        )  # fmt: skip
        return resp.status == 200 and proto.parse_list_objects(resp.body) is not None

    async def _list_bucket(
        self, target: HttpTarget, bf: BucketFacts, ctx: ProbeContext, end: float
    ) -> None:
        """The bucket through the shared crawler, ``/`` as the delimiter (each prefix is a
        directory, each ListObjectsV2 page one request of the budget); ``bf.error`` is the S3
        error code when the bucket itself cannot be listed; nothing is set when there was no
        answer (or not an S3 one)."""
        bucket = bf.name
        max_keys = max(1, min(1000, ctx.bounds.entries))

        async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
            prefix = "" if path == "/" else path.lstrip("/") + "/"
            items: list[Item] = []
            tokens: set[str] = set()
            token: str | None = None
            complete, loops = True, 0
            while True:
                left = end - time.monotonic()
                resp = await target.request(
                    "GET",
                    proto.list_objects_path(
                        bucket, max_keys=max_keys, token=token, prefix=prefix, delimiter="/"
                    ),
                    max_body=max(0, min(target.max_body, budget.bytes_left)),
                    timeout=max(0.3, min(target.request_timeout, left)),
                )
                budget.spend(len(resp.body))
                page = proto.parse_list_objects(resp.body) if resp.status == 200 else None
                if page is None:
                    if items:
                        return Page(items, complete=False, error=f"HTTP {resp.status}")
                    err = proto.parse_error(resp.body)
                    raise NotListable(err.code if err else f"HTTP {resp.status}")
                items += _s3_items(page, prefix)
                if not page.truncated:
                    break
                token = page.continuation
                if not token or token in tokens:  # a repeated token never inflates counts
                    loops += int(bool(token))
                    complete = False
                    break
                tokens.add(token)
                if len(items) >= ctx.bounds.entries or not budget.take():
                    complete = False
                    break
            return Page(items, complete=complete, loops=loops)

        crawler = Crawler(
            list_dir, ctx.bounds, deadline=end - 0.3, stop_on_error=True,
            seed=int(ctx.option("seed", 0) or 0),
        )  # fmt: skip
        result = crawler.result
        bf.crawl = result  # seen as it fills: a cut mid-crawl still shows what was listed
        try:
            await crawler.run()
        finally:
            if not result.dirs_listed:
                bf.crawl = None
        bf.done = True
        refused = result.root_refused
        if not result.dirs_listed and refused and not refused.startswith("HTTP "):
            bf.error = refused

    # -- judge -----------------------------------------------------------------------------------
    def judge(self, facts: S3Facts, cut: Cut | None) -> ProbeResult:
        tls = facts.tls
        if facts.root_status is None:
            if cut is not None:
                return cut.result(tls=tls)
            return ProbeResult(status=Status.NOT_APPLICABLE, detail="no HTTP answer", tls=tls)
        if facts.flavour is None:
            return ProbeResult(
                status=Status.NOT_APPLICABLE, tls=tls, detail="no S3 API fingerprint"
            )
        findings: list[Finding] = []
        denied: list[str] = []
        for bf in facts.tried:
            if bf.crawl is not None:
                findings.append(self._unauth(facts, bf, cut))
            elif bf.error in ("AccessDenied", "AllAccessDisabled") and (
                bf.name in facts.buckets or len(denied) < 5
            ):
                denied.append(bf.name)
        if not tls:
            findings.append(self.cleartext(
                facts, f"S3 API on {facts.service.host}:{facts.service.port} over plain HTTP",
                authentication=Authentication.ANONYMOUS if findings else Authentication.REQUIRED,
                evidence={"url": facts.base_url + "/", "flavour": facts.flavour,
                          "list_buckets": facts.list_buckets},
                remediation="Serve the S3 API over HTTPS only; signed requests and object"
                " data otherwise travel readable on the network.",
            ))  # fmt: skip
        info: dict[str, Any] = {"flavour": facts.flavour, "server": facts.server,
                                "list_buckets": facts.list_buckets}  # fmt: skip
        if denied:
            info["access_denied"] = denied
        if facts.sample.size > 0:
            info["intrusive"] = ["sample-bytes"]
            info["sample_requests"] = sum(bf.samples.requests or 0 for bf in facts.tried)
        info["buckets"] = facts.buckets[:50]
        info.update(facts.catch_all.evidence())
        unauth = any(bf.crawl is not None for bf in facts.tried)
        status = Status.SUCCESS if unauth or facts.listed else Status.AUTH_REQUIRED
        if cut is not None:
            return cut.result(protocol="s3", tls=tls, findings=findings, info=info)
        return ProbeResult(status=status, protocol="s3", tls=tls, findings=findings, info=info)

    def _unauth(self, facts: S3Facts, bf: BucketFacts, cut: Cut | None) -> Finding:
        assert bf.crawl is not None
        # cut in the middle of the crawl: what it had listed, marked truncated
        listing = bf.crawl.listing(cut=cut.detail if cut and not bf.done else None)
        files = sum(1 for e in bf.crawl.entries if not e.is_dir)
        ev: dict[str, Any] = {
            "url": f"{facts.base_url}/{bf.name}?list-type=2",
            "flavour": facts.flavour,
            "objects": files,
            "pages": bf.crawl.requests,
            "bucket_listed_by_listbuckets": bf.name in facts.buckets,
            **facts.catch_all.evidence(),
        }
        if facts.sample.size > 0:
            ev.update(bf.samples.evidence())
        more = "+" if listing.truncated else ""
        title = f"S3 bucket '{bf.name}' listable without credentials ({files}{more} objects)"
        encryption = Encryption.REQUIRED if facts.tls else Encryption.NONE
        return self.unauthenticated(facts, bf.name, title, remediation=REMEDIATION, evidence=ev,
                                    listing=listing, access=Access.LIST, encryption=encryption,
                                    authentication=Authentication.ANONYMOUS)  # fmt: skip


def _s3_refusal(resp: HttpResponse) -> str:
    err = proto.parse_error(resp.body)
    return err.code if err else f"HTTP {resp.status}"


def _s3_items(page: proto.BucketPage, prefix: str) -> list[Item]:
    """Objects directly under ``prefix`` and its sub-prefixes. A server that ignores the prefix
    or the delimiter still gives the same shape: foreign keys are dropped, deeper keys become
    their first sub-prefix (the crawler de-duplicates)."""
    out: list[Item] = []
    prefixes = list(page.prefixes)
    for obj in page.objects:
        if not obj.key.startswith(prefix) or obj.key == prefix:
            continue  # the "directory marker" object, or a server ignoring the prefix
        rest = obj.key[len(prefix) :]
        if "/" in rest.rstrip("/") or rest.endswith("/"):
            prefixes.append(prefix + rest.split("/", 1)[0] + "/")
            continue
        out.append(Item(name=rest, size=obj.size, mtime=obj.mtime))
    seen: set[str] = set()
    for p in prefixes:
        if p.startswith(prefix) and p != prefix and p not in seen:
            seen.add(p)
            name = p[len(prefix) :].removesuffix("/")
            out.append(Item(name=name, is_dir=True, key="prefix:" + p))
    return out


PROBE = S3Probe()
