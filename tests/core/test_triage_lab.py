"""Triage against the real lab: the recordings tree is critical with the right counts wherever it
is exposed, secured twins and dull findings are not critical, and no number leaks unmasked."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from lab_fixtures import Lab

from scanner.lab.content import files as lab_files
from scanner.personal import personnummer as pn

pytestmark = pytest.mark.lab


def _scan(lab: Lab, fmt: str) -> str:
    tcp = sorted({t.port for t in lab.manifest.targets if t.transport == "tcp"})
    udp = sorted({t.port for t in lab.manifest.targets if t.transport == "udp"})
    ports = ",".join([f"T:{p}" for p in tcp] + [f"U:{p}" for p in udp])
    hosts = sorted({t.host for t in lab.manifest.targets})
    options = ["-p", ports, "--format", fmt, "-q", "--fail-on", "none", "--probe-timeout", "60"]
    done = subprocess.run(
        [sys.executable, "-m", "scanner.cli", "scan", *hosts, *options],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def lab_report(lab: Lab) -> dict[str, Any]:
    return dict(json.loads(_scan(lab, "json")))


def _exposes_recordings(t: Any) -> bool:
    return any(
        m.get("kind") == "unauthenticated-access" and "2019" in m.get("listing_includes", [])
        for m in t.must
    )


def test_recordings_are_critical_with_correct_counts(lab: Lab, lab_report: dict[str, Any]) -> None:
    tree = lab_files()
    n_files = len(tree)
    n_rec = sum(1 for f in tree if f.path.endswith((".wav", ".mp3")))
    targets = [t for t in lab.manifest.targets if _exposes_recordings(t)]
    assert targets, "no lab target exposes the recordings tree"
    problems = []
    for t in targets:
        found = [
            f
            for f in lab_report["findings"]
            if f["host"] == t.host and f["port"] == t.port and f["kind"] == "unauthenticated-access"
        ]
        full = [f for f in found if f["evidence"].get("categories", {}).get("recording")]
        if not full:
            problems.append(f"{t.name}: no finding with recordings ({len(found)} open findings)")
            continue
        for f in full:
            ev = f["evidence"]
            if f["severity"] != "critical":
                problems.append(f"{t.name} {f['resource']}: severity {f['severity']}")
            if not ev["truncated"]:
                if ev["files"] != n_files or ev["categories"]["recording"] != n_rec:
                    problems.append(f"{t.name} {f['resource']}: counts {ev['categories']}")
                if ev["categories"].get("personal-id") != n_rec:
                    problems.append(f"{t.name} {f['resource']}: personal ids {ev['categories']}")
            if ev["headline"]["text"] != "audio recordings named with personal identity numbers":
                problems.append(f"{t.name}: headline {ev['headline']}")
    assert problems == []


def test_secured_twins_and_dull_findings_are_not_critical(
    lab: Lab, lab_report: dict[str, Any]
) -> None:
    twins = {
        (t.host, t.port)
        for t in lab.manifest.targets
        if not any(m.get("kind") == "unauthenticated-access" for m in t.must)
    }
    for f in lab_report["findings"]:
        ev = f["evidence"]
        if (f["host"], f["port"]) in twins:
            assert f["severity"] != "critical", f
        if f["kind"] != "unauthenticated-access":
            assert f["severity"] in ("medium", "low", "info"), f
        elif not ev.get("critical_content"):
            assert f["severity"] in ("high", "medium"), f


def test_lab_outputs_are_masked(lab: Lab, lab_report: dict[str, Any]) -> None:
    text = json.dumps(lab_report)
    assert pn.find(text) == []
    assert "-XXXX" in text  # the samples carry masked numbers, so the check had something to do
    jsonl = _scan(lab, "jsonl")
    assert pn.find(jsonl) == [] and "-XXXX" in jsonl
    console = _scan(lab, "console")
    assert pn.find(console) == []
    assert "audio recordings named with personal identity numbers" in console
