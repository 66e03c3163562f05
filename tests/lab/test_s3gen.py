"""The lab's generating S3 endpoint (``scanner.lab.s3gen``) without a server: its answers parse
with the S3 probe's own parser and, walked page by page with ``/`` as the delimiter, give exactly
the shapes of ``scanner.lab.shapes``."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from scanner.lab import s3gen, shapes
from scanner.protocols import s3 as proto


@pytest.fixture(scope="module")
def buckets() -> dict[str, s3gen.Bucket]:
    return {"wide": s3gen.Bucket(shapes.wide_files()), "flat": s3gen.Bucket(shapes.flat_files())}


def _walk(buckets: dict[str, s3gen.Bucket], bucket: str, prefix: str, keys: int) -> list[str]:
    """Every object key under ``prefix``, through delimiter listings and continuation tokens."""
    out: list[str] = []
    token: str | None = None
    for _ in range(200_000):
        path = proto.list_objects_path(bucket, max_keys=keys, token=token, prefix=prefix,
                                       delimiter="/")  # fmt: skip
        status, body = s3gen.answer("GET", path, buckets)
        page = proto.parse_list_objects(body)
        assert status == 200 and page is not None and page.name == bucket
        assert len(page.objects) + len(page.prefixes) <= keys
        out += [o.key for o in page.objects]
        for p in page.prefixes:
            assert p.startswith(prefix) and p.endswith("/") and "/" not in p[len(prefix) : -1]
            out += _walk(buckets, bucket, p, keys)
        if not page.truncated:
            return out
        assert page.continuation and page.continuation != token
        token = page.continuation
    raise AssertionError("no end")


@pytest.mark.parametrize("keys", [3, 1000])
def test_wide_walk_is_exactly_the_shape(buckets: dict[str, s3gen.Bucket], keys: int) -> None:
    got = _walk(buckets, "wide", "", keys)
    assert sorted(got) == sorted(k for k, _ in shapes.wide_files())
    assert len(got) == len(set(got)) == shapes.WIDE_FILES


def test_flat_pages_and_sizes(buckets: dict[str, s3gen.Bucket]) -> None:
    status, body = s3gen.answer("GET", proto.list_objects_path("flat", max_keys=1000), buckets)
    page = proto.parse_list_objects(body)
    assert status == 200 and page is not None and page.truncated and page.continuation
    assert len(page.objects) == 1000 and page.objects[0].key == "f000000.dat"
    assert {o.size for o in page.objects} == {0}
    assert len(_walk(buckets, "flat", "", 1000)) == shapes.FLAT_FILES


def test_root_fingerprints_as_s3_and_lists_both_buckets(buckets: dict[str, s3gen.Bucket]) -> None:
    status, body = s3gen.answer("GET", "/", buckets)
    assert status == 200 and proto.parse_list_buckets(body) == ["wide", "flat"]
    assert proto.fingerprint(status, [("Server", "nasscan-lab-s3gen")], body) == "s3"


@pytest.mark.parametrize(
    ("method", "target", "status", "code"),
    [
        ("PUT", "/wide/x", 405, "MethodNotAllowed"),
        ("DELETE", "/flat", 405, "MethodNotAllowed"),
        ("GET", "/nope?list-type=2", 404, "NoSuchBucket"),
        ("GET", "/wide/g00/d000/report-1.txt", 404, "NoSuchKey"),
        ("GET", "/wide", 400, "InvalidArgument"),
        ("GET", "/wide?list-type=2&max-keys=x", 400, "InvalidArgument"),
        ("GET", "/wide?list-type=2&continuation-token=" + quote("%%%"), 400, "InvalidArgument"),
    ],
)
def test_everything_else_is_an_s3_error(
    buckets: dict[str, s3gen.Bucket], method: str, target: str, status: int, code: str
) -> None:
    got, body = s3gen.answer(method, target, buckets)
    err = proto.parse_error(body)
    assert got == status and err is not None and err.code == code
