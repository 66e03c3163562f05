"""S3 XML parsing and fingerprinting on bytes (captured from moto_server; AWS/MinIO/Ceph forms
written from their documented formats)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from repo_paths import CORPUS

from scanner.protocols import s3 as proto

TWIN_403 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access'
    b" Denied</Message><RequestId>4C0FFEE000000001</RequestId></Error>"
)


def test_moto_list_buckets() -> None:
    body = (CORPUS / "s3_moto_listbuckets.xml").read_bytes()
    assert proto.parse_list_buckets(body) == ["call-recordings"]
    assert proto.parse_list_objects(body) is None


def test_moto_list_objects_v2() -> None:
    page = proto.parse_list_objects((CORPUS / "s3_moto_listobjectsv2.xml").read_bytes())
    assert page is not None and page.name == "call-recordings"
    assert [(o.key, o.size) for o in page.objects] == [("2019/03/a.wav", 0), ("readme.txt", 0)]
    assert page.objects[0].mtime == "2026-11-23T12:53:12"
    assert page.truncated is False


def test_truncated_page_with_token() -> None:
    body = (
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
        b"<IsTruncated>true</IsTruncated><NextContinuationToken>tok/1=</NextContinuationToken>"
        b"<Contents><Key>x</Key><Size>5</Size></Contents>"
        b"<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes></ListBucketResult>"
    )
    page = proto.parse_list_objects(body)
    assert page is not None and page.truncated and page.continuation == "tok/1="
    assert page.prefixes == ["dir/"]
    assert "continuation-token=tok%2F1%3D" in proto.list_objects_path("b", token="tok/1=")


def test_errors() -> None:
    err = proto.parse_error((CORPUS / "s3_moto_nosuchbucket.xml").read_bytes())
    assert err is not None and (err.code, err.bucket) == ("NoSuchBucket", "nosuchbucket")
    err = proto.parse_error(TWIN_403)
    assert err is not None and err.code == "AccessDenied"
    assert proto.parse_error(b"<html>nope</html>") is None


@pytest.mark.parametrize(
    ("status", "headers", "body", "flavour"),
    [(403, [("server", "MinIO")], b"", "minio"),
     (200, [("server", "Ceph Object Gateway (squid)")], b"", "ceph-rgw"),
     (403, [("server", "AmazonS3"), ("x-amz-request-id", "X")], TWIN_403, "aws"),
     (403, [("server", "nginx"), ("x-amz-request-id", "4C0F")], TWIN_403, "s3"),
     (403, [("server", "nginx")], TWIN_403, "s3"),
     (200, [("server", "nginx")], (CORPUS / "s3_moto_listbuckets.xml").read_bytes(), "s3"),
     (200, [("server", "nginx")], b"<html><title>Index of /</title></html>", None),
     (404, [("server", "Apache")], b"<?xml version='1.0'?><Error><Code>Oops</Code></Error>", None),
     (200, [("content-type", "text/html")], b"", None)],
)  # fmt: skip
def test_fingerprint(
    status: int, headers: list[tuple[str, str]], body: bytes, flavour: str | None
) -> None:
    assert proto.fingerprint(status, headers, body) == flavour


def test_entity_bomb_is_not_parsed() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<ListAllMyBucketsResult><Buckets><Bucket><Name>&b;</Name></Bucket></Buckets>"
        b"</ListAllMyBucketsResult>"
    )
    assert proto.parse_list_buckets(bomb) is None


@given(st.binary(max_size=500))
def test_arbitrary_bytes(data: bytes) -> None:
    """Never raises; anything recognised as an error has a code."""
    err = proto.parse_error(data)
    assert err is None or err.code
    names = proto.parse_list_buckets(data)
    assert names is None or all(isinstance(n, str) for n in names)
    proto.parse_list_objects(data)
    assert proto.fingerprint(200, [], data) in (None, "s3")
