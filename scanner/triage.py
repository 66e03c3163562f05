"""Triage: turns a probe's raw finding into its final severity and evidence.

Every finding passes through ``triage_finding`` exactly once, in the engine, before it is
emitted. Probes never decide severity themselves, so the table lives in one place:

========================================================  ==========
Finding                                                   Severity
========================================================  ==========
unauthenticated access + recordings or personal data      critical
unauthenticated access, any other content (or none seen)  high
cleartext transport (credentials/data behind auth)        medium
unauthenticated-access finding whose authentication is    medium
``required`` (data behind authentication)
optional encryption (cleartext allowed), legacy protocol  low
signing not required                                      info
========================================================  ==========

"Recordings or personal data" means at least one listed file (or the resource name, when files are
visible) falls in a category the rules mark ``critical`` (default: recording, personal-id,
medical), or a sniffed file type confirms one (``--sample-bytes``).

The content evidence is computed from ``finding.listing`` (names, paths, sizes only) and every
string the finding carries is masked (personal identity numbers -> ``XXXX``) before it leaves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from scanner.classify.magic import SNIFF_CATEGORY
from scanner.classify.rules import RuleSet, default_rules, load_rules
from scanner.masking import mask_model, mask_text
from scanner.models import Access, Authentication, Encryption, Finding, Kind, Listing, Severity

__all__ = [
    "ContentSummary",
    "analyse_listing",
    "estimate_text",
    "human_count",
    "human_size",
    "load_rules",
    "summarise_service",
    "triage_finding",
]

SAMPLE_NAMES = 5
"""How many (masked) sample names the evidence keeps."""

_BASE_SEVERITY: dict[Kind, Severity] = {
    Kind.UNAUTHENTICATED_ACCESS: Severity.HIGH,
    Kind.CLEARTEXT_TRANSPORT: Severity.MEDIUM,
    Kind.ENCRYPTION_OPTIONAL: Severity.LOW,
    Kind.LEGACY_PROTOCOL: Severity.LOW,
    Kind.SIGNING_NOT_REQUIRED: Severity.INFO,
}

_OPEN_AUTH = {Authentication.NONE, Authentication.ANONYMOUS, Authentication.GUEST}


def human_count(n: int) -> str:
    return f"{n:,}"


def human_size(n: int) -> str:
    """Decimal units, one decimal: 3.1 GB."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000.0
        if value < 999.95 or unit == "PB":
            return f"{value:.1f} {unit}"
    return f"{n} B"  # pragma: no cover


@dataclass
class ContentSummary:
    """What a bounded listing shows, by the rules."""

    entries_seen: int = 0
    files: int = 0
    directories: int = 0
    total_size: int = 0
    sizes_unknown: int = 0
    truncated: bool = False
    categories: Counter[str] = field(default_factory=Counter)
    category_sizes: Counter[str] = field(default_factory=Counter)
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Files in both categories (a, b), a < b: for 'recordings named with ...'."""
    resource_categories: dict[str, int] = field(default_factory=dict)
    confirmed: Counter[str] = field(default_factory=Counter)
    """Categories confirmed by sniffed first bytes."""
    samples: list[str] = field(default_factory=list)
    estimate: dict[str, Any] | None = None
    """From the crawler when a bound stopped it: extrapolated totals, never a count."""
    categories_estimated: dict[str, int] = field(default_factory=dict)
    partial: str | None = None
    skipped: int = 0
    loops: int = 0

    def critical_categories(self, rules: RuleSet) -> list[str]:
        def crit(c: str) -> bool:
            cat = rules.categories.get(c)
            return bool(cat and cat.critical)

        found = {c for c, n in self.categories.items() if n > 0 and crit(c)}
        found |= {c for c, n in self.confirmed.items() if n > 0 and crit(c)}
        if self.files > 0:
            found |= {c for c in self.resource_categories if crit(c)}
        return sorted(found)

    def headline(self, rules: RuleSet) -> dict[str, Any]:
        """The most telling count, e.g. 1,204 'audio recordings named with personal identity
        numbers', plus up to two other categories."""

        def prio(c: str) -> tuple[int, int]:  # c is one of the present categories below
            return (rules.categories[c].priority, self.categories[c])

        present = [c for c, n in self.categories.items() if n > 0 and c in rules.categories]
        nouns = [c for c in present if rules.categories[c].qualifier is None]
        quals = [c for c in present if rules.categories[c].qualifier is not None]
        if nouns:
            primary = max(nouns, key=prio)
            count = self.categories[primary]
            text = rules.categories[primary].label_for(count)
            # Qualify with the best qualifier covering at least half of the primary's files.
            for q in sorted(quals, key=prio, reverse=True):
                a, b = sorted((primary, q))
                both = self.pairs[(a, b)]
                if both * 2 >= count:
                    text = f"{text} {rules.categories[q].qualifier}"
                    break
        elif quals:
            primary = max(quals, key=prio)
            count = self.categories[primary]
            text = rules.categories[primary].label_for(count)
        else:
            primary, count = None, self.files
            text = "file" if count == 1 else "files"
        others = sorted((c for c in nouns if c != primary), key=prio, reverse=True)[:2]
        return {
            "count": count,
            "text": text,
            "category": primary,
            "at_least": self.truncated,
            "also": {
                rules.categories[c].label_for(self.categories[c]): self.categories[c]
                for c in others
            },
        }

    def evidence(self, rules: RuleSet) -> dict[str, Any]:
        at_least = "at least " if self.truncated else ""
        files_text = f"{at_least}{human_count(self.files)} files"
        ev: dict[str, Any] = {
            "entries_seen": self.entries_seen,
            "files": self.files,
            "directories": self.directories,
            "files_text": files_text,
            "total_size": self.total_size,
            "total_size_text": at_least + human_size(self.total_size),
            "truncated": self.truncated,
            "categories": dict(sorted(self.categories.items())),
            "category_sizes": dict(sorted(self.category_sizes.items())),
            "files_seen": self.files,
            "samples": list(self.samples),
            "headline": self.headline(rules),
        }
        if self.estimate is not None:
            est = self.estimate
            files = int(est.get("files", 0))
            ev["files_estimated"] = files
            ev["bytes_estimated"] = int(est.get("bytes", 0))
            ev["estimate_basis"] = {
                k: v for k, v in est.items() if k not in ("files", "bytes", "depth_weights")
            }
            if self.categories_estimated:
                ev["categories_estimated"] = dict(sorted(self.categories_estimated.items()))
            ev["estimate_text"] = estimate_text(files, est)
        if self.partial:
            ev["listing_partial"] = self.partial
        if self.skipped:
            ev["entries_skipped"] = self.skipped
        if self.loops:
            ev["loops_not_followed"] = self.loops
        if self.sizes_unknown:
            ev["sizes_unknown"] = self.sizes_unknown
        if self.resource_categories:
            ev["resource_categories"] = sorted(self.resource_categories)
        if self.confirmed:
            ev["confirmed_by_content"] = dict(sorted(self.confirmed.items()))
        return ev


def estimate_text(files: int, est: dict[str, Any]) -> str:
    """``about 2,700,000 files (estimated from 40 of 1,200 directories seen)``: an estimate is
    always worded as one, never as a count."""
    listed = est.get("directories_listed", 0)
    seen = est.get("directories_seen", 0)
    return (
        f"about {human_count(files)} files (estimated from {human_count(int(listed))} of "
        f"{human_count(int(seen))} directories seen)"
    )


def analyse_listing(
    listing: Listing | None,
    resource: str | None,
    rules: RuleSet,
    sniffed: dict[str, Any] | None = None,
) -> ContentSummary:
    """Classify a bounded listing by names, paths and sizes (plus any sniffed types)."""
    s = ContentSummary()
    s.resource_categories = rules.classify_resource(resource)
    scored: list[tuple[int, int, str]] = []
    weights: list[float] = []
    cat_est: dict[str, float] = {}
    if listing is not None:
        s.truncated = listing.truncated
        s.partial = listing.partial
        s.skipped = listing.skipped
        s.loops = listing.loops
        if listing.estimate is not None:
            s.estimate = dict(listing.estimate)
            raw = listing.estimate.get("depth_weights")
            weights = [float(w) for w in raw] if isinstance(raw, list) else []
        for i, e in enumerate(listing.entries):
            s.entries_seen += 1
            if e.is_dir:
                s.directories += 1
                continue
            s.files += 1
            if e.size is None:
                s.sizes_unknown += 1
            else:
                s.total_size += max(e.size, 0)
            cats = rules.classify_entry(e)
            cat_keys = sorted(cats)
            for c in cat_keys:
                s.categories[c] += 1
                s.category_sizes[c] += max(e.size or 0, 0)
            if weights:
                d = max(0, e.path.count("/") - 1)
                w = weights[d] if d < len(weights) else 0.0
                for c in cat_keys:
                    cat_est[c] = cat_est.get(c, 0.0) + w
            for a_i, a in enumerate(cat_keys):
                for b in cat_keys[a_i + 1 :]:
                    s.pairs[(a, b)] += 1
            scored.append((-sum(cats.values()), i, e.path))
    if isinstance(sniffed, dict):
        for kind in sniffed.values():
            if isinstance(kind, str) and kind in SNIFF_CATEGORY:
                s.confirmed[SNIFF_CATEGORY[kind]] += 1
    s.categories_estimated = {c: round(max(n, s.categories[c])) for c, n in cat_est.items()}
    scored.sort()
    s.samples = [mask_text(p) for _, _, p in scored[:SAMPLE_NAMES]]
    return s


def _severity(finding: Finding, content: ContentSummary | None, rules: RuleSet) -> Severity:
    kind = finding.kind
    if kind == Kind.UNAUTHENTICATED_ACCESS:
        if finding.authentication == Authentication.REQUIRED:
            return Severity.MEDIUM
        if content is not None and content.critical_categories(rules):
            return Severity.CRITICAL
        return Severity.HIGH
    if kind == Kind.CLEARTEXT_TRANSPORT:
        return Severity.LOW if finding.encryption == Encryption.OPTIONAL else Severity.MEDIUM
    return _BASE_SEVERITY[kind]  # every other kind has a row (a test checks)


def triage_finding(finding: Finding, rules: RuleSet | None = None) -> Finding:
    """Return the finding with its severity, content evidence and masking applied.

    ``rules``: from ``load_rules([...--rules FILE...])``; the packaged defaults when None.
    """
    rs = rules if rules is not None else default_rules()
    content: ContentSummary | None = None
    evidence = dict(finding.evidence)
    if finding.kind == Kind.UNAUTHENTICATED_ACCESS or finding.listing is not None:
        # analyse_listing reads only a dict of sniffed types (anything else is ignored)
        content = analyse_listing(finding.listing, finding.resource, rs, evidence.get("sniffed"))
        if finding.listing is not None:
            evidence.update(content.evidence(rs))
        elif content.resource_categories:  # nothing listed (e.g. a block device): name only
            evidence["resource_categories"] = sorted(content.resource_categories)
        critical = content.critical_categories(rs)
        if critical:
            evidence["critical_content"] = critical
    severity = _severity(finding, content, rs)
    return mask_model(finding.model_copy(update={"severity": severity, "evidence": evidence}))


# --- the console's one line per exposed service -------------------------------------------------

_ACCESS_WORD = {Access.READ: "readable", Access.LIST: "listable", Access.WRITE: "writable"}
_AUTH_NOTE = {
    Authentication.GUEST: " (guest login)",
    Authentication.ANONYMOUS: " (anonymous login)",
}


def _headline_text(f: Finding) -> str | None:
    h = f.evidence.get("headline")
    if not isinstance(h, dict) or not isinstance(h.get("count"), int):
        return None
    at_least = "at least " if h.get("at_least") else ""
    text = f"{at_least}{human_count(h['count'])} {h.get('text', 'files')}"
    also = h.get("also")
    if isinstance(also, dict) and also:
        text += " (+ " + ", ".join(f"{human_count(n)} {label}" for label, n in also.items()) + ")"
    size = f.evidence.get("total_size")
    if isinstance(size, int) and size > 0:
        text += f", {at_least}{human_size(size)}"
    estimate = f.evidence.get("estimate_text")
    if isinstance(estimate, str):
        text += f"; {estimate}"
    return text


def _rank(f: Finding) -> tuple[int, int]:
    h = f.evidence.get("headline")
    count = h.get("count") if isinstance(h, dict) else 0
    return (f.severity.rank, count if isinstance(count, int) else 0)


def summarise_service(findings: list[Finding]) -> str | None:
    """One human line for one service's (triaged) findings, or None when nothing is exposed.

    e.g. ``127.0.10.21:443 http (no TLS): 1,204 audio recordings named with personal identity
    numbers, 3.1 GB, readable by anyone``. Works on findings loaded back from JSON (uses
    ``evidence`` only, not the listing). Pass the findings of ONE service (host, port).
    """
    if not findings:
        return None
    worst = max(findings, key=_rank)
    if worst.severity == Severity.INFO:
        return None
    notes = []
    cleartext = [f for f in findings if f.kind == Kind.CLEARTEXT_TRANSPORT]
    if any(f.encryption == Encryption.OPTIONAL for f in cleartext) or any(
        f.kind == Kind.ENCRYPTION_OPTIONAL for f in findings
    ):
        notes.append("encryption optional")
    elif cleartext:
        notes.append("no TLS")
    if any(f.kind == Kind.LEGACY_PROTOCOL for f in findings):
        notes.append("legacy protocol")
    head = f"{worst.host}:{worst.port} {worst.protocol}"
    if notes:
        head += f" ({', '.join(notes)})"

    open_ = [
        f
        for f in findings
        if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.authentication != Authentication.REQUIRED
    ]
    if open_:
        best = max(open_, key=_rank)
        content = _headline_text(best)
        if content is None:  # no listing: the probe's own title says what is open
            line = f"{head}: {best.title}"
        else:
            who = "by anyone" + _AUTH_NOTE.get(best.authentication, "")
            verb = _ACCESS_WORD[best.access] if best.access else "open"
            line = f"{head}: {content}, {verb} {who}"
            if best.resource and best.resource.strip("/"):
                line += f" in {best.resource}"
        if len(open_) > 1:
            more = len(open_) - 1
            line += f" (+{more} more open resource{'s' if more > 1 else ''})"
        return mask_text(line)
    if cleartext and any(f.encryption != Encryption.OPTIONAL for f in cleartext):
        return mask_text(f"{head}: logins and data travel unencrypted")
    return mask_text(f"{head}: {worst.title}")
