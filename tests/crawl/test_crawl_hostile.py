"""Hostile in-process servers (127.0.68.x) against the crawl of real probes: absurd sizes (400
digits, '²' which ``isdigit()`` accepts and ``int()`` rejects), undecodable names, a page that
links to itself, an S3 server repeating its continuation token. The good entries are still
reported, the probe never ends in ``error``, repeats never inflate counts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from urllib.parse import urlsplit

from http_answers import serve_answers

from probes.ftp import PROBE as FTP
from probes.http import PROBE as HTTP
from probes.s3 import PROBE as S3
from scanner.models import Finding, Kind, ProbeResult, ServiceInfo, Status
from scanner.probe import ProbeContext
from scanner.triage import triage_finding

MakeCtx = Callable[..., ProbeContext]
Http = Callable[[str, str], tuple[int, bytes, str]]
HUGE = "9" * 400
SUP2 = "\u00b2"  # '²'


def http_server(
    addr: str, answer: Http, log: list[str]
) -> contextlib.AbstractAsyncContextManager[int]:
    """``tests/http_answers.py`` behind an nginx ``Server:`` header, requests logged."""

    def reordered(method: str, target: str) -> tuple[int, str, bytes]:
        status, body, ctype = answer(method, target)
        return status, ctype, body

    return serve_answers(addr, reordered, log=log, server="nginx")


def _open(result: ProbeResult, protocol: str) -> Finding:
    assert result.status is not Status.ERROR, result.detail
    (f,) = [
        f
        for f in result.findings
        if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.protocol == protocol
    ]
    return triage_finding(f)


def _autoindex(path: str, rows: list[tuple[str, str]]) -> bytes:
    body = "".join(f'<a href="{n}">{n}</a>    14-Mar-2019 10:15    {s}\n' for n, s in rows)
    return (
        f"<html><head><title>Index of {path}</title></head><body><h1>Index of {path}</h1>"
        f'<hr><pre><a href="../">../</a>\n{body}</pre><hr></body></html>'
    ).encode()


ROWS = [
    ("good1.wav", "1234"),
    ("huge.wav", HUGE),
    ("super.wav", "1" + SUP2),
    ("good2.wav", "99"),
    ("loop/", "-"),
    ("good3.mp3", "7"),
]


async def test_http_absurd_sizes_and_a_self_linking_page(make_ctx: MakeCtx) -> None:
    def answer(method: str, target: str) -> tuple[int, bytes, str]:
        path = urlsplit(target).path
        if method == "GET" and (path == "/" or path.startswith("/loop/")):
            return 200, _autoindex(path, ROWS), "text/html"  # /loop/ is / again, forever
        return 404, b"not found", "text/plain"

    log: list[str] = []
    async with http_server("127.0.68.1", answer, log) as port:
        result = await HTTP.run(ServiceInfo(host="127.0.68.1", port=port), make_ctx(timeout=20.0))
    f = _open(result, "http")
    paths = sorted(e.path for e in f.listing.entries if not e.is_dir) if f.listing else []
    assert {"/good1.wav", "/good2.wav", "/good3.mp3"} <= set(paths)
    assert "/huge.wav" not in paths and "/super.wav" not in paths
    ev = f.evidence
    assert ev["files_seen"] == 3 and ev["entries_skipped"] >= 2
    assert ev["loops_not_followed"] >= 1
    assert len([x for x in log if x.startswith("GET /loop/")]) <= 1  # never followed again


async def test_webdav_absurd_sizes_keep_the_good_entries(make_ctx: MakeCtx) -> None:
    def resp(href: str, size: str | None, coll: bool = False) -> str:
        rt = "<D:resourcetype><D:collection/></D:resourcetype>" if coll else "<D:resourcetype/>"
        length = f"<D:getcontentlength>{size}</D:getcontentlength>" if size else ""
        return (
            f"<D:response><D:href>{href}</D:href><D:propstat><D:prop>{rt}{length}</D:prop>"
            "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
        )

    ms = (
        '<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">'
        + resp("/", None, True)
        + resp("/a.wav", "10")
        + resp("/b.wav", HUGE)
        + resp("/c.wav", SUP2)
        + resp("/d.wav", "20")
        + "</D:multistatus>"
    ).encode()

    def answer(method: str, target: str) -> tuple[int, bytes, str]:
        if method == "PROPFIND" and urlsplit(target).path == "/":
            return 207, ms, "application/xml"
        return 404, b"", "text/plain"

    async with http_server("127.0.68.2", answer, []) as port:
        result = await HTTP.run(ServiceInfo(host="127.0.68.2", port=port), make_ctx(timeout=20.0))
    f = _open(result, "webdav")
    assert f.listing is not None
    assert sorted(e.path for e in f.listing.entries) == ["/a.wav", "/d.wav"]
    assert f.evidence["entries_skipped"] == 2 and f.evidence["total_size"] == 30


async def test_s3_repeated_token_and_bad_sizes_never_inflate(make_ctx: MakeCtx) -> None:
    page = (
        '<?xml version="1.0"?><ListBucketResult><Name>b</Name><IsTruncated>true</IsTruncated>'
        "<NextContinuationToken>same</NextContinuationToken>"
        "<Contents><Key>a.wav</Key><Size>10</Size></Contents>"
        f"<Contents><Key>huge.wav</Key><Size>{HUGE}</Size></Contents>"
        f"<Contents><Key>sup.wav</Key><Size>{SUP2}</Size></Contents>"
        "</ListBucketResult>"
    ).encode()
    buckets = (
        b'<?xml version="1.0"?><ListAllMyBucketsResult><Buckets><Bucket><Name>b</Name>'
        b"</Bucket></Buckets></ListAllMyBucketsResult>"
    )

    def answer(method: str, target: str) -> tuple[int, bytes, str]:
        parts = urlsplit(target)
        if parts.path == "/":
            return 200, buckets, "application/xml"
        if parts.path == "/b" and "list-type=2" in parts.query:
            return 200, page, "application/xml"
        return 404, b"<Error><Code>NoSuchBucket</Code></Error>", "application/xml"

    log: list[str] = []
    async with http_server("127.0.68.3", answer, log) as port:
        ctx = make_ctx(timeout=20.0, options={"s3.buckets": ""})
        result = await S3.run(ServiceInfo(host="127.0.68.3", port=port), ctx)
    f = _open(result, "s3")
    assert f.listing is not None and [e.path for e in f.listing.entries] == ["/a.wav"]
    assert f.evidence["files_seen"] == 1 and f.evidence["loops_not_followed"] >= 1
    assert f.evidence["entries_skipped"] >= 2
    assert len([x for x in log if x.startswith("GET /b?")]) <= 2  # the token is followed once


class _Ftp:
    """A tiny anonymous FTP server whose LIST carries absurd sizes and an undecodable name."""

    LINES = [
        b"-rw-r--r-- 1 0 0 1234 Mar 14  2019 good.wav",
        b"-rw-r--r-- 1 0 0 " + HUGE.encode() + b" Mar 14  2019 huge.wav",
        b"-rw-r--r-- 1 0 0 12 Mar 14  2019 bad\xff\xfename.wav",
        b"-rw-r--r-- 1 0 0 55 Mar 14  2019 good2.wav",
        b"this line is no listing at all",
    ]

    def __init__(self, host: str) -> None:
        self.host = host
        self.lists = 0

    async def control(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"220 hostile\r\n")
        data: asyncio.Future[asyncio.StreamWriter] | None = None
        server: asyncio.Server | None = None
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
            for _ in range(50):
                line = await asyncio.wait_for(r.readline(), 10)
                if not line:
                    break
                cmd = line.decode("latin-1").strip().split(" ", 1)[0].upper()
                if cmd == "USER":
                    w.write(b"230 ok\r\n")
                elif cmd == "TYPE":
                    w.write(b"200 ok\r\n")
                elif cmd == "EPSV":
                    fut: asyncio.Future[asyncio.StreamWriter] = (
                        asyncio.get_running_loop().create_future()
                    )
                    data = fut

                    async def on_data(
                        _r: asyncio.StreamReader, dw: asyncio.StreamWriter,
                        f: asyncio.Future[asyncio.StreamWriter] = fut,
                    ) -> None:  # fmt: skip
                        if not f.done():
                            f.set_result(dw)

                    server = await asyncio.start_server(on_data, self.host, 0)
                    port = server.sockets[0].getsockname()[1]
                    w.write(f"229 Entering Extended Passive Mode (|||{port}|)\r\n".encode())
                elif cmd == "LIST" and data is not None:
                    self.lists += 1
                    w.write(b"150 here\r\n")
                    await w.drain()
                    dw = await asyncio.wait_for(data, 5)
                    dw.write(b"\r\n".join(self.LINES) + b"\r\n")
                    await dw.drain()
                    dw.close()
                    w.write(b"226 done\r\n")
                elif cmd == "QUIT":
                    w.write(b"221 bye\r\n")
                    break
                else:
                    w.write(b"502 no\r\n")
                await w.drain()
        if server is not None:
            server.close()
        w.close()


async def test_ftp_absurd_size_and_undecodable_name_keep_the_good_entries(
    make_ctx: MakeCtx,
) -> None:
    fake = _Ftp("127.0.68.4")
    server = await asyncio.start_server(fake.control, fake.host, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await FTP.run(ServiceInfo(host=fake.host, port=port), make_ctx(timeout=20.0))
    finally:
        server.close()
    assert result.status is Status.SUCCESS, result.detail  # the listing did not break it
    f = _open(result, "ftp")
    assert f.listing is not None
    assert sorted(e.path for e in f.listing.entries) == ["/good.wav", "/good2.wav"]
    assert f.evidence["entries_skipped"] == 3 and fake.lists == 1


async def test_nfs_repeated_cookie_stops_and_never_inflates() -> None:
    """A READDIR(PLUS) server that hands back the same cookie forever (the page lister of the
    NFS probe is replaced by one that does, over the real crawl adapter)."""
    from probes.nfs import crawl_export
    from scanner.probe import ListingBounds

    calls: list[bytes] = []

    async def page(fh: bytes, state: object) -> tuple[list[tuple[str, bool, int | None, int | None,
                                                                 object]], object]:  # fmt: skip
        calls.append(fh)
        if fh == b"root":
            return [("a.wav", False, 10, 0, b"fa"), ("d", True, None, 0, b"dh")], (7, b"v")
        return [("x.wav", False, 1, 0, b"fx")], (9, b"v")

    listing = await crawl_export(b"root", page, ListingBounds(requests=50))
    files = sorted(e.path for e in listing.entries if not e.is_dir)
    assert files == ["/a.wav", "/d/x.wav"]  # each once, however often the server repeats
    assert listing.loops >= 2 and listing.duplicates >= 2
    assert len(calls) == 4  # two pages per directory: the repeat is seen, never followed
