"""XDR: byte-exact encodings, round trips (hypothesis) and bounded decoding of hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.protocols.xdr import MAX_OPAQUE, Packer, Unpacker, XDRError


def test_known_encodings() -> None:
    assert Packer().uint(1).get_buffer() == b"\x00\x00\x00\x01"
    assert Packer().int32(-1).get_buffer() == b"\xff\xff\xff\xff"
    assert Packer().uhyper(2**40).get_buffer() == b"\x00\x00\x01\x00\x00\x00\x00\x00"
    assert Packer().boolean(True).get_buffer() == b"\x00\x00\x00\x01"
    # RFC 4506: opaque/string are length-prefixed and zero-padded to a multiple of 4
    assert Packer().string("abcde").get_buffer() == b"\x00\x00\x00\x05abcde\x00\x00\x00"
    assert Packer().opaque(b"").get_buffer() == b"\x00\x00\x00\x00"
    assert Packer().fopaque(3, b"xyz").get_buffer() == b"xyz\x00"


def test_range_checks_on_encode() -> None:
    with pytest.raises(XDRError):
        Packer().uint(-1)
    with pytest.raises(XDRError):
        Packer().uint(2**32)
    with pytest.raises(XDRError):
        Packer().int32(2**31)
    with pytest.raises(XDRError):
        Packer().fopaque(4, b"abc")
    with pytest.raises(XDRError):
        Packer().raw(b"abc")


def test_absurd_opaque_length_rejected_before_allocating() -> None:
    # a 4 GiB length in an 8-byte message: must fail on the length, not try to read it
    u = Unpacker(b"\xff\xff\xff\xff\x00\x00\x00\x00")
    with pytest.raises(XDRError, match="exceeds"):
        u.opaque()
    u = Unpacker(Packer().uint(MAX_OPAQUE + 1).get_buffer() + b"\0" * 64)
    with pytest.raises(XDRError, match="limit"):
        u.opaque()
    # a length within the limit but beyond the data is also refused
    with pytest.raises(XDRError, match="bytes left"):
        Unpacker(b"\x00\x00\x01\x00abcd").opaque()


def test_absurd_array_count_rejected() -> None:
    u = Unpacker(b"\x7f\xff\xff\xff" + b"\0" * 8)
    with pytest.raises(XDRError):
        u.array(u.uint)
    u = Unpacker(b"\x00\x00\x00\x05" + b"\0" * 8)  # 5 items claimed, 2 present
    with pytest.raises(XDRError):
        u.array(u.uint)
    u = Unpacker(b"\x00\x00\x00\x03" + b"\0" * 12)
    with pytest.raises(XDRError, match="limit"):
        u.array(u.uint, max_items=2)


def test_linked_list_bounded_and_terminated() -> None:
    one = b"\x00\x00\x00\x01"
    body = (one + b"\x00\x00\x00\x07") * 3 + b"\x00\x00\x00\x00"
    u = Unpacker(body)
    assert u.linked_list(u.uint) == [7, 7, 7]
    u.done()
    with pytest.raises(XDRError):
        u2 = Unpacker(body)
        u2.linked_list(u2.uint, max_items=2)
    with pytest.raises(XDRError, match="truncated"):
        u3 = Unpacker(one + b"\x00\x00\x00\x07" + one)  # no terminator
        u3.linked_list(u3.uint)


def test_bad_bool_and_trailing_bytes() -> None:
    with pytest.raises(XDRError):
        Unpacker(b"\x00\x00\x00\x02").boolean()
    u = Unpacker(b"\x00\x00\x00\x01\x00")
    u.uint()
    with pytest.raises(XDRError, match="unread"):
        u.done()


@given(
    st.lists(st.integers(0, 2**32 - 1), max_size=20),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.binary(max_size=300),
    st.text(max_size=100),
    st.booleans(),
)
def test_round_trip(
    uints: list[int], i: int, uh: int, h: int, blob: bytes, text: str, flag: bool
) -> None:
    p = Packer()
    p.array(uints, p.uint)
    p.int32(i).uhyper(uh).hyper(h).opaque(blob).string(text).boolean(flag)
    p.fopaque(len(blob), blob)
    buf = p.get_buffer()
    assert len(buf) % 4 == 0
    u = Unpacker(buf)
    assert u.array(u.uint) == uints
    assert u.int32() == i
    assert u.uhyper() == uh
    assert u.hyper() == h
    assert u.opaque() == blob
    assert u.string() == text
    assert u.boolean() is flag
    assert u.fopaque(len(blob)) == blob
    u.done()


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_arbitrary_bytes_only_raise_xdr_error(data: bytes) -> None:
    u = Unpacker(data)
    try:
        u.opaque(64)
        u.array(lambda: u.string(32), 16)
        u.linked_list(u.uhyper, 16)
    except XDRError:
        pass


@given(st.binary(min_size=1, max_size=64))
def test_every_truncation_of_a_message_is_an_xdr_error(blob: bytes) -> None:
    buf = Packer().opaque(blob).uint(5).get_buffer()
    for cut in range(len(buf)):
        u = Unpacker(buf[:cut])
        with pytest.raises(XDRError):
            u.opaque()
            u.uint()
