"""Where things are, for test modules at any depth under tests/ (import, never ``__file__``)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent
CAPTURES = TESTS / "captures"  # bytes captured from the lab's daemons
CORPUS = TESTS / "listing_corpus"  # directory listings captured from server programs
DATA = TESTS / "data"
