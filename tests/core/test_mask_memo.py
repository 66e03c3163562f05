"""mask_text remembers what it masked (the same strings pass through triage and every writer's
final guard): the memo must never hand back a string masked under older secrets, nor grow
without bound."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scanner import masking
from scanner.masking import mask_text
from scanner.redact import forget_secrets, register_secret


@pytest.fixture(autouse=True)
def _no_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def test_a_secret_registered_later_is_masked_in_a_remembered_string() -> None:
    text = "share pw hunter2x on 19790312-2391"
    assert mask_text(text) == "share pw hunter2x on 19790312-XXXX"
    register_secret("hunter2x")
    assert mask_text(text) == "share pw *** on 19790312-XXXX"
    forget_secrets()
    assert mask_text(text) == "share pw hunter2x on 19790312-XXXX"


def test_remembered_answers_equal_fresh_ones_and_the_memo_is_bounded() -> None:
    texts = [f"/rec/0701234{i:03d}_19790312-2391_{i}.wav" for i in range(300)]
    first = [mask_text(t) for t in texts]
    again = [mask_text(t) for t in texts]
    assert first == again == [masking._mask_text(t) for t in texts]
    assert all("19790312-XXXX" in t and "0701234" not in t for t in first)
    long = "x1" * (masking._MEMO_LENGTH + 1)
    mask_text(long)
    assert long not in masking._memo  # long strings are masked each time, not kept
    for i in range(masking._MEMO_ENTRIES + 10):
        mask_text(f"n{i}")
    assert len(masking._memo) <= masking._MEMO_ENTRIES
