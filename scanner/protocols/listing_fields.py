"""Sizes and dates as directory-listing pages write them (``20K``, ``1.2 kb``,
``14-Mar-2019 10:15``, ``Mar 14 2019``, ...), found in free text and normalised.

Shared by the family parsers (``listing``) and the structural detector (``listing_structure``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from scanner.protocols.sizes import BAD_SIZE, believable

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}

SIZE_RE = re.compile(
    r"(?<![\w.:/,-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(bytes|[kmgtp]i?b|[kmgtp]|b)?(?![\w.:/,-])",
    re.IGNORECASE,
)

_DATE_RES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?"), "ymd"),
    (re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?"), "dMy"),
    (re.compile(r"(\d{4})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2})(?::(\d{2}))?"), "yMd"),
    (re.compile(r"(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2})(?::(\d{2}))?"), "dMy"),
    (
        re.compile(r"[A-Za-z]+, ([A-Za-z]+) (\d{1,2}), (\d{4})\s+(\d{1,2}):(\d{2})\s*([AP]M)?"),
        "Mdy_long",
    ),
    (
        re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AP]M)?"),
        "mdy",
    ),
    (re.compile(r"(\d{4})/(\d{2})/(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?"), "ymd"),
    (re.compile(r"(?<![\w])(\d{1,2})([A-Za-z]{3})(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?"), "dMy"),
    (re.compile(r"\b([A-Za-z]{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})\b"), "ctime"),
    (re.compile(r"\b([A-Za-z]{3}) +(\d{1,2}) +(\d{4})\b"), "Mdy_ls"),
]


def parse_size(text: str) -> int | None:
    """``'20000'`` -> 20000, ``'20K'`` -> 20480, ``'1.2 kb'`` -> 1228, ``'-'`` -> None; of several
    numbers, one with a unit first, then the largest; absurd (``'²'``, 40+ digits, an
    exbibyte) -> ``BAD_SIZE`` (the crawler skips and counts that entry)."""
    if any(c.isdigit() and not c.isascii() for c in text):  # '²', '٣': not a size we trust
        return BAD_SIZE
    best: tuple[bool, float] | None = None
    for i, m in enumerate(SIZE_RE.finditer(text[:4096])):
        if i >= 16:
            break
        digits = m.group(1).replace(",", "")
        if len(digits) > 40:  # no real size has that many digits
            return BAD_SIZE
        unit = (m.group(2) or "").lower()
        unit = "b" if unit == "bytes" else unit[:1]
        value = float(digits) * _UNITS.get(unit, 1)
        key = (bool(unit), value)  # a number with a unit first, then the largest
        if best is None or (key[0] and not best[0]) or (key[0] == best[0] and value > best[1]):
            best = key
    return None if best is None else believable(best[1])


def _iso(y: int, mo: int, d: int, h: int, mi: int, s: int) -> str | None:
    if not (1 <= mo <= 12 and 1 <= d <= 31 and 0 <= h <= 23 and 0 <= mi <= 59 and 0 <= s <= 60):
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"


def _month(name: str) -> int:
    return _MONTHS.get(name[:3].lower(), 0)


def find_date(text: str) -> tuple[str | None, str]:
    """The first recognised date in ``text`` (normalised) and the text with it removed."""
    for rx, kind in _DATE_RES:
        for m in _first(rx.finditer(text[:4096]), 4):
            iso = _date_of(kind, m.groups())
            if iso:
                return iso, text[: m.start()] + " " + text[m.end() :]
    return None, text


def _first(it: Iterator[re.Match[str]], n: int) -> Iterator[re.Match[str]]:
    for i, m in enumerate(it):
        if i >= n:
            return
        yield m


def _date_of(kind: str, g: tuple[Any, ...]) -> str | None:
    iso: str | None
    if kind == "ymd":
        iso = _iso(int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5] or 0))
    elif kind == "dMy":
        iso = _iso(int(g[2]), _month(g[1]), int(g[0]), int(g[3]), int(g[4]), int(g[5] or 0))
    elif kind == "yMd":
        iso = _iso(int(g[0]), _month(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5] or 0))
    elif kind == "ctime":
        iso = _iso(int(g[5]), _month(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]))
    elif kind == "Mdy_ls":
        iso = _iso(int(g[2]), _month(g[0]), int(g[1]), 0, 0, 0)
    else:
        if kind == "Mdy_long":
            mo, d, y, s, ampm = _month(g[0]), int(g[1]), int(g[2]), 0, g[5]
        else:
            mo, d, y, s, ampm = int(g[0]), int(g[1]), int(g[2]), int(g[5] or 0), g[6]
        h, mi = int(g[3]), int(g[4])
        if ampm:
            h = h % 12 + (12 if ampm.upper() == "PM" else 0)
        iso = _iso(y, mo, d, h, mi, s)
    return iso


def normalise_date(text: str) -> str | None:
    return find_date(text)[0]
