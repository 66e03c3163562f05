"""SARIF 2.1.0 as code-scanning dashboards read it, derived from the one finding model.

- one rule per (kind, protocol), e.g. ``unauthenticated-access/smb``, with a short and full
  description, ``help`` (text and markdown: what it means, how to fix it) and
  ``properties.security-severity`` (the CVSS-like number GitHub code scanning sorts by, the
  worst of the rule's results) and ``problem.severity``;
- each result: ``ruleId`` and ``ruleIndex``, ``level``, a message, the service URL
  (``smb://127.0.10.1:445/``) as artifact location and the resource as logical location, and
  ``partialFingerprints`` from the stable finding id, so a dashboard tracks one alert across
  scans.
"""

from __future__ import annotations

import json
from typing import Any

from scanner.masking import mask_report
from scanner.models import Finding, Kind, Report, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "nasscanFindingId/v1"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "none",
}
_PROBLEM = {"error": "error", "warning": "warning", "note": "recommendation",
            "none": "recommendation"}
# GitHub's code scanning reads a CVSS-like number (as a string) from this property of a rule.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
_RULE_TEXT = {
    Kind.UNAUTHENTICATED_ACCESS: "Storage hands out data with no, anonymous or guest credentials",
    Kind.CLEARTEXT_TRANSPORT: "Credentials or data cross the network unencrypted",
    Kind.ENCRYPTION_OPTIONAL: "Encryption is offered but not required",
    Kind.LEGACY_PROTOCOL: "A legacy protocol version is enabled",
    Kind.SIGNING_NOT_REQUIRED: "Message signing is not required",
}
_WHY = {
    Kind.UNAUTHENTICATED_ACCESS: (
        "Anyone who can reach this service can list or read what it stores without a password: "
        "no exploit is needed, only a client. Exposed recordings, identity numbers or backups "
        "are a personal-data breach."
    ),
    Kind.CLEARTEXT_TRANSPORT: (
        "Logins and file contents cross the network in plaintext, so anyone on the path can "
        "read them or reuse the credentials."
    ),
    Kind.ENCRYPTION_OPTIONAL: (
        "The server accepts clients that do not encrypt: a client or an attacker in the middle "
        "can choose the unprotected path."
    ),
    Kind.LEGACY_PROTOCOL: (
        "An old protocol version with known weaknesses is still accepted; clients can be "
        "downgraded to it."
    ),
    Kind.SIGNING_NOT_REQUIRED: (
        "Messages are not signed, so an attacker in the middle can alter or relay them."
    ),
}


def service_url(f: Finding) -> str:
    host = f.host if ":" not in f.host else f"[{f.host}]"
    return f"{f.protocol}://{host}:{f.port}/"


def finding_uri(f: Finding) -> str:
    """The service URL plus the resource (share, export, bucket, path)."""
    if f.resource:
        return service_url(f) + f.resource.lstrip("/")
    return service_url(f)


def _message(f: Finding) -> str:
    return f.title + (f" Remediation: {f.remediation}" if f.remediation else "")


def rule_id(f: Finding) -> str:
    return f"{f.kind.value}/{f.protocol}"


def _rule(rid: str, findings: list[Finding]) -> dict[str, Any]:
    first = findings[0]
    kind, protocol = first.kind, first.protocol
    worst = max((f.severity for f in findings), key=lambda s: s.rank)
    fixes = sorted({f.remediation for f in findings if f.remediation})
    fix_text = " ".join(fixes) or "Restrict access to this service."
    short = f"{protocol.upper()}: {_RULE_TEXT.get(kind, kind.value)}"
    why = _WHY.get(kind, short)
    return {
        "id": rid,
        "name": "".join(part.title() for part in f"{protocol}-{kind.value}".split("-")),
        "shortDescription": {"text": short},
        "fullDescription": {"text": f"{short}. {why}"},
        "help": {
            "text": f"{why}\n\nHow to fix: {fix_text}",
            "markdown": f"**{short}**\n\n{why}\n\n**How to fix:** "
            + "\n".join(f"- {fix}" for fix in fixes or [fix_text]),
        },
        "defaultConfiguration": {"level": _LEVEL[worst]},
        "properties": {
            "tags": ["security", "storage", protocol, kind.value],
            "security-severity": _SECURITY_SEVERITY[worst],
            "problem.severity": _PROBLEM[_LEVEL[worst]],
            "precision": "high",
        },
    }


def to_sarif(report: Report) -> dict[str, Any]:
    report = mask_report(report)
    by_rule: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_rule.setdefault(rule_id(f), []).append(f)
    ids = sorted(by_rule)
    rules = [_rule(rid, by_rule[rid]) for rid in ids]
    rule_index = {rid: i for i, rid in enumerate(ids)}
    results = []
    for f in report.findings:
        rid = rule_id(f)
        results.append(
            {
                "ruleId": rid,
                "ruleIndex": rule_index[rid],
                "level": _LEVEL[f.severity],
                "message": {"text": _message(f)},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": service_url(f)}},
                        "logicalLocations": [
                            {
                                "name": f.resource or f"{f.host}:{f.port}",
                                "fullyQualifiedName": finding_uri(f),
                                "kind": "resource",
                            }
                        ],
                    }
                ],
                "partialFingerprints": {FINGERPRINT: f.id},
                "properties": {
                    "severity": f.severity.value,
                    "host": f.host,
                    "port": f.port,
                    "protocol": f.protocol,
                    "resource": f.resource,
                    "authentication": f.authentication.value,
                    "encryption": f.encryption.value,
                    "access": f.access.value if f.access else None,
                    "evidence": f.evidence,
                },
            }
        )
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": report.scanner.name,
                "version": report.scanner.version,
                "semanticVersion": report.scanner.version,
                "informationUri": "https://pypi.org/project/nasscan/",
                "rules": rules,
            }
        },
        "automationDetails": {"id": "nasscan/" + ",".join(map(str, report.scope.get(
            "targets", [])))[:200]},
        "results": results,
        "invocations": [
            {
                "executionSuccessful": not report.aborted,
                "startTimeUtc": report.started_at.isoformat().replace("+00:00", "Z"),
                **(
                    {"endTimeUtc": report.finished_at.isoformat().replace("+00:00", "Z")}
                    if report.finished_at
                    else {}
                ),
                **(
                    {"toolExecutionNotifications": [
                        {"level": "warning", "message": {"text": e}} for e in report.errors[:100]
                    ]} if report.errors else {}
                ),
            }
        ],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(report: Report) -> str:
    return json.dumps(to_sarif(report), indent=2, default=str)
