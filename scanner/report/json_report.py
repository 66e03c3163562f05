"""JSON: the whole report as one object, and jsonl: one finding per line, as found."""

from __future__ import annotations

from typing import TextIO

from scanner.models import Finding, Report


def render_json(report: Report) -> str:
    """The report serialised once, through the model."""
    return report.to_json(indent=2) + "\n"


class JsonlWriter:
    """Streams findings one per line, flushed, so a killed scan leaves what it found."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.count = 0
        self.skip: set[str] = set()
        """Finding ids already written (a resumed scan appending to its file): not repeated."""

    def write(self, finding: Finding) -> None:
        if finding.id in self.skip:
            return
        self.skip.add(finding.id)
        self.stream.write(finding.model_dump_json() + "\n")
        self.stream.flush()
        self.count += 1
