"""S3-compatible APIs: fingerprinting and parsing of ListAllMyBuckets / ListBucketResult / Error.

Used by the S3 probe and by the HTTP probe (which stands back from S3 endpoints so that a
bucket listing is reported once, as S3). XML goes through ``xmlsafe.xml_root``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from scanner.protocols.listing_fields import normalise_date
from scanner.protocols.sizes import parse_decimal
from scanner.protocols.xmlsafe import xml_root

S3_ROOT_TAGS = ("ListAllMyBucketsResult", "ListBucketResult", "Error")
S3_ERROR_CODES = frozenset(
    {
        "AccessDenied", "NoSuchBucket", "AllAccessDisabled", "InvalidAccessKeyId",
        "SignatureDoesNotMatch", "AuthorizationHeaderMalformed", "NoSuchKey", "InvalidBucketName",
        "MissingSecurityHeader", "InvalidRequest", "PermanentRedirect", "AccountProblem",
        "NotImplemented", "InvalidArgument", "MethodNotAllowed", "XAmzContentSHA256Mismatch",
    }
)  # fmt: skip


@dataclass
class S3Error:
    code: str
    message: str = ""
    bucket: str | None = None


@dataclass
class S3Object:
    key: str
    size: int | None = None
    mtime: str | None = None


@dataclass
class BucketPage:
    name: str | None
    objects: list[S3Object] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    continuation: str | None = None


def parse_error(body: bytes) -> S3Error | None:
    """An S3 ``<Error><Code>..`` document, or None."""
    root = xml_root(body, "Error")
    if root is None:
        return None
    code = (root.findtext("Code") or "").strip()
    if not code:
        return None
    return S3Error(code, (root.findtext("Message") or "").strip(), root.findtext("BucketName"))


def parse_list_buckets(body: bytes) -> list[str] | None:
    """Bucket names from ListAllMyBucketsResult, or None if the body is not one."""
    root = xml_root(body, "ListAllMyBucketsResult")
    if root is None:
        return None
    return [(b.findtext("Name") or "").strip() for b in root.iter("Bucket") if b.findtext("Name")]


def parse_list_objects(body: bytes) -> BucketPage | None:
    """One page of ListObjects(V2) (ListBucketResult), or None if the body is not one."""
    root = xml_root(body, "ListBucketResult")
    if root is None:
        return None
    page = BucketPage(name=root.findtext("Name"))
    for c in root.iter("Contents"):
        page.objects.append(
            S3Object(
                key=c.findtext("Key") or "",
                size=parse_decimal(c.findtext("Size")),  # BAD_SIZE for '²' or 400 digits
                mtime=normalise_date(c.findtext("LastModified") or ""),
            )
        )
    for p in root.iter("CommonPrefixes"):
        if p.findtext("Prefix"):
            page.prefixes.append(p.findtext("Prefix") or "")
    page.truncated = (root.findtext("IsTruncated") or "").strip().lower() == "true"
    page.continuation = root.findtext("NextContinuationToken") or None
    if page.truncated and page.continuation is None and page.objects:
        page.continuation = None  # V1 marker style: the caller may use the last key
    return page


def fingerprint(status: int, headers: list[tuple[str, str]], body: bytes) -> str | None:
    """Which S3-compatible server answered (``minio``, ``ceph-rgw``, ``aws``, ``s3``), or None."""
    h = {k.lower(): v for k, v in headers}
    server = h.get("server", "").lower()
    if "minio" in server:
        return "minio"
    if "ceph" in server or "rgw" in server:
        return "ceph-rgw"
    if server in ("amazons3", "amazon.com") or "amazons3" in server:
        return "aws"
    amz = any(k.startswith("x-amz-") for k in h)
    head = body[:256].lstrip()
    is_xml = head.startswith(b"<?xml") or head.startswith(b"<")
    if is_xml:
        for tag in (b"<ListAllMyBucketsResult", b"<ListBucketResult"):
            if tag in body[:1024]:
                return "s3"
        err = parse_error(body) if b"<Error" in body[:1024] else None
        if err and (err.code in S3_ERROR_CODES or amz):
            return "s3"
    if amz and ("x-amz-request-id" in h or "x-amz-id-2" in h or "x-amz-bucket-region" in h):
        return "s3"
    return None


def list_objects_path(
    bucket: str,
    *,
    max_keys: int = 1000,
    token: str | None = None,
    prefix: str = "",
    delimiter: str = "",
) -> str:
    path = f"/{quote(bucket, safe='')}?list-type=2&max-keys={max_keys}"
    if delimiter:
        path += "&delimiter=" + quote(delimiter, safe="")
    if prefix:
        path += "&prefix=" + quote(prefix, safe="")
    if token:
        path += "&continuation-token=" + quote(token, safe="")
    return path


def object_path(bucket: str, key: str) -> str:
    """Path-style GetObject path for ``key`` in ``bucket`` (``/bucket/a%20b/c.wav``)."""
    if not bucket or not key:
        raise ValueError("bucket and key must not be empty")
    return f"/{quote(bucket, safe='')}/{quote(key, safe='/-._~')}"
