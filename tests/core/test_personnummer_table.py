"""Swedish personal identity numbers against a table worked out by hand.

Each check digit below was computed outside the module (Luhn: double the 1st, 3rd, 5th, 7th
and 9th digit, add the digits of each product, the check digit brings the sum to a multiple of
10). Worked example, 811218-987?: 8*2=16 -> 1+6=7, 1, 1*2=2, 2, 1*2=2, 8, 9*2=18 -> 9, 8,
7*2=14 -> 5; sum 44, check digit 6. Rows with a 5 or a 9 in a doubled place (5*2=10 -> 1,
9*2=18 -> 9) and with a 9 in a place that is not doubled catch the off-by-one digit sums.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scanner.personal.personnummer import (
    IdentityNumber,
    _candidates,
    candidates,
    contains,
    find,
    luhn_check_digit,
    luhn_valid,
    mask,
)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """The candidates of a text are cached (``_candidates``): each test looks afresh, so no
    answer computed by another test (or another version of the code) stands in for its own."""
    _candidates.cache_clear()
    yield
    _candidates.cache_clear()


CHECK_DIGITS = [
    ("811218987", 6),
    ("790312239", 3),
    ("550505555", 7),  # 5 doubled three times: 1+5+0+5+0+5+1+5+1 = 23
    ("191919191", 4),  # 9 never doubled: 2+9+2+9+2+9+2+9+2 = 46
    ("999999999", 9),  # 9 doubled (18 -> 9) and not: 81
    ("010101010", 6),
    ("121212121", 2),
    ("701063238", 3),
    ("000229123", 5),
    ("070123456", 9),
    ("460366111", 9),
    ("850709967", 2),
    ("121082123", 5),
    ("520101555", 8),
    ("401231999", 4),
    ("950505959", 3),
    ("811261987", 2),
    ("800229123", 8),
    ("930101999", 9),
    ("090909909", 5),
    ("000000000", 0),
]


@pytest.mark.parametrize(("nine", "digit"), CHECK_DIGITS)
def test_check_digit(nine: str, digit: int) -> None:
    assert luhn_check_digit(nine) == digit
    assert luhn_valid(nine + str(digit))
    assert not luhn_valid(nine + str((digit + 1) % 10))
    assert not luhn_valid(nine + str((digit + 5) % 10))


@pytest.mark.parametrize("text", ["811218987", "81121898760", "81121898a6", "", "811218987 "])
def test_luhn_valid_needs_ten_ascii_digits(text: str) -> None:
    assert not luhn_valid(text)


# (text, found as a valid number, coordination number)
VALID = [
    ("811218-9876", False),
    ("8112189876", False),
    ("811218+9876", False),
    ("19811218-9876", False),
    ("198112189876", False),
    ("550505-5557", False),
    ("401231-9994", False),
    ("18401231-9994", False),
    ("20401231-9994", False),
    ("010101-0106", False),
    ("121212-1212", False),
    ("950505-9593", False),
    ("520101-5558", False),
    ("930101-9999", False),
    ("000229-1235", False),  # 29 Feb 2000: yy divisible by 4 is a leap year
    ("20000229-1235", False),
    ("800229-1238", False),
    ("040229-1231", False),  # 040229123: 0,4,0,2,4,9,2,2,6 -> sum 29, check digit 1
    ("070123-4569", False),  # dashed: an identity number, not a phone number
    ("701063-2383", True),  # day 63 = 3 + 60
    ("460366-1119", True),
    ("121082-1235", True),
    ("811261-9872", True),  # day 61 = 1 + 60
]


@pytest.mark.parametrize(("text", "coordination"), VALID)
def test_valid_numbers(text: str, coordination: bool) -> None:
    framed = f"id: {text}."
    (hit,) = find(framed)
    assert hit == IdentityNumber(
        start=4,
        end=4 + len(text),
        text=text,
        luhn_ok=True,
        coordination=coordination,
        ambiguous_phone=False,
    )
    assert hit.valid and contains(framed)
    assert hit.masked == text[:-4] + "XXXX"
    assert mask(framed) == f"id: {text[:-4]}XXXX."


# (text, why it is not a valid number, masked)
INVALID = [
    ("811218-9875", "wrong check digit", "811218-XXXX"),
    ("811218+9875", "wrong check digit", "811218+XXXX"),
    ("8112189875", "wrong check digit", "8112189875"),
    ("550505-5550", "wrong check digit", "550505-XXXX"),
    ("811318-9875", "month 13", "811318-9875"),
    ("811200-9876", "day 0", "811200-9876"),
    ("811232-9878", "day 32", "811232-9878"),
    ("811260-9873", "day 60 is coordination day 0", "811260-9873"),
    ("811292-9875", "coordination day 32", "811292-9875"),
    ("810229-1237", "29 Feb 1981", "810229-1237"),
    ("020229-1234", "29 Feb 1902 or 2002", "020229-1234"),
    ("030229-1234", "29 Feb 1903 or 2003", "030229-1234"),
    ("990229-1234", "29 Feb 1999 or 2099", "990229-1234"),
    ("19000229-1235", "29 Feb 1900", "19000229-1235"),
    ("21401231-9994", "century 21", "21401231-9994"),
    ("17401231-9994", "century 17", "17401231-9994"),
    ("19811218+9876", "plus only with a two-digit year", "19811218+9876"),
    ("1811218-9876", "part of a longer run of digits", "1811218-9876"),
    ("811218-98761", "part of a longer run of digits", "811218-98761"),
    ("811218--9876", "two separators", "811218--9876"),
    ("81121-9876", "five date digits", "81121-9876"),
]


@pytest.mark.parametrize(("text", "why", "masked"), INVALID)
def test_invalid_numbers(text: str, why: str, masked: str) -> None:
    assert find(text) == [], why
    assert not contains(text)
    assert mask(f"<{text}>") == f"<{masked}>"


def test_undashed_mobile_number_is_not_an_identity_number() -> None:
    (c,) = candidates("0701234569")  # Luhn-valid, date 2007-01-23, and a 070 mobile number
    assert (c.luhn_ok, c.ambiguous_phone, c.valid) == (True, True, False)
    assert find("0701234569") == []
    # 072, 073, 076 and 079 cannot start a date (month 2x, 3x, 6x, 9x): 070 is the only overlap
    (c,) = candidates("0711234569")  # 071 is not a mobile prefix
    assert not c.ambiguous_phone
    (c,) = candidates("20070123-4569")  # twelve digits: never a phone
    assert not c.ambiguous_phone


def test_several_numbers_in_one_text() -> None:
    text = "a 811218-9876 b 8112189875 c 19790312-2391 d 550505-5557"
    assert [h.text for h in find(text)] == ["811218-9876", "550505-5557"]
    assert [c.text for c in candidates(text)] == [
        "811218-9876",
        "8112189875",
        "19790312-2391",
        "550505-5557",
    ]
    assert mask(text) == "a 811218-XXXX b 8112189875 c 19790312-XXXX d 550505-XXXX"


def test_short_and_digitless_texts() -> None:
    assert candidates("811218987") == [] and candidates("no digits at all, long") == []
    assert find("8112189876") != []  # exactly ten characters
    assert mask("") == "" and mask("abc") == "abc" and mask("12345") == "12345"
    assert mask("8112189876") == "811218XXXX"
