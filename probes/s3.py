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
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any, ClassVar

from scanner.catchall import NOT_ASKED, ask_random
from scanner.classify.magic import choose_samples, sniff_evidence
from scanner.crawl import Budget, CrawlResult, Item, NotListable, Page, crawl
from scanner.dialer import OutOfScopeError
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Entry,
    Finding,
    Kind,
    ProbeResult,
    ServiceInfo,
    Status,
    Transport,
)  # fmt: skip
from scanner.probe import MAX_SAMPLE_READ, Probe, ProbeContext, ProbeOption, result_for_exception
from scanner.protocols import s3 as proto
from scanner.protocols.http_client import MAX_PAGE_BODY, HttpError, HttpResponse, HttpTarget

COMMON_BUCKETS = (
    "backup", "backups", "data", "files", "public", "recordings", "uploads", "media", "logs",
    "archive", "assets", "static", "www", "share", "storage", "dump",
)  # fmt: skip
HTTP_PORTS = frozenset({80, 443, 8000, 8080, 8443, 9000, 9001, 7480, 8333, 9020})
NET_ERRORS = (OSError, TimeoutError, HttpError, ssl.SSLError, asyncio.IncompleteReadError)



class S3Probe(Probe):
    name = "s3"
    default_ports = (9000, 7480, 8333, 9020)
    transport = Transport.TCP
    description = "S3-compatible buckets listable without credentials; plaintext S3 endpoints"
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("buckets", "list", COMMON_BUCKETS, "bucket names tried besides ListBuckets"),
    )

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

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        try:
            return await self._run(service, ctx)
        except Exception as exc:  # never raise
            return result_for_exception(exc)

    async def _run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        deadline = time.monotonic() + max(1.0, ctx.timeout * 0.85)
        target = HttpTarget(
            ctx.dialer,
            service.host,
            service.port,
            tls=service.tls,
            request_timeout=min(10.0, max(1.0, ctx.timeout / 3)),
            max_body=min(MAX_PAGE_BODY, ctx.bounds.bytes),
            cache=ctx.responses,
        )
        if target.tls is None:
            await asyncio.wait_for(target.probe_scheme(), max(1.0, ctx.timeout / 2))
        requests_left = max(3, ctx.bounds.requests)
        bytes_left = ctx.bounds.bytes

        async def get(path: str) -> HttpResponse | None:
            nonlocal requests_left, bytes_left
            left = deadline - time.monotonic()
            if requests_left <= 0 or bytes_left <= 0 or left < 0.3:
                return None
            requests_left -= 1
            try:
                resp = await target.request(
                    "GET",
                    path,
                    max_body=max(0, min(target.max_body, bytes_left)),
                    timeout=min(target.request_timeout, left),
                )
            except NET_ERRORS:
                return None
            bytes_left -= len(resp.body)
            return resp

        root = await get("/")
        if root is None:
            return ProbeResult(
                status=Status.NOT_APPLICABLE, detail="no HTTP answer", tls=target.tls
            )
        flavour = proto.fingerprint(root.status, root.headers, root.body)
        if flavour is None:
            return ProbeResult(
                status=Status.NOT_APPLICABLE, tls=target.tls, detail="no S3 API fingerprint"
            )
        scheme = "https" if target.tls else "http"
        base_url = f"{scheme}://{target.authority}"
        info: dict[str, Any] = {"flavour": flavour, "server": root.header("server") or ""}
        listed = proto.parse_list_buckets(root.body) if root.status == 200 else None
        err = proto.parse_error(root.body)
        info["list_buckets"] = (
            "allowed" if listed is not None else (err.code if err else root.status)
        )
        buckets: list[str] = list(listed or [])
        extra = ctx.option_list("s3.buckets", COMMON_BUCKETS)
        catch_all = NOT_ASKED
        if any(b not in buckets for b in extra):  # an endpoint listing any bucket: no guessing
            catch_all = await ask_random(
                lambda b: self._lists(target, b, deadline),
                errors=(OSError, TimeoutError, ValueError),
            )
        candidates = buckets + catch_all.guesses(extra, buckets)
        candidates = candidates[: max(1, ctx.bounds.resources)]

        findings: list[Finding] = []
        denied: list[str] = []
        for bucket in candidates:
            res = await self._list_bucket(target, bucket, ctx, deadline)
            if res is None:
                continue
            if isinstance(res, str):
                if res in ("AccessDenied", "AllAccessDisabled") and (
                    bucket in buckets or len(denied) < 5
                ):
                    denied.append(bucket)
                continue
            entries, truncated = res.entries, res.truncated
            files = [e for e in entries if not e.is_dir]
            ev: dict[str, Any] = {
                "url": f"{base_url}/{bucket}?list-type=2",
                "flavour": flavour,
                "objects": len(files),
                "pages": res.requests,
                "bucket_listed_by_listbuckets": bucket in buckets,
                **catch_all.evidence(),
            }
            if ctx.sample_bytes > 0:
                ev.update(await self._sample(target, bucket, entries, ctx, deadline))
            findings.append(
                Finding(
                    host=service.host,
                    hostname=service.hostname,
                    port=service.port,
                    protocol="s3",
                    kind=Kind.UNAUTHENTICATED_ACCESS,
                    authentication=Authentication.ANONYMOUS,
                    encryption=Encryption.REQUIRED if target.tls else Encryption.NONE,
                    resource=bucket,
                    access=Access.LIST,
                    title=f"S3 bucket '{bucket}' listable without credentials "
                    f"({len(files)}{'+' if truncated else ''} objects)",
                    evidence=ev,
                    remediation="Remove public/anonymous list permissions from the bucket policy"
                    " and ACLs (block public access), and require signed requests.",
                    probe=self.name,
                    listing=res.listing(),
                )
            )
        if not target.tls:
            findings.append(
                Finding(
                    host=service.host,
                    hostname=service.hostname,
                    port=service.port,
                    protocol="s3",
                    kind=Kind.CLEARTEXT_TRANSPORT,
                    authentication=Authentication.ANONYMOUS
                    if findings
                    else Authentication.REQUIRED,
                    encryption=Encryption.NONE,
                    resource=None,
                    title=f"S3 API on {service.host}:{service.port} over plain HTTP",
                    evidence={
                        "url": base_url + "/",
                        "flavour": flavour,
                        "list_buckets": info["list_buckets"],
                    },
                    remediation="Serve the S3 API over HTTPS only; signed requests and object"
                    " data otherwise travel readable on the network.",
                    probe=self.name,
                )
            )
        if denied:
            info["access_denied"] = denied
        if ctx.sample_bytes > 0:
            info["intrusive"] = ["sample-bytes"]
            info["sample_requests"] = sum(
                int(f.evidence.get("sample_requests", 0)) for f in findings
            )
        info["buckets"] = buckets[:50]
        info.update(catch_all.evidence())
        unauth = any(f.kind == Kind.UNAUTHENTICATED_ACCESS for f in findings)
        return ProbeResult(
            status=Status.SUCCESS if unauth or listed is not None else Status.AUTH_REQUIRED,
            protocol="s3",
            tls=target.tls,
            findings=findings,
            info=info,
        )

    async def _sample(
        self, target: HttpTarget, bucket: str, entries: list[Entry], ctx: ProbeContext,
        deadline: float,
    ) -> dict[str, Any]:  # fmt: skip
        """INTRUSIVE (``--sample-bytes N``): anonymous ranged GetObject of a few objects of a
        bucket already listed without credentials; evidence keys for the finding."""
        n, count = ctx.sample_settings("s3")
        samples: dict[str, bytes] = {}
        errors: dict[str, str] = {}
        ranged: dict[str, str] = {}
        requests = 0
        for e in choose_samples(entries, count) if n else []:
            left = deadline - time.monotonic()
            if left < 0.3:
                errors[e.path] = "no time left"
                break
            try:
                path = proto.object_path(bucket, e.path.removeprefix("/"))
            except ValueError as exc:
                errors[e.path] = str(exc)
                continue
            requests += 1
            try:
                resp = await target.first_bytes(
                    path, n, timeout=max(0.3, min(target.request_timeout, left))
                )
            except (*NET_ERRORS, OutOfScopeError, ValueError) as exc:
                errors[e.path] = f"{type(exc).__name__}: {exc}"[:120]
                continue
            if resp.status not in (200, 206):
                err = proto.parse_error(resp.body)
                errors[e.path] = err.code if err else f"HTTP {resp.status}"
                continue
            samples[e.path] = resp.body[:n]
            ranged[e.path] = "honoured" if resp.status == 206 else "ignored (200, cut at N bytes)"
        ev: dict[str, Any] = {
            "intrusive": ["sample-bytes"],
            "sample_bytes": n,
            "sampled_files": len(samples),
            "sample_requests": requests,
        }
        if samples:
            ev["sniffed"] = sniff_evidence(samples)
            ev["sample_range"] = ranged
        if errors:
            ev["sample_errors"] = dict(list(errors.items())[:4])
        if int(ctx.sample_bytes or 0) > n:
            ev["sample_note"] = f"at most {MAX_SAMPLE_READ} bytes are read per object"
        return ev

    async def _lists(self, target: HttpTarget, bucket: str, deadline: float) -> bool:
        """Does one ListObjectsV2 request of ``bucket`` (one key) answer with a listing?"""
        left = deadline - time.monotonic()
        resp = await target.request(
            "GET", proto.list_objects_path(bucket, max_keys=1),
            max_body=min(target.max_body, 64 * 1024),
            timeout=max(0.3, min(target.request_timeout, left)),
        )  # fmt: skip
        return resp.status == 200 and proto.parse_list_objects(resp.body) is not None

    async def _list_bucket(
        self, target: HttpTarget, bucket: str, ctx: ProbeContext, deadline: float
    ) -> CrawlResult | str | None:
        """The bucket through the shared crawler, ``/`` as the delimiter (each prefix is a
        directory, each ListObjectsV2 page one request of the budget); or the S3 error code
        when the bucket itself cannot be listed; or None (no answer, not S3)."""
        max_keys = max(1, min(1000, ctx.bounds.entries))

        async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
            prefix = "" if path == "/" else path.lstrip("/") + "/"
            items: list[Item] = []
            tokens: set[str] = set()
            token: str | None = None
            complete, loops = True, 0
            while True:
                left = deadline - time.monotonic()
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

        result = await crawl(
            list_dir, ctx.bounds, deadline=deadline - 0.3, stop_on_error=True,
            seed=int(ctx.option("seed", 0) or 0),
        )  # fmt: skip
        if not result.dirs_listed:
            if result.root_refused and not result.root_refused.startswith("HTTP "):
                return result.root_refused
            return None
        return result


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
