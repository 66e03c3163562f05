"""Classification rules as data (Snaffler's model): where a rule looks, how it matches, what it
means.

A rule file is TOML::

    [categories.recording]
    label = "audio recordings"       # plural noun phrase for summaries
    priority = 90                    # which category leads a summary (higher first)
    critical = true                  # unauthenticated + this content = critical

    [[rule]]
    name = "audio-extension"
    category = "recording"
    where = "extension"              # resource | path | name | extension | size
    how = "exact"                    # exact | contains | regex | detector | range
    patterns = ["wav", "mp3"]        # for exact / contains / regex
    weight = 50                      # 0..100, ranks samples and categories

``how = "detector"`` uses a built-in detector that a regex cannot express (``detector =
"personnummer"`` checks dates and the Luhn digit; ``detector = "phone"``). ``where = "size"`` takes
``how = "range"`` with ``min`` and/or ``max`` (bytes, or strings like ``"100 MB"``). Any file rule
may also carry ``min_size`` / ``max_size`` as an extra condition. Matching is case-insensitive
unless ``case_sensitive = true``. A user file (``--rules FILE``) adds categories and rules;
a rule with the name of an existing one replaces it, and ``enabled = false`` switches one off.

Every problem raises ``RuleError`` (a ``ValueError``) naming the file, the rule and the problem.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from scanner.models import Entry
from scanner.personal import personnummer, phone

WHERE = ("resource", "path", "name", "extension", "size")
HOW = ("exact", "contains", "regex", "detector", "range")
DETECTORS: dict[str, Callable[[str], bool]] = {
    "personnummer": personnummer.contains,
    "phone": phone.contains,
}
_RULE_KEYS = {
    "name",
    "category",
    "where",
    "how",
    "patterns",
    "detector",
    "weight",
    "min",
    "max",
    "min_size",
    "max_size",
    "case_sensitive",
    "enabled",
    "description",
}
_CATEGORY_KEYS = {"label", "singular", "qualifier", "priority", "critical", "description"}
_TOP_KEYS = {"version", "categories", "rule"}
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


class RuleError(ValueError):
    """A rule file that cannot be used. The message names the file, the rule and the problem."""

    def __init__(self, source: str, rule: str | None, problem: str) -> None:
        self.source = source
        self.rule = rule
        self.problem = problem
        where = f"{source}: rule {rule!r}" if rule else source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    qualifier: str | None = None
    """Phrase used after another category's label, e.g. 'named with personal identity numbers'."""
    priority: int = 50
    critical: bool = False
    singular: str | None = None
    """Label for exactly one file ('database dump'); defaults to ``label``."""

    def label_for(self, count: int) -> str:
        return self.singular if count == 1 and self.singular else self.label


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    where: str
    how: str
    patterns: tuple[str, ...] = ()
    detector: str | None = None
    weight: int = 10
    min: int | None = None
    max: int | None = None
    case_sensitive: bool = False
    enabled: bool = True
    source: str = "<rules>"
    _regexes: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)
    _folded: frozenset[str] | tuple[str, ...] = field(default=(), repr=False, compare=False)

    def matches_text(self, value: str) -> bool:
        if self.how == "detector":
            assert self.detector is not None
            return DETECTORS[self.detector](value)
        if self.how == "regex":
            return any(r.search(value) for r in self._regexes)
        v = value if self.case_sensitive else value.casefold()
        if self.how == "exact":
            return v in self._folded
        if self.how == "contains":
            return any(p in v for p in self._folded)
        return False

    def _size_ok(self, size: int | None) -> bool:
        if self.min is None and self.max is None:
            return True
        if size is None:
            return False
        if self.min is not None and size < self.min:
            return False
        return not (self.max is not None and size > self.max)

    def matches_entry(self, entry: Entry, name: str, extensions: tuple[str, ...]) -> bool:
        """Does this (non-resource) rule match one listed file?"""
        if self.where == "size":
            return self._size_ok(entry.size)
        if not self._size_ok(entry.size):
            return False
        if self.where == "path":
            return self.matches_text(entry.path)
        if self.where == "name":
            return self.matches_text(name)
        if self.where == "extension":
            if self.how == "exact":
                return any(self.matches_text(e) for e in extensions)
            return bool(extensions) and self.matches_text(extensions[0])
        return False


def split_name(path: str) -> tuple[str, tuple[str, ...]]:
    """(file name, extensions): ``a/b.sql.gz`` -> ``("b.sql.gz", ("gz", "sql.gz"))``."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    parts = name.split(".")
    if len(parts) < 2 or not parts[-1]:
        return name, ()
    exts = [parts[-1]]
    if len(parts) >= 3 and parts[-2]:
        exts.append(f"{parts[-2]}.{parts[-1]}")
    return name, tuple(exts)


@dataclass(frozen=True)
class RuleSet:
    categories: dict[str, Category]
    rules: tuple[Rule, ...]
    sources: tuple[str, ...] = ()

    @property
    def resource_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled and r.where == "resource")

    @property
    def file_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled and r.where != "resource")

    def classify_resource(self, resource: str | None) -> dict[str, int]:
        """Categories (with the best matching weight) a share/export/bucket name falls in."""
        out: dict[str, int] = {}
        if not resource:
            return out
        name = resource.strip("/").rsplit("/", 1)[-1] or resource
        for r in self.resource_rules:
            if r.matches_text(name) or (name != resource and r.matches_text(resource)):
                out[r.category] = max(out.get(r.category, 0), r.weight)
        return out

    def classify_entry(self, entry: Entry) -> dict[str, int]:
        """Categories (with the best matching weight) one listed file falls in; dirs: none."""
        if entry.is_dir:
            return {}
        name, exts = split_name(entry.path)
        out: dict[str, int] = {}
        for r in self.file_rules:
            if r.category in out and out[r.category] >= r.weight:
                continue
            if r.matches_entry(entry, name, exts):
                out[r.category] = max(out.get(r.category, 0), r.weight)
        return out

    def merged(self, other: RuleSet) -> RuleSet:
        cats = dict(self.categories)
        cats.update(other.categories)
        by_name = {r.name: r for r in self.rules}
        for r in other.rules:
            by_name[r.name] = r
        rules = tuple(by_name.values())
        for r in rules:
            if r.enabled and r.category not in cats:
                raise RuleError(r.source, r.name, f"unknown category {r.category!r}")
        return RuleSet(cats, rules, self.sources + other.sources)


def parse_size(value: Any, source: str, rule: str, key: str) -> int:
    if isinstance(value, bool):
        raise RuleError(source, rule, f"{key} must be a size in bytes or like '100 MB'")
    if isinstance(value, int):
        if value < 0:
            raise RuleError(source, rule, f"{key} must not be negative")
        return value
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m and m.group(2).lower() in _UNITS:
            return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    raise RuleError(source, rule, f"{key} must be a size in bytes or like '100 MB', got {value!r}")


def _parse_category(source: str, key: str, raw: Any) -> Category:
    label = f"category {key}"
    if not isinstance(raw, dict):
        raise RuleError(source, None, f"{label} must be a table")
    unknown = set(raw) - _CATEGORY_KEYS
    if unknown:
        raise RuleError(source, None, f"{label}: unknown key(s) {sorted(unknown)}")
    if not isinstance(raw.get("label"), str) or not raw["label"].strip():
        raise RuleError(source, None, f"{label}: 'label' (a non-empty string) is required")
    qualifier = raw.get("qualifier")
    if qualifier is not None and not isinstance(qualifier, str):
        raise RuleError(source, None, f"{label}: 'qualifier' must be a string")
    priority = raw.get("priority", 50)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise RuleError(source, None, f"{label}: 'priority' must be an integer")
    critical = raw.get("critical", False)
    if not isinstance(critical, bool):
        raise RuleError(source, None, f"{label}: 'critical' must be true or false")
    singular = raw.get("singular")
    if singular is not None and (not isinstance(singular, str) or not singular.strip()):
        raise RuleError(source, None, f"{label}: 'singular' must be a non-empty string")
    return Category(key, raw["label"], qualifier, priority, critical, singular)


def _parse_rule(source: str, index: int, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(source, f"#{index + 1}", "each [[rule]] must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(source, f"#{index + 1}", "'name' (a non-empty string) is required")

    def bad(problem: str) -> RuleError:
        return RuleError(source, name, problem)

    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise bad(f"unknown key(s) {sorted(unknown)}")
    category = raw.get("category")
    if not isinstance(category, str) or not category:
        raise bad("'category' (a string) is required")
    where = raw.get("where")
    if where not in WHERE:
        raise bad(f"'where' must be one of {', '.join(WHERE)}, got {where!r}")
    how = raw.get("how", "range" if where == "size" else None)
    if how not in HOW:
        raise bad(f"'how' must be one of {', '.join(HOW)}, got {how!r}")
    if (where == "size") != (how == "range"):
        raise bad("where = 'size' goes with how = 'range' (and only it)")
    weight = raw.get("weight", 10)
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise bad(f"'weight' must be an integer from 0 to 100, got {weight!r}")
    case_sensitive = raw.get("case_sensitive", False)
    enabled = raw.get("enabled", True)
    if not isinstance(case_sensitive, bool) or not isinstance(enabled, bool):
        raise bad("'case_sensitive' and 'enabled' must be true or false")

    lo = hi = None
    if how == "range":
        if "patterns" in raw or "detector" in raw:
            raise bad("a size rule takes 'min'/'max', not 'patterns' or 'detector'")
        if "min" not in raw and "max" not in raw:
            raise bad("a size rule needs 'min' and/or 'max'")
    else:
        for k in ("min", "max"):
            if k in raw:
                raise bad(f"'{k}' is for size rules; use '{k}_size' as an extra condition")
    for key_in, key_out in (("min", "lo"), ("max", "hi"), ("min_size", "lo"), ("max_size", "hi")):
        if key_in in raw:
            if where == "resource":
                raise bad(f"'{key_in}' does not apply to where = 'resource'")
            size = parse_size(raw[key_in], source, name, key_in)
            if key_out == "lo":
                lo = size
            else:
                hi = size
    if lo is not None and hi is not None and lo > hi:
        raise bad("the minimum size is larger than the maximum")

    patterns: tuple[str, ...] = ()
    detector = None
    regexes: tuple[re.Pattern[str], ...] = ()
    folded: frozenset[str] | tuple[str, ...] = ()
    if how == "detector":
        if "patterns" in raw:
            raise bad("how = 'detector' takes 'detector', not 'patterns'")
        detector = raw.get("detector")
        if detector not in DETECTORS:
            raise bad(f"'detector' must be one of {', '.join(DETECTORS)}, got {detector!r}")
    elif how in ("exact", "contains", "regex"):
        if "detector" in raw:
            raise bad(f"'detector' is only for how = 'detector', not {how!r}")
        pats = raw.get("patterns")
        if isinstance(pats, str):
            pats = [pats]
        if (
            not isinstance(pats, list)
            or not pats
            or not all(isinstance(p, str) and p for p in pats)
        ):
            raise bad("'patterns' must be a non-empty list of non-empty strings")
        patterns = tuple(pats)
        if how == "regex":
            flags = 0 if case_sensitive else re.IGNORECASE
            compiled = []
            for p in patterns:
                try:
                    compiled.append(re.compile(p, flags))
                except re.error as exc:
                    raise bad(f"pattern {p!r} is not a valid regular expression: {exc}") from None
            # One alternation: a single search per value instead of one per pattern (patterns
            # with inline global flags cannot be joined: keep them apart then).
            try:
                regexes = (re.compile("|".join(f"(?:{c.pattern})" for c in compiled), flags),)
            except re.error:
                regexes = tuple(compiled)
        else:
            vals = [p if case_sensitive else p.casefold() for p in patterns]
            if where == "extension":
                vals = [v.lstrip(".") for v in vals]
            folded = frozenset(vals) if how == "exact" else tuple(vals)

    return Rule(
        name=name,
        category=category,
        where=where,
        how=how,
        patterns=patterns,
        detector=detector,
        weight=weight,
        min=lo,
        max=hi,
        case_sensitive=case_sensitive,
        enabled=enabled,
        source=source,
        _regexes=regexes,
        _folded=folded,
    )


def parse_rules(text: str, source: str, known_categories: Iterable[str] = ()) -> RuleSet:
    """Parse and validate one rule file's text. ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(source, None, f"not valid TOML: {exc}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise RuleError(source, None, f"unknown top-level key(s) {sorted(unknown)}")
    version = data.get("version", 1)
    if version != 1:
        raise RuleError(source, None, f"unsupported rule file version {version!r} (expected 1)")
    raw_cats = data.get("categories", {})
    if not isinstance(raw_cats, dict):
        raise RuleError(source, None, "[categories] must be a table")
    categories = {k: _parse_category(source, k, v) for k, v in raw_cats.items()}
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise RuleError(source, None, "rules must be an array of tables: [[rule]]")
    rules = [_parse_rule(source, i, r) for i, r in enumerate(raw_rules)]
    seen: set[str] = set()
    known = set(categories) | set(known_categories)
    for r in rules:
        if r.name in seen:
            raise RuleError(source, r.name, "the rule name is used twice in this file")
        seen.add(r.name)
        if r.category not in known:
            raise RuleError(
                source,
                r.name,
                f"unknown category {r.category!r} (known: {', '.join(sorted(known))})",
            )
    if not categories and not rules:
        raise RuleError(source, None, "no categories and no rules")
    return RuleSet(categories, tuple(rules), (source,))


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The rule file shipped in the package (``scanner/rules/default.toml``)."""
    ref = resources.files("scanner").joinpath("rules/default.toml")
    return parse_rules(ref.read_text(encoding="utf-8"), "scanner/rules/default.toml")


def load_rules(extra: Iterable[Path | str] = (), *, defaults: bool = True) -> RuleSet:
    """The default rules plus each ``--rules FILE`` in order (later files win on rule names)."""
    rs = default_rules() if defaults else RuleSet({}, ())
    for p in extra:
        path = Path(p)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(str(path), None, f"cannot read the rule file: {exc}") from None
        rs = rs.merged(parse_rules(text, str(path), known_categories=rs.categories))
    return rs
