"""The JSON Schema of ``--format json`` output, shipped as ``scanner/schema/report.schema.json``.

Regenerate after changing ``scanner/models.py``: ``python -m scanner.report.schema --write``.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from scanner.models import Finding, Report

SCHEMA_ID = "https://nasscan.invalid/schema/report.schema.json"


def _require_all(schema: dict[str, Any]) -> dict[str, Any]:
    """Serialisation always writes every field (null when unset): require them all."""
    for sub in [schema, *schema.get("$defs", {}).values()]:
        props = sub.get("properties")
        if props:
            sub["required"] = sorted(props)
    return schema


def generate() -> dict[str, Any]:
    """The schema of a serialised ``Report`` (serialization mode: computed ``id`` included)."""
    schema = _require_all(Report.model_json_schema(mode="serialization"))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "nasscan report"
    return schema


def finding_schema() -> dict[str, Any]:
    """The schema of one jsonl line (one serialised ``Finding``)."""
    schema = _require_all(Finding.model_json_schema(mode="serialization"))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def load() -> dict[str, Any]:
    """The shipped schema (package data)."""
    text = resources.files("scanner").joinpath("schema/report.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = dumps(generate())
    if args[:1] == ["--write"]:
        path = Path(__file__).resolve().parent.parent / "schema" / "report.schema.json"
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
