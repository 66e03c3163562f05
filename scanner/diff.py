"""What changed between two scans, keyed by the stable finding id (like nmap's ndiff).

Only stable facts are compared: severity, authentication, encryption, access and the evidence
without anything that differs between two looks at the same server (timings, the random path a
probe fetches to recognise soft-404 pages). A finding that is gone is "resolved" only when its
service answered in the newer scan; when the service did not answer it is "not seen".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scanner.models import Finding, Report, Service, Status

_ANSWERED = {Status.SUCCESS, Status.AUTH_REQUIRED, Status.NOT_APPLICABLE, Status.REFUSED,
             Status.PROTOCOL_ERROR}
"""A probe that ended so heard the service; timeout and error did not."""
_VOLATILE_KEY = re.compile(r"(^|_)(time|elapsed|duration|latency|rtt|took|ms|seconds)($|_)")
_RANDOM_PATH = re.compile(r"/nasscan-[0-9a-f]{8,}")
ServiceKey = tuple[str, int, str]


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if not _VOLATILE_KEY.search(str(k))}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, str):
        return _RANDOM_PATH.sub("/nasscan-*", value)
    return value


def stable_facts(f: Finding) -> dict[str, Any]:
    """What of a finding must stay equal between two scans of an unchanged server."""
    return {
        "severity": f.severity.value,
        "authentication": f.authentication.value,
        "encryption": f.encryption.value,
        "access": f.access.value if f.access else None,
        "evidence": _stable(f.evidence),
    }


def answered(services: Iterable[Service]) -> set[ServiceKey]:
    """The services of a scan that answered at least one probe (or only the sweep: no probe)."""
    out: set[ServiceKey] = set()
    for s in services:
        if not s.probes or any(st in _ANSWERED for st in s.probes.values()):
            out.add((s.host, s.port, s.transport.value))
    return out


@dataclass
class Delta:
    new: list[Finding] = field(default_factory=list)
    resolved: list[Finding] = field(default_factory=list)
    still_open: list[Finding] = field(default_factory=list)
    changed: list[tuple[Finding, Finding]] = field(default_factory=list)
    """(old, new) pairs whose stable facts differ."""
    not_seen: list[Finding] = field(default_factory=list)
    """Gone, but their service did not answer this time: nothing is known to be fixed."""

    def as_dict(self) -> dict[str, object]:
        return {
            "new": [f.model_dump(mode="json") for f in self.new],
            "resolved": [f.model_dump(mode="json") for f in self.resolved],
            "not_seen": [f.model_dump(mode="json") for f in self.not_seen],
            "still_open": [f.model_dump(mode="json") for f in self.still_open],
            "changed": [
                {"old": o.model_dump(mode="json"), "new": n.model_dump(mode="json")}
                for o, n in self.changed
            ],
        }


def diff_findings(
    old: list[Finding], new: list[Finding], new_services: Iterable[Service] | None = None
) -> Delta:
    """Compare two scans' findings. With ``new_services`` (the newer scan's services), a gone
    finding whose service did not answer is ``not_seen`` instead of ``resolved``."""
    before = {f.id: f for f in old}
    after = {f.id: f for f in new}
    heard = answered(new_services) if new_services is not None else None
    delta = Delta()
    for fid, finding in after.items():
        prior = before.get(fid)
        if prior is None:
            delta.new.append(finding)
        elif stable_facts(prior) != stable_facts(finding):
            delta.changed.append((prior, finding))
        else:
            delta.still_open.append(finding)
    for fid, finding in before.items():
        if fid in after:
            continue
        if heard is None or (finding.host, finding.port, finding.transport.value) in heard:
            delta.resolved.append(finding)
        else:
            delta.not_seen.append(finding)
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
