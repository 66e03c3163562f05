"""What the ``nasscan`` commands share: the exit codes, the input error that is reported as one
line (exit 2), and the ``--fail-on`` rule (exit 1 for a finding at least that severe).

Below every command-line module (``scanner.cli``, ``scanner.fleet.cli``): it imports none of
them, and nothing heavy at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from scanner.models import Finding

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3
FAIL_ON = ["critical", "high", "medium", "low", "info", "none"]
"""``scanner.models.Severity`` values and "none" (a test keeps them equal)."""


class InputError(Exception):
    """Bad user input: reported as one line, exit 2."""


def fail(message: str) -> NoReturn:
    raise InputError(message)


def fails(findings: Iterable[Finding], fail_on: str) -> bool:
    """Whether ``findings`` hold one at least as severe as ``fail_on`` (never for "none")."""
    from scanner.models import Severity

    if fail_on == "none":
        return False
    threshold = Severity(fail_on).rank
    return any(f.severity.rank >= threshold for f in findings)
