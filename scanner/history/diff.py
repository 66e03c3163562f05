"""What changed between two scans, keyed by the stable finding id (like nmap's ndiff)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from scanner.models import Finding, Report


@dataclass
class Delta:
    new: list[Finding] = field(default_factory=list)
    resolved: list[Finding] = field(default_factory=list)
    still_open: list[Finding] = field(default_factory=list)
    changed: list[tuple[Finding, Finding]] = field(default_factory=list)
    """(old, new) pairs whose severity or evidence differ."""

    def as_dict(self) -> dict[str, object]:
        return {
            "new": [f.model_dump(mode="json") for f in self.new],
            "resolved": [f.model_dump(mode="json") for f in self.resolved],
            "still_open": [f.model_dump(mode="json") for f in self.still_open],
            "changed": [
                {"old": o.model_dump(mode="json"), "new": n.model_dump(mode="json")}
                for o, n in self.changed
            ],
        }


def diff_findings(old: list[Finding], new: list[Finding]) -> Delta:
    before = {f.id: f for f in old}
    after = {f.id: f for f in new}
    delta = Delta()
    for fid, finding in after.items():
        prior = before.get(fid)
        if prior is None:
            delta.new.append(finding)
        elif prior.severity != finding.severity or prior.evidence != finding.evidence:
            delta.changed.append((prior, finding))
        else:
            delta.still_open.append(finding)
    delta.resolved = [f for fid, f in before.items() if fid not in after]
    return delta


class BaselineError(ValueError):
    """A baseline that cannot be read: never treated as an empty baseline."""


def load_baseline_file(path: Path) -> set[str]:
    """Finding ids from a JSON report written by ``nasscan scan --format json``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"baseline {path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise BaselineError(
            f"baseline {path}: not a text file (byte {exc.start} is not UTF-8)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"baseline {path}: not JSON ({exc.msg} at line {exc.lineno}; truncated?)") from None
    except (RecursionError, ValueError):
        raise BaselineError(f"baseline {path}: not a usable JSON document") from None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise BaselineError(f"baseline {path}: not a nasscan JSON report (no 'findings' list)")
    try:
        report = Report.model_validate(data)
    except (RecursionError, ValueError) as exc:
        if not isinstance(exc, ValidationError):
            raise BaselineError(f"baseline {path}: not a usable nasscan report") from None
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BaselineError(f"baseline {path}: invalid report at {where}: {first['msg']}") from exc
    return {f.id for f in report.findings}
