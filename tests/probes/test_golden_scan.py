"""A default scan of the lab is unchanged: the golden report (tests/data/golden/lab_scan.json)
holds every service and finding the probes gave before the probe layer was refactored."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest
from golden_scan import GOLDEN, normalise, scan
from lab_fixtures import Lab

pytestmark = pytest.mark.lab


def test_lab_scan_matches_the_golden_report(lab: Lab, tmp_path: Path) -> None:
    hosts = {t.host for t in lab.manifest.targets}
    golden = normalise(json.loads(GOLDEN.read_text()), hosts)
    assert golden["findings"], "the golden report has no finding for the services up"
    got = normalise(scan(sorted(hosts), tmp_path / "scan.json"), hosts)
    if got != golden:
        want_lines = json.dumps(golden, indent=1, sort_keys=True).splitlines()
        got_lines = json.dumps(got, indent=1, sort_keys=True).splitlines()
        diff = "\n".join(list(difflib.unified_diff(want_lines, got_lines, "golden", "scan",
                                                   lineterm="", n=3))[:200])
        pytest.fail(f"the lab scan differs from the golden report "
                    f"(regenerate with `python tests/golden_scan.py` only if intended):\n{diff}")
