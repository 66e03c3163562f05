"""Sizes as servers write them, parsed without trusting them.

``int()`` accepts what ``str.isdigit()`` accepts only in part (``'²'`` is a digit to ``isdigit``
and an error to ``int``), and a 400-digit size is a valid int but no real file. Parsers call
``parse_decimal`` and get ``BAD_SIZE`` for such values: the crawler skips that entry and counts
it (``scanner.crawl``), the rest of the listing stands.
"""

from __future__ import annotations

BAD_SIZE = -1
"""A size field that was present but not believable: the entry is skipped as bad."""
MAX_BELIEVABLE = 1 << 60
MAX_DIGITS = 19


def parse_decimal(text: str | bytes | None) -> int | None:
    """``'1234'`` -> 1234; ``''``/None -> None; ``'²'``, ``'-3'``, 400 digits -> ``BAD_SIZE``."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    t = text.strip()
    if not t:
        return None
    if len(t) > MAX_DIGITS or not t.isascii() or not t.isdigit():
        return BAD_SIZE
    value = int(t)
    return value if value < MAX_BELIEVABLE else BAD_SIZE


def believable(value: float) -> int:
    """A computed size (e.g. ``1.2 * 1024``) as int, or ``BAD_SIZE`` if infinite or absurd."""
    if value != value or value < 0 or value >= MAX_BELIEVABLE:  # NaN, negative, huge or inf
        return BAD_SIZE
    return int(value)
