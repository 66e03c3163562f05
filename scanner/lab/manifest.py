"""The lab's expected-results manifest: what a correct scanner MUST and MUST NOT report.

Source of truth: one JSON file per lab service in ``scanner/lab/data/expected.d/<service>.json``
(each lab helper owns its own files); ``load()`` merges them (``python -m scanner.lab.manifest``
prints the merged manifest). Format of one file::

    {
      "service": "smb",                      # the lab service name (``nasscan lab up --only``)
      "targets": [
        {
          "name": "smb-guest",               # unique in the lab (usually the daemon name)
          "host": "127.0.10.1", "port": 445, "transport": "tcp",
          "protocol": ["smb"],               # accepted protocol names for the detected service
          "detect": true,                    # the report's services must list host:port
          "must": [ PATTERN, ... ],          # each must match at least one finding at host:port
          "must_not": [ PATTERN, ... ],      # no finding at host:port may match any of these
          "note": "why"
        }
      ]
    }

A PATTERN is a subset of ``scanner.models.Finding`` fields: ``kind`` (required), and optionally
``resource``, ``authentication``, ``encryption``, ``access``, ``protocol``. A string must equal
the finding's value; a list means "one of"; an absent key matches anything. ``resource`` is
compared after stripping surrounding "/" (so ``recordings``, ``/recordings`` and
``/recordings/`` are the same). ``listing_includes`` (optional, list of paths) must each appear
among the finding's listing entries (compared the same way, by path suffix) when the finding
carries a listing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.lab.service import LAB_CONFIG_DIR

EXPECTED_DIR = LAB_CONFIG_DIR / "expected.d"
PATTERN_KEYS = {"kind", "resource", "authentication", "encryption", "access", "protocol",
                "listing_includes"}
KINDS = {"unauthenticated-access", "cleartext-transport", "encryption-optional",
         "legacy-protocol", "signing-not-required"}


@dataclass
class Target:
    service: str
    name: str
    host: str
    port: int
    transport: str = "tcp"
    protocol: list[str] = field(default_factory=list)
    detect: bool = True
    must: list[dict[str, Any]] = field(default_factory=list)
    must_not: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


@dataclass
class Manifest:
    targets: list[Target]

    def by_name(self, name: str) -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(name)

    def for_services(self, services: Iterable[str]) -> Manifest:
        wanted = set(services)
        return Manifest([t for t in self.targets if t.service in wanted])

    def to_dict(self) -> dict[str, Any]:
        return {"targets": [t.__dict__ for t in self.targets]}


def _norm(path: object) -> str:
    return str(path).strip("/") if path is not None else ""


def _validate_pattern(p: Mapping[str, Any], where: str) -> None:
    unknown = set(p) - PATTERN_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown pattern keys {sorted(unknown)}")
    kinds = p.get("kind")
    if kinds is None:
        raise ValueError(f"{where}: pattern without kind")
    for k in kinds if isinstance(kinds, list) else [kinds]:
        if k not in KINDS:
            raise ValueError(f"{where}: unknown kind {k!r}")


def load(directory: Path = EXPECTED_DIR) -> Manifest:
    """Merge every ``*.json`` in ``directory``; validates names and patterns."""
    targets: list[Target] = []
    seen: set[str] = set()
    for f in sorted(directory.glob("*.json")):
        doc = json.loads(f.read_text())
        svc = doc["service"]
        for raw in doc["targets"]:
            t = Target(service=svc, **raw)
            if isinstance(raw.get("protocol"), str):
                t.protocol = [raw["protocol"]]
            if t.name in seen:
                raise ValueError(f"{f.name}: duplicate target name {t.name!r}")
            seen.add(t.name)
            for p in [*t.must, *t.must_not]:
                _validate_pattern(p, f"{f.name}:{t.name}")
            targets.append(t)
    return Manifest(targets)


def _value(finding: Mapping[str, Any] | Any, key: str) -> Any:
    v = finding.get(key) if isinstance(finding, Mapping) else getattr(finding, key, None)
    return getattr(v, "value", v)


def _listing_paths(finding: Mapping[str, Any] | Any) -> list[str] | None:
    listing = finding.get("listing") if isinstance(finding, Mapping) else getattr(
        finding, "listing", None)
    if listing is None:
        return None
    entries = listing.get("entries", []) if isinstance(listing, Mapping) else listing.entries
    return [_norm(e.get("path") if isinstance(e, Mapping) else e.path) for e in entries]


def matches(pattern: Mapping[str, Any], finding: Mapping[str, Any] | Any) -> bool:
    """Does one finding (a ``Finding`` or its JSON dict) match a pattern?"""
    for key, want in pattern.items():
        if key == "listing_includes":
            paths = _listing_paths(finding)
            if paths is None:
                continue
            for p in want:
                n = _norm(p)
                if not any(x == n or x.endswith("/" + n) for x in paths):
                    return False
            continue
        got = _value(finding, key)
        allowed = want if isinstance(want, list) else [want]
        if key == "resource":
            if _norm(got) not in {_norm(a) for a in allowed}:
                return False
        elif got not in allowed:
            return False
    return True


def check(
    manifest: Manifest,
    findings: Iterable[Mapping[str, Any] | Any],
    services: Iterable[Mapping[str, Any] | Any] | None = None,
) -> list[str]:
    """Compare a scan with the manifest; returns human-readable violations (empty = correct)."""
    found = list(findings)
    problems: list[str] = []
    for t in manifest.targets:
        here = [f for f in found if _value(f, "host") == t.host and _value(f, "port") == t.port]
        for p in t.must:
            if not any(matches(p, f) for f in here):
                problems.append(f"{t.name} {t.host}:{t.port}: missing finding {p}")
        for p in t.must_not:
            for f in here:
                if matches(p, f):
                    problems.append(
                        f"{t.name} {t.host}:{t.port}: forbidden finding {p} "
                        f"(got {_value(f, 'kind')} resource={_value(f, 'resource')!r})"
                    )
        if services is not None and t.detect:
            svcs = [
                s for s in services if _value(s, "host") == t.host and _value(s, "port") == t.port
            ]
            if not svcs:
                problems.append(f"{t.name} {t.host}:{t.port}: service not detected")
            elif t.protocol and not any(_value(s, "protocol") in t.protocol for s in svcs):
                got = [_value(s, "protocol") for s in svcs]
                problems.append(f"{t.name} {t.host}:{t.port}: protocol {got} not in {t.protocol}")
    return problems


def main() -> None:
    json.dump(load().to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
