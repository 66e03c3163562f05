"""CSV: one row per finding, evidence as compact JSON in the last column."""

from __future__ import annotations

import csv
import io
import json

from scanner.models import Report

COLUMNS = [
    "id", "severity", "host", "hostname", "port", "transport", "protocol", "kind",
    "authentication", "encryption", "resource", "access", "title", "remediation", "evidence",
]


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for f in report.findings:
        row = f.model_dump(mode="json")
        row["evidence"] = json.dumps(row.get("evidence", {}), sort_keys=True, separators=(",", ":"))
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})
    return out.getvalue()
