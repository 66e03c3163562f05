"""Secrets never at rest and never shown: passwords in URLs, webhook URLs, secret option values.

- ``redact_url`` masks the password of a URL (``postgresql://u:***@db/x``); ``redact_webhook``
  keeps only scheme and host of a webhook URL, whose path *is* the secret for Slack and Teams.
- ``register_secret`` remembers a secret value given at start (``--probe-option
  smb.password=...``); ``redact_text`` replaces every registered value and every URL password in
  a string. The masking guard (``scanner.masking.mask_text``) and the log filter
  (``install_log_filter``) call it, so a secret that reached an error message, a probe's detail
  or a log line is never written.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

MASK = "***"
MIN_SECRET_LENGTH = 3
"""Shorter values are not replaced in free text (they would mangle every string)."""

_secrets: set[str] = set()
_generation = [0]
"""Bumped whenever the set of secrets changes (memoised masking starts afresh)."""
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]*:)(?P<pw>[^\s/@]*)@")


def register_secret(value: str) -> None:
    if len(value) >= MIN_SECRET_LENGTH and value not in _secrets:
        _secrets.add(value)
        _generation[0] += 1


def forget_secrets() -> None:
    """For tests: drop every registered value."""
    _secrets.clear()
    _generation[0] += 1


def secrets_generation() -> int:
    """Changes whenever a secret is registered or forgotten."""
    return _generation[0]


def redact_url(url: str) -> str:
    """``scheme://user:***@host/...`` for a URL with a password; anything else unchanged."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", url)


def redact_webhook(url: str) -> str:
    """Only scheme and host: the path and query of a webhook URL are its credential."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return MASK
    return f"{parts.scheme or '?'}://{host}/{MASK}"


def redact_text(text: str) -> str:
    """``text`` with URL passwords and every registered secret value replaced by ``***``."""
    if "://" in text:
        text = redact_url(text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites every log record's message through ``redact_text`` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own error path
            return True
        clean = redact_text(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(
                logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_filter() -> None:
    """Put the filter on every handler of the root logger (call after logging is set up)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
