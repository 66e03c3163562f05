"""Triage: turns a probe's raw finding into its final severity and evidence.

Every finding passes through ``triage_finding`` exactly once, in the engine, before it is
emitted. Probes never decide severity themselves, so the table lives in one place.
"""

from __future__ import annotations

from scanner.models import Finding, Kind, Severity

_BASE_SEVERITY: dict[Kind, Severity] = {
    Kind.UNAUTHENTICATED_ACCESS: Severity.HIGH,
    Kind.CLEARTEXT_TRANSPORT: Severity.MEDIUM,
    Kind.ENCRYPTION_OPTIONAL: Severity.LOW,
    Kind.LEGACY_PROTOCOL: Severity.LOW,
    Kind.SIGNING_NOT_REQUIRED: Severity.INFO,
}


def triage_finding(finding: Finding) -> Finding:
    """Return the finding with its severity (and, once classified, content evidence) set."""
    return finding.model_copy(update={"severity": _BASE_SEVERITY.get(finding.kind, Severity.INFO)})
