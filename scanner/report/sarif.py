"""SARIF 2.1.0 for code-scanning dashboards, derived from the one finding model."""

from __future__ import annotations

import json
from typing import Any

from scanner.models import Finding, Kind, Report, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "none",
}
# GitHub's code scanning reads a CVSS-like number from this property.
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


def finding_uri(f: Finding) -> str:
    base = f"{f.protocol}://{f.host if ':' not in f.host else '[' + f.host + ']'}:{f.port}"
    if f.resource:
        return base + "/" + f.resource.lstrip("/")
    return base + "/"


def _message(f: Finding) -> str:
    return f.title + (f" Remediation: {f.remediation}" if f.remediation else "")


def to_sarif(report: Report) -> dict[str, Any]:
    from scanner.masking import mask_report  # personal identity numbers never leave unmasked

    report = mask_report(report)
    kinds = sorted({f.kind for f in report.findings}, key=lambda k: k.value)
    rules = [
        {
            "id": kind.value,
            "name": kind.value.title().replace("-", ""),
            "shortDescription": {"text": _RULE_TEXT.get(kind, kind.value)},
            "properties": {"tags": ["security", "storage"]},
        }
        for kind in kinds
    ]
    rule_index = {kind: i for i, kind in enumerate(kinds)}
    results = []
    for f in report.findings:
        results.append(
            {
                "ruleId": f.kind.value,
                "ruleIndex": rule_index[f.kind],
                "level": _LEVEL[f.severity],
                "message": {"text": _message(f)},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": finding_uri(f)}},
                        "logicalLocations": [
                            {
                                "name": f.resource or f"{f.host}:{f.port}",
                                "fullyQualifiedName": finding_uri(f),
                                "kind": "resource",
                            }
                        ],
                    }
                ],
                "partialFingerprints": {"nasscanFindingId/v1": f.id},
                "properties": {
                    "severity": f.severity.value,
                    "security-severity": _SECURITY_SEVERITY[f.severity],
                    "host": f.host,
                    "port": f.port,
                    "protocol": f.protocol,
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
                "informationUri": "https://pypi.org/project/nasscan/",
                "rules": rules,
            }
        },
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
            }
        ],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(report: Report) -> str:
    return json.dumps(to_sarif(report), indent=2, default=str)
