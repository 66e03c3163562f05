"""Swedish personal identity numbers: Luhn, dates, coordination numbers, near misses, masking."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from scanner.masking import mask_text
from scanner.personal import personnummer as pn


def test_luhn_check_digit_known_values() -> None:
    # Skatteverket's classic test numbers, checked by hand.
    assert pn.luhn_check_digit("811218987") == 6
    assert pn.luhn_check_digit("121212121") == 2
    assert pn.luhn_check_digit("701063239") == 1
    assert pn.luhn_valid("8112189876")
    assert not pn.luhn_valid("8112189875")
    assert not pn.luhn_valid("811218987")  # nine digits
    assert not pn.luhn_valid("81121898x6")


@pytest.mark.parametrize(
    "text",
    [
        "811218-9876",
        "19811218-9876",
        "198112189876",
        "8112189876",
        "121212+1212",  # '+' : 100 years or older
        "701063-2391",  # coordination number: day 03 + 60
        "19701063-2391",
        "20000229-0005",  # leap day
    ],
)
def test_valid_forms_are_found(text: str) -> None:
    if text == "20000229-0005":
        text = "20000229-000" + str(pn.luhn_check_digit("000229000"))
    found = pn.find(f"x_{text}_y.wav")
    assert [f.text for f in found] == [text]


def test_coordination_number_is_flagged() -> None:
    (hit,) = pn.find("701063-2391")
    assert hit.coordination
    (plain,) = pn.find("811218-9876")
    assert not plain.coordination


def _with_check(nine: str) -> str:
    return nine + str(pn.luhn_check_digit(nine))


@pytest.mark.parametrize(
    "text",
    [
        "811218-9875",  # wrong check digit
        "19811218-9877",
        "8112189870",
        "1811218-98766",  # part of longer digit runs
        "98112189876",
        "81121898761",
        "20190314101500",  # a timestamp
        "19811232-" + _with_check("811232987")[-4:],  # day 32
        "811318-" + _with_check("811318987")[-4:],  # month 13
        "810018-" + _with_check("810018987")[-4:],  # month 00
        "810230-" + _with_check("810230987")[-4:],  # 30 February
        "19010229-" + _with_check("010229987")[-4:],  # 29 Feb in a non-leap year (12 digits)
        "811292-" + _with_check("811292987")[-4:],  # coordination day 32 (92)
        "811200-" + _with_check("811200987")[-4:],  # day 00
        "17811218-9876",  # century 17
        "21811218-9876",  # century 21
        "19811218+9876",  # '+' only exists with two-digit years
        "811218--9876",
        "811218 9876",
        "8112-18-9876",
        "0701234567",  # not Luhn-valid anyway, and a mobile number
        "0701230005",  # Luhn-valid, a real date (2007-01-23) but reads as a mobile number
    ],
)
def test_near_misses_are_not_found(text: str) -> None:
    assert pn.find(text) == [], text
    assert not pn.contains(f"file_{text}.wav")


def test_mobile_like_number_is_luhn_valid_but_ambiguous() -> None:
    # Guard the near-miss above: it really is date- and Luhn-valid, only the phone rule stops it.
    (c,) = pn.candidates("0701230005")
    assert c.luhn_ok and c.ambiguous_phone and not c.valid
    # With a dash it is unambiguous: an identity number of someone born 2007-01-23.
    assert [f.text for f in pn.find("070123-0005")] == ["070123-0005"]


def test_several_numbers_in_one_name() -> None:
    found = pn.find("121212-1212 och 19811218-9876 samt 701063-2391")
    assert [f.text for f in found] == ["121212-1212", "19811218-9876", "701063-2391"]


def test_mask_examples() -> None:
    # identity number and phone number, one function (scanner.masking.mask_text)
    assert mask_text("19790312-2393_0701234567.wav") == "19790312-XXXX_070XXXXXXX.wav"
    assert mask_text("call +46 70 123 45 67 at 20190314T101500") == (
        "call +46 7X XXX XX XX at 20190314T101500")
    assert mask_text("08-123 456 78") == "08-1XX XXX XX"
    assert mask_text("a/811218-9876/b") == "a/811218-XXXX/b"
    assert mask_text("198112189876") == "19811218XXXX"
    assert mask_text("121212+1212") == "121212+XXXX"
    # Dashed with a wrong check digit: still somebody's number (a typo) -> masked.
    assert mask_text("19790312-2391") == "19790312-XXXX"
    # Undashed with a wrong check digit: just digits, left alone.
    assert mask_text("7903122391") == "7903122391"
    # Not a date: left alone.
    assert mask_text("19791312-2391") == "19791312-2391"
    assert mask_text("no digits here") == "no digits here"
    assert mask_text("") == ""


# --- property tests -----------------------------------------------------------------------------

_BIRTH = st.dates(min_value=date(1890, 1, 1), max_value=date(2025, 12, 31))


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(number as written, ten digits) for a random valid personal or coordination number."""
    born = draw(_BIRTH)
    coordination = draw(st.booleans())
    serial = f"{draw(st.integers(0, 999)):03d}"
    day = born.day + (60 if coordination else 0)
    short = f"{born:%y%m}{day:02d}"
    ten = _with_check(short + serial)
    form = draw(st.sampled_from(["short-dash", "short-plus", "short", "long-dash", "long"]))
    if form == "short-dash":
        text = f"{short}-{ten[6:]}"
    elif form == "short-plus":
        text = f"{short}+{ten[6:]}"
    elif form == "short":
        # Undashed ten digits that look like a 07x mobile number are read as phone numbers.
        assume(not (ten.startswith("07") and ten[2] in "02369"))
        text = ten
    elif form == "long-dash":
        text = f"{born:%Y}{short[2:]}-{ten[6:]}"
    else:
        text = f"{born:%Y}{short[2:]}{ten[6:]}"
    return text, ten


_FILLER = st.text(alphabet="abcXYZ_-/. ", max_size=12)


@given(valid_numbers(), _FILLER, _FILLER)
def test_generated_valid_number_is_detected_and_masked(
    num: tuple[str, str], before: str, after: str
) -> None:
    text, ten = num
    # Filler must not glue digits or a separator onto the number.
    assume(not before.endswith(("-", "+")) and not after.startswith(("-", "+")))
    s = f"{before}{text}{after}"
    found = pn.find(s)
    assert [f.text for f in found] == [text]
    masked = mask_text(s)
    assert masked == f"{before}{text[:-4]}XXXX{after}"
    assert ten[6:] not in masked[len(before) + len(text) - 4 : len(before) + len(text)]
    assert pn.find(masked) == []


@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.integers(1, 9))
def test_wrong_check_digit_is_never_detected(nine: str, offset: int) -> None:
    wrong = (pn.luhn_check_digit(nine) + offset) % 10
    ten = nine + str(wrong)
    assert not pn.luhn_valid(ten)
    for form in (ten, f"{ten[:6]}-{ten[6:]}", f"19{ten[:6]}-{ten[6:]}", f"20{ten}"):
        assert pn.find(f"rec_{form}.wav") == []


@given(st.text(alphabet="0123456789-+_ab", max_size=40))
def test_masking_never_leaves_a_valid_number(s: str) -> None:
    masked = mask_text(s)
    assert pn.find(masked) == []
    assert len(masked) == len(s)


def test_every_day_of_a_leap_year_with_coordination() -> None:
    d = date(2000, 1, 1)
    while d.year == 2000:
        short = f"{d:%y%m}{d.day + 60:02d}"
        ten = _with_check(short + "123")
        assert pn.find(f"{short}-{ten[6:]}"), d
        d += timedelta(days=1)
