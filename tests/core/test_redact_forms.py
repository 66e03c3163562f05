"""scanner.redact: every secret form it masks, and the look-alikes it must leave alone."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from scanner import redact
from scanner.redact import (
    MASK,
    MIN_SECRET_LENGTH,
    RedactingFilter,
    forget_secrets,
    install_log_filter,
    redact_text,
    redact_url,
    redact_webhook,
    register_secret,
)


@pytest.fixture(autouse=True)
def _no_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def test_constants() -> None:
    assert MASK == "***" and MIN_SECRET_LENGTH == 3


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("postgresql://u:pw@db/x", "postgresql://u:***@db/x"),
        ("postgresql://scanner:s3cr%40t@db.example:5432/nas",
         "postgresql://scanner:***@db.example:5432/nas"),
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("git+ssh://u:p@h/r", "git+ssh://u:***@h/r"),
        ("s3.v2-x://u:p@h", "s3.v2-x://u:***@h"),
        ("ftp://u:pa:ss@h/", "ftp://u:***@h/"),  # a ':' inside the password is still password
        ("ftp://u:@h/", "ftp://u:***@h/"),  # an empty password is masked too (it is one)
        ("see postgresql://a:b@h/x and redis://c:d@h/0 now",
         "see postgresql://a:***@h/x and redis://c:***@h/0 now"),
        # look-alikes: no password, or no URL
        ("postgresql://u@db/x", "postgresql://u@db/x"),
        ("http://host:8080/path@x", "http://host:8080/path@x"),
        ("http://host:8080/", "http://host:8080/"),
        ("mailto:u:p@h", "mailto:u:p@h"),
        ("u:p@h", "u:p@h"),
        ("://u:p@h", "://u:p@h"),
        ("1x://u:p@h", "1x://u:p@h"),  # a scheme starts with a letter (and at a word start)
        ("http://u:p q@h", "http://u:p q@h"),  # whitespace ends the candidate
        ("http://a/b:c@d", "http://a/b:c@d"),  # user part may not hold '/'
        ("", ""),
    ],
)
def test_redact_url(url: str, want: str) -> None:
    assert redact_url(url) == want


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/***"),
        ("https://HOOKS.Example.ORG:8443/x?token=1", "https://hooks.example.org/***"),
        ("https://u:p@h.example/x", "https://h.example/***"),
        ("hooks.slack.com/services/T/B/X", "?://?/***"),
        ("//h.example/x", "?://h.example/***"),
        ("http://[::1", "***"),  # urlsplit refuses it: nothing of it is shown
        ("http://[fe80::1]:80/x", "http://fe80::1/***"),
        ("", "?://?/***"),
    ],
)
def test_redact_webhook(url: str, want: str) -> None:
    assert redact_webhook(url) == want


def test_short_values_are_not_registered() -> None:
    register_secret("ab")
    register_secret("")
    assert redact_text("ab cab") == "ab cab"
    register_secret("abc")
    assert redact_text("ab cabc abc") == "ab c*** ***"


def test_every_registered_value_and_every_occurrence() -> None:
    register_secret("hunter2")
    register_secret("Tr0ub4dor")
    text = "pw hunter2 and Tr0ub4dor; again hunter2"
    assert redact_text(text) == "pw *** and ***; again ***"
    forget_secrets()
    assert redact_text(text) == text


def test_redact_text_masks_url_passwords_and_secrets_together() -> None:
    register_secret("sekret")
    got = redact_text("db postgresql://u:pw@h/x, smb sekret")
    assert got == "db postgresql://u:***@h/x, smb ***"
    # no '://': the URL rule does not apply (a secret registered still does)
    assert redact_text("u:pw@h sekret") == "u:pw@h ***"
    assert redact_text("nothing here") == "nothing here"


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("login with hunter2 failed")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("t", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_filter_rewrites_message_and_args() -> None:
    register_secret("hunter2")
    rec = _record("password %s for %s", "hunter2", "postgresql://u:pw@h/x")
    assert RedactingFilter().filter(rec) is True
    assert rec.msg == "password *** for postgresql://u:***@h/x" and rec.args is None
    assert rec.getMessage() == "password *** for postgresql://u:***@h/x"


def test_filter_formats_args_even_without_a_secret() -> None:
    rec = _record("%d files", 3)
    assert RedactingFilter().filter(rec) is True
    assert rec.msg == "3 files" and rec.args is None


def test_filter_leaves_a_clean_record_alone() -> None:
    msg = "nothing secret"
    rec = _record(msg)
    assert RedactingFilter().filter(rec) is True
    assert rec.msg is msg and rec.args == ()


def test_filter_lets_a_broken_format_through() -> None:
    register_secret("hunter2")
    rec = _record("%d hunter2", "not a number")
    assert RedactingFilter().filter(rec) is True
    assert rec.msg == "%d hunter2" and rec.args == ("not a number",)


def test_filter_redacts_the_traceback() -> None:
    register_secret("hunter2")
    rec = _record("failed", exc=True)
    assert RedactingFilter().filter(rec) is True
    assert rec.exc_info is None
    assert rec.exc_text is not None
    assert "RuntimeError: login with *** failed" in rec.exc_text and "hunter2" not in rec.exc_text
    assert "Traceback" in rec.exc_text
    line = logging.Formatter("%(message)s").format(rec)
    assert "hunter2" not in line and "***" in line


def test_filter_without_exception_keeps_exc_text_unset() -> None:
    rec = _record("plain")
    rec.exc_info = (None, None, None)
    RedactingFilter().filter(rec)
    assert rec.exc_text is None and rec.exc_info == (None, None, None)


def test_install_log_filter_once_per_handler() -> None:
    root = logging.getLogger()
    handlers = [logging.StreamHandler(), logging.StreamHandler()]
    handlers[1].addFilter(RedactingFilter())
    for h in handlers:
        root.addHandler(h)
    try:
        install_log_filter()
        install_log_filter()
        for h in handlers:
            assert sum(isinstance(f, RedactingFilter) for f in h.filters) == 1
    finally:
        for h in handlers:
            root.removeHandler(h)


def test_registered_values_live_in_one_set() -> None:
    register_secret("abc")
    register_secret("abc")
    assert redact._secrets == {"abc"}


def test_filter_redacts_an_exception_that_was_never_raised() -> None:
    # an exception object without a traceback (built, logged, never raised) is still redacted
    register_secret("hunter2")
    rec = _record("failed")
    rec.exc_info = (ValueError, ValueError("token hunter2 refused"), None)
    RedactingFilter().filter(rec)
    assert rec.exc_info is None
    assert rec.exc_text is not None and "ValueError: token *** refused" in rec.exc_text
