"""Property: every parser in scanner/protocols/ returns or raises only its declared error type.

One hypothesis test per entry point (``tests/parser_targets.py``), bounded in examples and
input size, on random bytes and on seeds from tests/captures and tests/listing_corpus with
random edits. ``bench/fuzz.py`` runs the same targets for minutes (bench/RESULTS.md).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_targets import TARGETS, Target, check, seeds

_BIG = "9" * 5000  # int() refuses more than 4,300 digits
HOSTILE = [b"[" * 3000, b'{"a":' * 2000, b"<a>" * 3000, b"9" * 4000, b"1e999999 KB",
           b"<?xml version='1.0' encoding='nope'?><a/>", b"\xff\xfe\x00", b"",
           # str.isdigit() is true for superscripts, which int() refuses
           b"HTTP/1.1 \xb200 OK\r\n\r\n", "size=1²;type=file; a".encode(),
           "<list><file size='1²'>a</file></list>".encode(),
           ("<ListBucketResult><Name>b</Name><Contents><Key>a</Key><Size>1²</Size></Contents>"
            "</ListBucketResult>").encode(),
           ("<D:multistatus xmlns:D='DAV:'><D:response><D:href>/a</D:href><D:propstat><D:prop>"
            "<D:getcontentlength>1²</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK"
            "</D:status></D:propstat></D:response></D:multistatus>").encode(),
           f"-rw-r--r-- 1 u g {_BIG} Jan 01 2020 name".encode(),
           f"01-01-20  10:00AM  {_BIG} name".encode(), f"size={_BIG};type=file; a".encode(),
           f"HTTP/1.1 {_BIG} OK\r\n\r\n".encode(),
           f"<list><file size='{_BIG}'>a</file></list>".encode(),
           f"drwxr-xr-x {_BIG} 2019/03/14 10:15:00 name".encode(), f"@RSYNCD: {_BIG}.0".encode(),
           b"<html><title>Index of /a/</title><a href='//[x/'>x</a><a href='b'>b</a></html>",
           f"<ListBucketResult><Contents><Key>a</Key><Size>{_BIG}</Size></Contents></ListBucketResult>"
           .encode()]


@st.composite
def _inputs(draw: st.DrawFn, pool: tuple[bytes, ...]) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0 or not pool:
        return draw(st.binary(max_size=1024))
    if kind == 1:
        return draw(st.sampled_from(HOSTILE))
    base = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 4))):
        if not base:
            break
        i = draw(st.integers(0, len(base) - 1))
        op = draw(st.integers(0, 2))
        if op == 0:
            base[i] = draw(st.integers(0, 255))
        elif op == 1:
            del base[i : i + draw(st.integers(1, 64))]
        else:
            base[i:i] = draw(st.binary(min_size=1, max_size=16))
    return bytes(base)


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_parser_raises_only_declared_errors(target: Target) -> None:
    pool = tuple(seeds(target, limit=16))

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_inputs(pool))
    def prop(data: bytes) -> None:
        exc = check(target, data)
        assert exc is None, f"{target.name}: {type(exc).__name__}: {exc} on {data[:80]!r}"

    prop()


def test_targets_cover_every_protocol_module() -> None:
    from pathlib import Path

    import scanner.protocols as pkg

    root = Path(pkg.__file__).parent
    packages = {p.parent.name for p in root.glob("*/__init__.py")}
    # http_cache parses nothing: it keeps answers http_client already parsed (its own
    # property tests are in tests/core/test_http_cache.py)
    modules = ({p.stem for p in root.glob("*.py")} | packages) - {"__init__", "xdr", "http_cache"}
    covered = {t.name.split(".")[0] for t in TARGETS}
    assert modules <= covered, f"parsers without a property test: {sorted(modules - covered)}"


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_hostile_shapes_raise_only_declared_errors(target: Target) -> None:
    """The known-bad shapes, every one through every parser (deterministic)."""
    for data in HOSTILE:
        exc = check(target, data)
        assert exc is None, f"{target.name}: {type(exc).__name__}: {exc} on {data[:80]!r}"
