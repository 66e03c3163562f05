"""pytest plug-in for mutation runs only (bench/mutation.py loads it with `-p mutation_run`).

Never active in the normal suite. It makes each mutant cheaper to judge:
- tests run fastest first (by the durations mutmut measured in its clean run, read from
  `mutmut-stats.json` in the working directory), so with mutmut's `-x` a killed mutant usually
  stops after a few milliseconds of tests instead of after the property tests;
- when NASSCAN_MUTATION_EXAMPLES is set to N > 0, every hypothesis test runs at most N examples,
  derandomized (the same examples for every mutant, so a verdict does not depend on luck) and
  without a deadline (a loaded machine must not turn slowness into a kill). A surviving mutant
  runs all its tests, so this bounds what each survivor costs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import settings

STATS = Path("mutmut-stats.json")


def _durations() -> dict[str, float]:
    try:
        data = json.loads(STATS.read_text("utf-8"))
    except (OSError, ValueError):
        return {}  # the clean run itself: nothing measured yet
    durations = data.get("duration_by_test", {})
    return {str(k): float(v) for k, v in durations.items()}


def _cap(item: pytest.Item, examples: int) -> None:
    fn = getattr(item, "obj", None)
    if not getattr(fn, "is_hypothesis_test", False):
        return
    # hypothesis reads this attribute when the test is called; an explicit @settings on the test
    # outranks any profile, so the cap is applied here rather than by a settings profile
    current = getattr(fn, "_hypothesis_internal_use_settings", None)
    if not isinstance(current, settings):
        raise pytest.UsageError(f"{item.nodeid}: no hypothesis settings (hypothesis changed?)")
    fn._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
        current,
        max_examples=min(current.max_examples, examples),
        derandomize=True,
        database=None,
        deadline=None,
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    examples = int(os.environ.get("NASSCAN_MUTATION_EXAMPLES", "0") or 0)
    if examples > 0:
        for item in items:
            _cap(item, examples)
    durations = _durations()
    if durations:
        # stable: equal (or unknown, taken as slow) durations keep the file order
        items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))
