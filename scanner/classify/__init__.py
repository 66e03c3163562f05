"""Classification of exposed content from names, paths and sizes (no file bodies).

- ``rules``: the rule model, loader and validator (``load_rules``, ``RuleSet``, ``RuleError``);
- the ``personnummer`` and ``phone`` detectors come from ``scanner.personal`` (shared with
  masking);
- ``magic``: content types from first bytes, for ``--sample-bytes``.
"""

from __future__ import annotations

from scanner.classify.rules import (
    Category,
    Rule,
    RuleError,
    RuleSet,
    default_rules,
    load_rules,
    parse_rules,
)

__all__ = [
    "Category",
    "Rule",
    "RuleError",
    "RuleSet",
    "default_rules",
    "load_rules",
    "parse_rules",
]
