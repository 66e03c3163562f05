"""The S3 probe's ``GET /`` (issue 20): the fingerprint from the first 64 KiB, the whole answer
only from an S3 API, so that a listing page the HTTP probe cut at its entry bound (and left
cut in the service's response cache) answers it without a second download. Against an
in-process server that logs every request it answers.
"""

from __future__ import annotations

from collections.abc import Callable

from http_answers import serve_answers
from listing_pages import nginx_autoindex

from probes.http import PROBE as HTTP
from probes.s3 import FINGERPRINT_BODY
from probes.s3 import PROBE as S3
from scanner.models import Kind, ServiceInfo, Status
from scanner.probe import ProbeContext

ADDR = "127.0.67.40"


def _buckets(n: int) -> bytes:
    rows = "".join(f"<Bucket><Name>bucket-{i:05d}</Name>"
                   "<CreationDate>2019-03-14T10:15:00.000Z</CreationDate></Bucket>"
                   for i in range(n))  # fmt: skip
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult><Owner><ID>x</ID>'
        f"</Owner><Buckets>{rows}</Buckets></ListAllMyBucketsResult>"
    ).encode()


def _denied(method: str, target: str) -> tuple[int, str, bytes]:
    return 403, "application/xml", (
        b'<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>'
    )


async def test_a_big_bucket_list_is_read_whole(make_ctx: Callable[..., ProbeContext]) -> None:
    body = _buckets(2000)
    assert len(body) > 2 * FINGERPRINT_BODY

    def answer(method: str, target: str) -> tuple[int, str, bytes]:
        return (200, "application/xml", body) if target == "/" else _denied(method, target)

    log: list[str] = []
    async with serve_answers(ADDR, answer, log=log, server="AmazonS3") as port:
        result = await S3.run(ServiceInfo(host=ADDR, port=port), make_ctx().for_service())
    # first the fingerprint's 64 KiB, then (S3, and cut) the whole list
    assert log.count("GET /") == 2
    assert result.info["list_buckets"] == "allowed" and result.info["flavour"] == "aws"
    assert result.info["buckets"][:2] == ["bucket-00000", "bucket-00001"]


async def test_a_small_answer_is_read_once(make_ctx: Callable[..., ProbeContext]) -> None:
    def answer(method: str, target: str) -> tuple[int, str, bytes]:
        return (200, "application/xml", _buckets(3)) if target == "/" else _denied(method, target)

    log: list[str] = []
    async with serve_answers(ADDR, answer, log=log, server="AmazonS3") as port:
        result = await S3.run(ServiceInfo(host=ADDR, port=port), make_ctx().for_service())
    assert log.count("GET /") == 1 and result.info["list_buckets"] == "allowed"


async def test_the_http_probes_cut_page_answers_the_s3_probe(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    """The HTTP probe runs first on a shared port (probes run in name order) and reads the big
    listing only to its entry bound; the S3 probe's GET / is then answered by the cache."""
    page = nginx_autoindex(50_000)

    def answer(method: str, target: str) -> tuple[int, str, bytes]:
        if method == "GET" and target == "/":
            return 200, "text/html", page
        return 404, "text/html", b"<html>not here</html>"

    log: list[str] = []
    ctx = make_ctx().for_service()
    assert ctx.responses is not None
    async with serve_answers(ADDR, answer, log=log, server="nginx") as port:
        service = ServiceInfo(host=ADDR, port=port)
        http = await HTTP.run(service, ctx)
        s3 = await S3.run(service, ctx)
    assert log.count("GET /") == 1
    assert s3.status == Status.NOT_APPLICABLE
    (listing,) = [f for f in http.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert listing.listing is not None and listing.listing.truncated
    assert len(listing.listing.entries) == 2000
    assert http.info["bytes"] < 600_000 < len(page)  # the page was read to its entry bound
