"""scanner.protocols.sizes on edge rows whose answers are written by hand (not computed by it)."""

from __future__ import annotations

import math

import pytest

from scanner.protocols.sizes import BAD_SIZE, MAX_BELIEVABLE, MAX_DIGITS, believable, parse_decimal

# 2**60 = 1,152,921,504,606,846,976 (19 digits), written out rather than computed
TWO_60 = "1152921504606846976"


def test_constants_are_the_documented_ones() -> None:
    assert BAD_SIZE == -1
    assert int(TWO_60) == MAX_BELIEVABLE
    assert MAX_DIGITS == 19


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("\t\n", None),
        (b"", None),
        (b"  ", None),
        ("0", 0),
        ("1234", 1234),
        (" 7 ", 7),
        (b"4096", 4096),
        (b" 12\r\n", 12),
        ("0007", 7),
        ("1152921504606846975", 1152921504606846975),  # 2**60 - 1: the largest believed
        (TWO_60, -1),  # 2**60 itself: not believed
        ("1000000000000000000", 10**18),  # 19 digits, below 2**60: believed
        ("9999999999999999999", -1),  # 19 digits, above 2**60
        ("00000000000000000005", -1),  # 20 characters: refused whatever the value
        ("9" * 400, -1),
        ("-3", -1),
        ("+3", -1),
        ("3.5", -1),
        ("1 2", -1),
        ("0x10", -1),
        ("\u00b2", -1),  # superscript two: isdigit() but not int()
        ("1\u00b2", -1),
        ("\u0661\u0662", -1),  # Arabic-Indic 12: int() would accept it, a server's size is ASCII
        ("\uff11\uff12", -1),  # fullwidth 12
        (b"\xff12", -1),  # undecodable byte: replaced, then refused
        (b"1\xb2", -1),
    ],
)
def test_parse_decimal_rows(text: str | bytes | None, want: int | None) -> None:
    assert parse_decimal(text) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (0.0, 0),
        (-0.0, 0),
        (1.9, 1),  # truncated, not rounded
        (1228.8, 1228),  # 1.2 * 1024
        (5.0, 5),
        (-0.5, -1),
        (-1.0, -1),
        (float(2**60), -1),
        (float(2**60 - 2**8), 2**60 - 2**8),  # the float just below 2**60 is believed
        (math.inf, -1),
        (-math.inf, -1),
        (math.nan, -1),
    ],
)
def test_believable_rows(value: float, want: int) -> None:
    got = believable(value)
    assert got == want and type(got) is int
