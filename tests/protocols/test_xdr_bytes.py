"""XDR (RFC 4506) against byte strings written by hand: the edges of every integer type, items
that exactly fill the buffer, padding, limits, and the module's own error (never struct.error)
for every value that cannot be encoded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scanner.protocols.xdr import MAX_ARRAY, MAX_OPAQUE, Packer, Unpacker, XDRError

H = bytes.fromhex

# (method, value, bytes on the wire)
INTEGERS = [
    ("uint", 0, "00000000"),
    ("uint", 1, "00000001"),
    ("uint", 0x01020304, "01020304"),
    ("uint", 2**31, "80000000"),
    ("uint", 2**32 - 1, "ffffffff"),
    ("int32", 0, "00000000"),
    ("int32", -1, "ffffffff"),
    ("int32", 2**31 - 1, "7fffffff"),
    ("int32", -(2**31), "80000000"),
    ("int32", -2, "fffffffe"),
    ("uhyper", 0, "0000000000000000"),
    ("uhyper", 0x0102030405060708, "0102030405060708"),
    ("uhyper", 2**32, "0000000100000000"),
    ("uhyper", 2**64 - 1, "ffffffffffffffff"),
    ("hyper", -1, "ffffffffffffffff"),
    ("hyper", 2**63 - 1, "7fffffffffffffff"),
    ("hyper", -(2**63), "8000000000000000"),
    ("hyper", 2**32, "0000000100000000"),
]


@pytest.mark.parametrize(("method", "value", "wire"), INTEGERS)
def test_integers_both_ways(method: str, value: int, wire: str) -> None:
    p = Packer()
    assert getattr(p, method)(value) is p
    assert p.get_buffer() == H(wire)
    u = Unpacker(H(wire))
    assert getattr(u, method)() == value
    assert (u.pos, u.remaining) == (len(wire) // 2, 0)
    u.done()


OUT_OF_RANGE = [
    ("uint", -1, "unsigned int out of range: -1"),
    ("uint", 2**32, "unsigned int out of range: 4294967296"),
    ("int32", 2**31, "int out of range: 2147483648"),
    ("int32", -(2**31) - 1, "int out of range: -2147483649"),
    ("uhyper", -1, "unsigned hyper out of range: -1"),
    ("uhyper", 2**64, "unsigned hyper out of range: 18446744073709551616"),
    ("hyper", 2**63, "hyper out of range: 9223372036854775808"),
    ("hyper", -(2**63) - 1, "hyper out of range: -9223372036854775809"),
    ("uint", 1.0, "unsigned int is not an integer: 1.0"),
    ("int32", "1", "int is not an integer: '1'"),
    ("uhyper", None, "unsigned hyper is not an integer: None"),
    ("hyper", 2.5, "hyper is not an integer: 2.5"),
]


@pytest.mark.parametrize(("method", "value", "message"), OUT_OF_RANGE)
def test_values_that_cannot_be_encoded_raise_xdr_error(
    method: str, value: object, message: str
) -> None:
    p = Packer()
    with pytest.raises(XDRError) as err:
        getattr(p, method)(value)
    assert str(err.value) == message
    assert p.get_buffer() == b""  # nothing half-written


def test_booleans() -> None:
    assert Packer().boolean(True).boolean(False).get_buffer() == H("0000000100000000")
    u = Unpacker(H("00000001 00000000 00000002 ffffffff"))
    assert u.boolean() is True and u.boolean() is False
    with pytest.raises(XDRError, match=r"^bad XDR bool 2$"):
        u.boolean()
    with pytest.raises(XDRError, match=r"^bad XDR bool 4294967295$"):
        u.boolean()


@pytest.mark.parametrize(
    ("n", "data", "wire"),
    [
        (0, b"", ""),
        (1, b"a", "61000000"),
        (3, b"abc", "61626300"),
        (4, b"abcd", "61626364"),  # exactly fills: no padding
        (5, b"abcde", "6162636465000000"),
        (8, b"abcdefgh", "6162636465666768"),
    ],
)
def test_fixed_opaque(n: int, data: bytes, wire: str) -> None:
    assert Packer().fopaque(n, data).get_buffer() == H(wire)
    u = Unpacker(H(wire))
    assert u.fopaque(n) == data
    assert u.remaining == 0


def test_fixed_opaque_length_must_match() -> None:
    with pytest.raises(XDRError, match=r"^fixed opaque needs 4 bytes, got 3$"):
        Packer().fopaque(4, b"abc")
    with pytest.raises(XDRError, match=r"^fixed opaque needs 0 bytes, got 1$"):
        Packer().fopaque(0, b"a")


@pytest.mark.parametrize(
    ("data", "wire"),
    [
        (b"", "00000000"),
        (b"a", "00000001 61000000"),
        (b"ab", "00000002 61620000"),
        (b"abc", "00000003 61626300"),
        (b"abcd", "00000004 61626364"),
        (b"abcde", "00000005 6162636465000000"),
    ],
)
def test_variable_opaque_exactly_fills(data: bytes, wire: str) -> None:
    assert Packer().opaque(data).get_buffer() == H(wire)
    u = Unpacker(H(wire))
    assert u.opaque() == data
    u.done()
    assert u.pos == len(H(wire))


def test_strings() -> None:
    assert Packer().string("\u00e9").get_buffer() == H("00000002 c3a90000")
    assert Packer().string(b"\xff").get_buffer() == H("00000001 ff000000")
    assert Unpacker(H("00000001 ff000000")).string() == "\ufffd"
    assert Unpacker(H("00000003 61626300")).string(max_len=3) == "abc"
    with pytest.raises(XDRError, match=r"^opaque length 3 exceeds the limit 2$"):
        Unpacker(H("00000003 61626300")).string(max_len=2)


def test_opaque_limits_and_truncation() -> None:
    assert Unpacker(H("00000004 61626364")).opaque(max_len=4) == b"abcd"
    with pytest.raises(XDRError, match=r"^opaque length 4 exceeds the limit 3$"):
        Unpacker(H("00000004 61626364")).opaque(max_len=3)
    with pytest.raises(XDRError, match=r"^opaque length 4 exceeds the 3 bytes left$"):
        Unpacker(H("00000004 616263")).opaque()
    with pytest.raises(XDRError, match=r"^opaque length 3 exceeds the 3 bytes left$"):
        Unpacker(H("00000003 616263")).opaque()  # the padding is missing
    # the default limit, checked before the bytes left
    assert MAX_OPAQUE == 2**20
    with pytest.raises(XDRError, match=r"^opaque length 1048577 exceeds the limit 1048576$"):
        Unpacker(H("00100001")).opaque()
    with pytest.raises(XDRError, match=r"^opaque length 1048576 exceeds the 0 bytes left$"):
        Unpacker(H("00100000")).opaque()


def test_truncated_reads_name_need_position_and_bytes_left() -> None:
    u = Unpacker(H("00000001 616263"))
    assert u.uint() == 1
    with pytest.raises(XDRError) as err:
        u.uint()
    assert str(err.value) == "truncated XDR: need 4 bytes at 4, have 3"
    assert (u.pos, u.remaining) == (4, 3)  # nothing consumed by the failed read
    with pytest.raises(XDRError, match=r"^truncated XDR: need 8 bytes at 0, have 7$"):
        Unpacker(H("00000000 000000")).hyper()
    with pytest.raises(XDRError, match=r"^truncated XDR: need -1 bytes at 0, have 0$"):
        Unpacker(b"").fopaque(-1)
    with pytest.raises(XDRError, match=r"^truncated XDR: need 4 bytes at 0, have 0$"):
        Unpacker(b"").int32()


def test_position_rest_and_done() -> None:
    u = Unpacker(H("00000001 00000002 0a0b"), pos=4)
    assert (u.pos, u.remaining) == (4, 6)
    assert u.uint() == 2
    with pytest.raises(XDRError, match=r"^2 unread bytes at end of XDR data$"):
        u.done()
    assert u.rest() == H("0a0b")
    assert (u.pos, u.remaining, u.rest()) == (10, 0, b"")
    u.done()


def _uints(wire: str, max_items: int = MAX_ARRAY) -> list[int]:
    u = Unpacker(H(wire))
    out = u.array(u.uint, max_items)
    u.done()
    return out


def test_arrays() -> None:
    p = Packer()
    assert p.array([7, 8], p.uint) is p
    assert p.get_buffer() == H("00000002 00000007 00000008")
    assert Packer().array([], lambda _: None).get_buffer() == H("00000000")
    assert _uints("00000000") == []
    assert _uints("00000002 00000007 00000008") == [7, 8]  # count == bytes left / 4
    assert _uints("00000002 00000007 00000008", max_items=2) == [7, 8]
    with pytest.raises(XDRError, match=r"^array count 2 exceeds the limit 1$"):
        _uints("00000002 00000007 00000008", max_items=1)
    with pytest.raises(XDRError, match=r"^array count 3 exceeds the 8 bytes left$"):
        _uints("00000003 00000007 00000008")
    with pytest.raises(XDRError, match=r"^array count 1 exceeds the 3 bytes left$"):
        _uints("00000001 000000")
    assert MAX_ARRAY == 2**16
    with pytest.raises(XDRError, match=r"^array count 65537 exceeds the limit 65536$"):
        _uints("00010001")
    with pytest.raises(XDRError, match=r"^array count 65536 exceeds the 0 bytes left$"):
        _uints("00010000")


def test_optional_and_linked_list() -> None:
    u = Unpacker(H("00000000 00000001 00000009"))
    assert u.optional(u.uint) is None
    assert u.optional(u.uint) == 9
    u.done()
    wire = "00000001 00000005 00000001 00000006 00000000"
    u = Unpacker(H(wire))
    assert u.linked_list(u.uint, max_items=2) == [5, 6]
    u.done()
    u = Unpacker(H(wire))
    with pytest.raises(XDRError, match=r"^list longer than the limit 1$"):
        u.linked_list(u.uint, max_items=1)
    u = Unpacker(H("00000000"))
    assert u.linked_list(u.uint) == []
    u = Unpacker(H("00000001 00000005"))  # no terminating FALSE
    with pytest.raises(XDRError, match="truncated"):
        u.linked_list(u.uint)


def test_raw() -> None:
    p = Packer().raw(b"").raw(H("01020304")).uint(5)
    assert p.get_buffer() == H("01020304 00000005")
    for bad in (b"a", b"abc", b"abcde"):
        with pytest.raises(XDRError, match=r"^raw XDR must be a multiple of 4 bytes$"):
            Packer().raw(bad)


def test_a_whole_message_round_trips() -> None:
    def pack_entry(p: Packer) -> Callable[[tuple[int, str]], object]:
        return lambda e: p.uhyper(e[0]).string(e[1])

    p = Packer()
    p.uint(100003).int32(-5).array([(2**64 - 1, "a"), (0, "")], pack_entry(p)).boolean(True)
    wire = p.get_buffer()
    assert wire == H(
        "000186a3 fffffffb 00000002 ffffffffffffffff 00000001 61000000"
        " 0000000000000000 00000000 00000001"
    )
    u = Unpacker(wire)
    assert (u.uint(), u.int32()) == (100003, -5)
    assert u.array(lambda: (u.uhyper(), u.string())) == [(2**64 - 1, "a"), (0, "")]
    assert u.boolean() is True
    u.done()
