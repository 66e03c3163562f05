"""Masking of personal data (identity numbers, phone numbers) and secrets in everything written.

``mask_text`` is the one function: personal identity numbers (``19790312-XXXX``), phone numbers
(``070XXXXXXX``) and any secret value given at start (``***``, see ``scanner.redact``). One rule,
applied in one place per output path: triage masks every finding (title, resource,
evidence, remediation) before it leaves the engine, and the report writers pass the whole report
through ``mask_report`` / ``mask_data`` as a final guard, so a number that reached a service banner
or an error string is masked too. ``19790312-2391`` becomes ``19790312-XXXX``.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel

from scanner.personal import personnummer, phone
from scanner.redact import redact_text, redact_url, secrets_generation

__all__ = ["mask_data", "mask_model", "mask_report", "mask_text", "mask_url"]

T = TypeVar("T", bound=BaseModel)

_MAX_DEPTH = 32
_MEMO_ENTRIES = 20_000
_MEMO_LENGTH = 1024
_memo: dict[str, str] = {}
_memo_generation = [-1]


def mask_text(text: str) -> str:
    """The one masking function: secrets, then identity numbers, then phone numbers.

    The same strings pass here many times (triage, then every writer's final guard), so short
    ones are remembered (bounded; forgotten whenever the registered secrets change)."""
    if not text:
        return text
    if _memo_generation[0] != secrets_generation():
        _memo.clear()
        _memo_generation[0] = secrets_generation()
    done = _memo.get(text)
    if done is not None:
        return done
    out = _mask_text(text)
    if len(text) <= _MEMO_LENGTH:
        if len(_memo) >= _MEMO_ENTRIES:
            _memo.clear()
        _memo[text] = out
    return out


def _mask_text(text: str) -> str:
    text = redact_text(text)
    if not any(ch.isdigit() for ch in text):
        return text
    return phone.mask(personnummer.mask(text), identity_masked=True)


def mask_data(value: Any, _depth: int = 0) -> Any:
    """Mask every string (keys too) inside nested dicts, lists, tuples and sets."""
    if _depth > _MAX_DEPTH and isinstance(value, (dict, list, tuple, set, frozenset, BaseModel)):
        return "[nested too deep]"  # never let a deep structure through unmasked
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_data(k, _depth + 1): mask_data(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_data(v, _depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_data(v, _depth + 1) for v in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(mask_data(v, _depth + 1) for v in value)
    if isinstance(value, BaseModel):
        return mask_model(value)
    return value


def mask_model(model: T) -> T:
    """A copy of a pydantic model with every string field (recursively) masked.

    Fields excluded from serialisation (e.g. ``Finding.listing``) are masked as well, so nothing
    downstream (console, JSON, JSONL, database) sees an unmasked number.
    """
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        masked = mask_data(value)
        if masked is not value and masked != value:
            update[name] = masked
    if not update:
        return model
    return model.model_copy(update=update)


def mask_report(report: T) -> T:
    """The final guard for writers: the whole report (services, findings, errors) masked."""
    return mask_model(report)



_PASSWORD_PARAM = re.compile(r"(\bpassword\s*=\s*)[^&\s]*", re.IGNORECASE)


def mask_url(text: str) -> str:
    """Every ``scheme://user:password@host`` in ``text`` with the password as ``***``.

    Broker and database URLs are masked this way before they reach a log, an error or the
    history: ``redis://:s3cret@h/0`` becomes ``redis://:***@h/0``.
    """
    text = redact_url(text)  # the one URL rule (scanner/redact.py)
    return _PASSWORD_PARAM.sub(lambda m: m.group(1) + "***", text)
