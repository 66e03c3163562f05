"""Swedish phone numbers in file and folder names.

Recognised: mobile numbers ``070-1234567``, ``0701234567``, ``070 123 45 67``, ``+46701234567``,
``0046701234567``, ``+46 70 123 45 67``; landline numbers only in the unambiguous forms with an
area-code dash (``08-123 456 78``, ``031-1234567``) or an international prefix (``+4681234567``).
A bare run of digits that is not a mobile number is not a phone number (too many false positives:
order numbers, timestamps). Identity numbers are removed before looking, so ``19790312-2391`` is
never read as a phone number.
"""

from __future__ import annotations

import re

from scanner.personal import personnummer

_SEP = r"[-\s]?"
_MOBILE = (
    r"(?:\+46|0046)" + _SEP + r"7[02369]" + _SEP + r"\d{3}" + _SEP + r"\d{2}" + _SEP + r"\d{2}"
    r"|0\s?7[02369]" + _SEP + r"\d{3}" + _SEP + r"\d{2}" + _SEP + r"\d{2}"
)
_LANDLINE = (
    r"0[1-9]\d{0,2}-\d{2,3}(?:\s?\d{2,3}){1,3}"
    r"|(?:\+46|0046)" + _SEP + r"[1-68-9]\d{0,2}" + _SEP + r"\d{5,8}"
)
_PHONE = re.compile(r"(?<![\d+])(?:" + _MOBILE + "|" + _LANDLINE + r")(?!\d)")


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def _spans(text: str, *, blank_identity: bool = True) -> list[tuple[int, int]]:
    """(start, end) of each phone number in ``text``."""
    if not any(ch.isdigit() for ch in text) or not _PHONE.search(text):
        return []
    # Blank out identity-number candidates (same length, so offsets stay put).
    for c in personnummer.candidates(text) if blank_identity else ():
        if c.ambiguous_phone:
            continue
        text = text[: c.start] + " " * (c.end - c.start) + text[c.end :]
    out = []
    for m in _PHONE.finditer(text):
        digits = _digits(m.group(0))
        if digits.startswith("0046"):
            digits = digits[4:]
        elif m.group(0).startswith("+"):
            digits = digits[2:]
        national = digits.lstrip("0")
        # Swedish numbers are 7-9 digits after the leading zero.
        if 7 <= len(national) <= 9:
            start = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
            end = m.start() + len(m.group(0).rstrip())
            out.append((start, end))
    return out


def find(text: str) -> list[str]:
    """Phone numbers in ``text``, as written."""
    return [text[a:b] for a, b in _spans(text)]


def mask(text: str, *, identity_masked: bool = False) -> str:
    """Every phone number with all but its first three digits replaced: ``070XXXXXXX``.

    ``identity_masked``: ``personnummer.mask`` already ran on ``text``, so what could be read
    as an identity number is masked (or not one) and need not be looked for again.
    """
    spans = _spans(text, blank_identity=not identity_masked)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(text[pos:start])
        seen = 0
        for ch in text[start:end]:
            if ch.isdigit():
                seen += 1
                out.append(ch if seen <= 3 else "X")
            else:
                out.append(ch)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def contains(text: str) -> bool:
    return bool(find(text))
