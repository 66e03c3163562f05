"""A generating, read-only, anonymous S3 endpoint for the lab's WIDE and FLAT crawl shapes.

usage: python3 -m scanner.lab.s3gen ADDR PORT

Seeding moto with 110,000 objects takes minutes, so the buckets ``wide`` and ``flat`` are not
stored anywhere: their keys come from ``scanner.lab.shapes`` (the same definitions the other
protocols' trees are written from) and this small stdlib server answers, without credentials,
ListBuckets (``GET /``) and ListObjectsV2 (``GET /<bucket>?list-type=2`` with ``prefix``,
``delimiter``, ``max-keys``, ``continuation-token``, ``start-after``) from them. Anything else
is an S3 ``<Error>`` (GetObject answers NoSuchKey: the generated objects have no content). It is
a lab fixture, not an S3 implementation. Every request is logged on stdout as
``<METHOD> <target> <status>`` so tests count requests at the server.
"""

from __future__ import annotations

import base64
import bisect
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from scanner.lab import shapes

BUCKETS = ("wide", "flat")
MTIME = "2020-01-01T10:15:00.000Z"
XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000


class Bucket:
    """Sorted keys and sizes of one shape."""

    def __init__(self, files: list[tuple[str, int]]) -> None:
        pairs = sorted(files, key=lambda kv: kv[0].encode())
        self.keys = [k for k, _ in pairs]
        self.sizes = [s for _, s in pairs]

    def list(
        self, prefix: str, delimiter: str, max_keys: int, after: str
    ) -> tuple[list[tuple[str, int]], list[str], str | None]:
        """(objects, common prefixes, next marker or None) after the key or prefix ``after``."""
        keys = self.keys
        start = bisect.bisect_left(keys, prefix)
        if after:
            if delimiter and after.endswith(delimiter):  # resume behind a whole common prefix
                start = max(start, bisect.bisect_left(keys, after + "\U0010ffff"))
            else:
                start = max(start, bisect.bisect_right(keys, after))
        objects: list[tuple[str, int]] = []
        prefixes: list[str] = []
        i, last = start, ""
        while i < len(keys) and keys[i].startswith(prefix):
            if len(objects) + len(prefixes) >= max_keys:
                return objects, prefixes, last
            rest = keys[i][len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if cut >= 0:
                last = prefix + rest[: cut + len(delimiter)]
                prefixes.append(last)
                i = bisect.bisect_left(keys, last + "\U0010ffff", i)
                continue
            last = keys[i]
            objects.append((keys[i], self.sizes[i]))
            i += 1
        return objects, prefixes, None


def list_objects_xml(name: str, bucket: Bucket, query: dict[str, list[str]]) -> tuple[int, bytes]:
    def q(k: str) -> str:
        return query.get(k, [""])[0]

    prefix, delimiter = q("prefix"), q("delimiter")
    try:
        max_keys = max(0, min(MAX_KEYS, int(q("max-keys") or MAX_KEYS)))
    except ValueError:
        return 400, error_xml("InvalidArgument", "max-keys is not a number")
    token = q("continuation-token")
    after = q("start-after")
    if token:
        try:
            after = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
            if not after:
                raise ValueError("empty token")
        except (ValueError, UnicodeDecodeError):
            return 400, error_xml("InvalidArgument", "The continuation token provided is incorrect")
    objects, prefixes, nxt = bucket.list(prefix, delimiter, max_keys, after)
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{XMLNS}">',
        f"<Name>{escape(name)}</Name><Prefix>{escape(prefix)}</Prefix>",
        f"<Delimiter>{escape(delimiter)}</Delimiter>" if delimiter else "",
        f"<MaxKeys>{max_keys}</MaxKeys><KeyCount>{len(objects) + len(prefixes)}</KeyCount>",
        f"<IsTruncated>{'true' if nxt is not None else 'false'}</IsTruncated>",
        f"<ContinuationToken>{escape(token)}</ContinuationToken>" if token else "",
    ]
    if nxt is not None:
        encoded = base64.urlsafe_b64encode(nxt.encode()).decode()
        parts.append(f"<NextContinuationToken>{encoded}</NextContinuationToken>")
    for key, size in objects:
        parts.append(
            f"<Contents><Key>{escape(key)}</Key><LastModified>{MTIME}</LastModified>"
            f'<ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>{size}</Size>'
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
    for p in prefixes:
        parts.append(f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>")
    parts.append("</ListBucketResult>")
    return 200, "".join(parts).encode()


def list_buckets_xml() -> bytes:
    buckets = "".join(
        f"<Bucket><Name>{b}</Name><CreationDate>{MTIME}</CreationDate></Bucket>" for b in BUCKETS
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult xmlns="{XMLNS}">'
        "<Owner><ID>nasscan-lab</ID><DisplayName>nasscan-lab</DisplayName></Owner>"
        f"<Buckets>{buckets}</Buckets></ListAllMyBucketsResult>"
    ).encode()


def error_xml(code: str, message: str, bucket: str | None = None) -> bytes:
    name = f"<BucketName>{escape(bucket)}</BucketName>" if bucket else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message>{name}<RequestId>0</RequestId></Error>"
    ).encode()


def answer(method: str, target: str, buckets: dict[str, Bucket]) -> tuple[int, bytes]:
    """Status and XML body for one request (method, request target)."""
    if method not in ("GET", "HEAD"):
        return 405, error_xml("MethodNotAllowed", "This endpoint is read-only")
    url = urlsplit(target)
    path = url.path.strip("/")
    if not path:
        return 200, list_buckets_xml()
    name, _, key = path.partition("/")
    bucket = buckets.get(name)
    if bucket is None:
        return 404, error_xml("NoSuchBucket", "The specified bucket does not exist", name)
    if key:
        return 404, error_xml("NoSuchKey", "Objects of the generated shapes have no content")
    query = parse_qs(url.query, keep_blank_values=True)
    if query.get("list-type", [""])[0] != "2":
        return 400, error_xml("InvalidArgument", "Only ListObjectsV2 (list-type=2) is served")
    return list_objects_xml(name, bucket, query)


def serve(addr: str, port: int) -> None:
    buckets = {"wide": Bucket(shapes.wide_files()), "flat": Bucket(shapes.flat_files())}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "nasscan-lab-s3gen"
        sys_version = ""

        def _reply(self) -> None:
            status, body = answer(self.command, self.path, buckets)
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amz-request-id", "0")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _reply

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            status = int(code) if str(code).isdigit() else code
            method, target = getattr(self, "command", None), getattr(self, "path", None)
            if method and target:  # not a request line (a TLS hello, garbage): '#' below
                print(f"{method} {target} {status}", flush=True)
            else:
                print(f"# unparsed request {status}", flush=True)

        def log_message(self, format: str, *args: object) -> None:
            print(("# " + format % args)[:200].encode("ascii", "replace").decode(), flush=True)

    server = ThreadingHTTPServer((addr, port), Handler)
    server.daemon_threads = True
    print(f"s3gen: wide={len(buckets['wide'].keys)} flat={len(buckets['flat'].keys)}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
