"""The golden lab scan: what a default ``nasscan scan`` of the lab reports, with everything that
legitimately changes from run to run removed (ids, timestamps, durations, passive-mode ports,
random probe names). A refactor of the probe layer must leave it unchanged.

Regenerate (inside the lab, all services up) only when a change of results is intended, and say
why in the commit: ``nasscan lab exec -- python tests/golden_scan.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "data" / "golden" / "lab_scan.json"

# Values that differ between two scans of an unchanged lab (checked by scanning twice).
_VOLATILE = [
    (re.compile(r"\(\|\|\|\d+\|\)"), "(|||PORT|)"),  # EPSV answers
    (re.compile(r"\(\d+,\d+,\d+,\d+,\d+,\d+\)"), "(PASV)"),  # PASV answers
    (re.compile(r"nasscan-[0-9a-f]{8,}"), "nasscan-RANDOM"),  # invented user and path names
]
_SCOPE_DROPPED = {"duration_s", "concurrency", "fd_limit", "sweep_processes", "seed", "targets",
                  "addresses", "hosts", "pairs", "udp_attempts", "sweep", "udp", "alive_hosts",
                  "udp_skipped_silent"}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        for pattern, replacement in _VOLATILE:
            value = pattern.sub(replacement, value)
    return value


def normalise(report: dict[str, Any], hosts: set[str] | None = None) -> dict[str, Any]:
    """The comparable part of a JSON report, restricted to ``hosts`` when given."""
    def keep(item: dict[str, Any]) -> bool:
        return hosts is None or item["host"] in hosts

    services = sorted((s for s in report["services"] if keep(s)),
                      key=lambda s: (s["host"], s["port"], s["transport"]))
    findings = sorted(
        (f for f in report["findings"] if keep(f)),
        key=lambda f: (f["host"], f["port"], f["transport"], f["protocol"], f["kind"],
                       f.get("resource") or "", f["title"]),
    )
    scope = {k: v for k, v in report["scope"].items() if k not in _SCOPE_DROPPED}
    return dict(_scrub({"scope": scope, "services": services, "findings": findings,
                        "errors": sorted(report["errors"]), "aborted": report["aborted"]}))


def scan(hosts: list[str], out: Path) -> dict[str, Any]:
    """A scan of ``hosts`` (inside the lab namespace) with default settings but a long probe
    deadline, read back from its JSON report."""
    done = subprocess.run(
        [sys.executable, "-m", "scanner.cli", "scan", *hosts, "--no-history", "--format", "json",
         "-o", str(out), "-q", "--fail-on", "none",
         # A probe cut by its deadline reports less: on a loaded machine the default 60 s can
         # cut the crawl shapes' HTTP walks. The request budget, not time, is what must bound
         # them here, so the comparison does not depend on the machine's load.
         "--probe-timeout", "900"],
        capture_output=True, text=True, timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scan failed ({done.returncode}): {done.stderr[-2000:]}")
    return dict(json.loads(out.read_text()))


def main() -> None:
    import tempfile

    from scanner.lab import manifest

    hosts = sorted({t.host for t in manifest.load().targets})
    with tempfile.TemporaryDirectory() as tmp:
        report = scan(hosts, Path(tmp) / "scan.json")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(normalise(report), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} ({len(report['findings'])} findings)")


if __name__ == "__main__":
    main()
