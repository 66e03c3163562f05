"""Swedish personal identity numbers (personnummer, samordningsnummer) in free text.

Forms recognised (Skatteverket's formats):

- ``YYMMDD-NNNN`` and ``YYMMDD+NNNN`` (``+`` when the person is 100 or older),
- ``YYYYMMDD-NNNN`` and ``YYYYMMDDNNNN`` (century 18, 19 or 20),
- ``YYMMDDNNNN`` without a separator.

A candidate counts as a number when its date exists (coordination numbers: day + 60) and its last
digit is the Luhn check digit over the ten digits ``YYMMDDNNN``. A candidate must not be part of a
longer run of digits.

Masking is deliberately broader than detection: a candidate with a real date is masked even when
its check digit is wrong (a typo'd number is still somebody's number), the last four digits become
``XXXX`` and the rest of the text is kept, e.g. ``19790312-2391`` -> ``19790312-XXXX``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

# Digits not preceded/followed by another digit. Separator: '-' or '+' or nothing.
_CANDIDATE = re.compile(r"(?<!\d)(?P<date>\d{8}|\d{6})(?P<sep>[-+]?)(?P<serial>\d{4})(?!\d)")

# An undashed ten-digit Swedish mobile number (07x...) is read as a phone number, not an identity
# number: without a separator the two cannot be told apart and phones are far more common in names.
_MOBILE_LIKE = re.compile(r"07[02369]\d{7}")


def luhn_check_digit(nine_digits: str) -> int:
    """The Luhn check digit for ``YYMMDDNNN`` (weights 2,1,2,1,... from the left)."""
    total = 0
    for i, ch in enumerate(nine_digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def luhn_valid(ten_digits: str) -> bool:
    return (
        len(ten_digits) == 10
        and ten_digits.isdigit()
        and luhn_check_digit(ten_digits[:9]) == int(ten_digits[9])
    )


def _valid_date(year: int, month: int, day: int) -> tuple[bool, bool]:
    """(date exists, is coordination number). Coordination numbers add 60 to the day."""
    coordination = day > 60
    if coordination:
        day -= 60
    try:
        date(year, month, day)
    except ValueError:
        return False, coordination
    return True, coordination


@dataclass(frozen=True)
class IdentityNumber:
    """One personal identity number found in a text."""

    start: int
    end: int
    text: str
    """As written in the text."""
    luhn_ok: bool
    coordination: bool
    ambiguous_phone: bool
    """Undashed ten digits that also look like a Swedish mobile number."""

    @property
    def valid(self) -> bool:
        return self.luhn_ok and not self.ambiguous_phone

    @property
    def masked(self) -> str:
        return self.text[:-4] + "XXXX"


def _check(m: re.Match[str]) -> IdentityNumber | None:
    d, sep, serial = m.group("date"), m.group("sep"), m.group("serial")
    if len(d) == 8:
        if sep == "+":  # the '+' form only exists with a two-digit year
            return None
        century = int(d[:2])
        if century not in (18, 19, 20):
            return None
        year = int(d[:4])
        short = d[2:]
    else:
        short = d
        # The century is not written: 20YY is a leap year exactly when YY is a multiple of 4,
        # so 29 Feb of any year that can be one (1900 cannot, but 00 may be 2000) passes.
        year = 2000 + int(d[:2])
    exists, coordination = _valid_date(year, int(short[2:4]), int(short[4:]))
    if not exists:
        return None
    ten = short + serial
    ambiguous = len(d) == 6 and sep == "" and bool(_MOBILE_LIKE.fullmatch(ten))
    return IdentityNumber(
        start=m.start(),
        end=m.end(),
        text=m.group(0),
        luhn_ok=luhn_valid(ten),
        coordination=coordination,
        ambiguous_phone=ambiguous,
    )


def candidates(text: str) -> list[IdentityNumber]:
    """Every date-valid identity-number-shaped string in ``text`` (check digit not required)."""
    if len(text) < 10 or not any(ch.isdigit() for ch in text):
        return []
    return list(_candidates(text))


@lru_cache(maxsize=8192)
def _candidates(text: str) -> tuple[IdentityNumber, ...]:
    # Cached: the same name is looked at by the detector rule, the phone detector and masking.
    found = []
    for m in _CANDIDATE.finditer(text):
        hit = _check(m)
        if hit is not None:
            found.append(hit)
    return tuple(found)


def find(text: str) -> list[IdentityNumber]:
    """Valid personal identity numbers (and coordination numbers) in ``text``."""
    return [c for c in candidates(text) if c.valid]


def contains(text: str) -> bool:
    return bool(find(text))


def mask(text: str) -> str:
    """Replace the serial and check digits of every identity-number-shaped string by ``XXXX``.

    Masks anything with a real date in a dashed/plus form, and undashed forms whose check digit
    is valid, so a typo'd dashed number is masked too.
    """
    for c in candidates(text):
        if c.luhn_ok or c.text[-5] in ("-", "+"):
            text = text[: c.start] + c.masked + text[c.end :]  # same length: offsets hold
    return text
