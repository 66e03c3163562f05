"""The rsync probe's judge on facts built here (no server): open, unlisted and password
modules, a catch-all daemon, and a cut attempt."""

from __future__ import annotations

from typing import Any

from probes.rsync import PROBE, RsyncFacts
from scanner.catchall import CatchAllCheck
from scanner.crawl import CrawlResult
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Entry,
    Finding,
    Kind,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.probe_skeleton import Cut
from scanner.protocols import rsync as proto

SERVICE = ServiceInfo(host="127.0.10.41", port=873)
GREETING = proto.Greeting(32, 0, ("sha512", "md5"))
OPEN = proto.ModuleReply(proto.ModuleAccess.OPEN)
AUTH = proto.ModuleReply(proto.ModuleAccess.AUTH_REQUIRED, "@RSYNCD: AUTHREQD x")
UNKNOWN = proto.ModuleReply(proto.ModuleAccess.UNKNOWN_MODULE, "@ERROR: Unknown module")


def facts(**kw: Any) -> RsyncFacts:
    base: dict[str, Any] = {
        "greeting": GREETING,
        "modules": [proto.Module("recordings", "call recordings"), proto.Module("private")],
        "replies": {"recordings": OPEN, "private": AUTH, "hidden": OPEN, "backup": UNKNOWN},
    }
    return RsyncFacts(SERVICE, **{**base, **kw})


def unauth(r: ProbeResult) -> dict[str | None, Finding]:
    return {f.resource: f for f in r.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS}


def cleartext(r: ProbeResult) -> Finding:
    (f,) = [f for f in r.findings if f.kind is Kind.CLEARTEXT_TRANSPORT]
    return f


def test_open_listed_and_unlisted_modules() -> None:
    crawl = CrawlResult(entries=[Entry(path="/a.wav", size=4)], dirs_listed=1)
    r = PROBE.judge(facts(listings={"recordings": crawl}), None)
    assert (r.status, r.protocol, r.tls, r.detail) == (Status.SUCCESS, "rsync", False, None)
    found = unauth(r)
    assert set(found) == {"recordings", "hidden"}
    rec, hidden = found["recordings"], found["hidden"]
    assert rec.title == "rsync module 'recordings' readable without a password"
    assert rec.evidence == {"url": "rsync://127.0.10.41:873/recordings/", "listed": True,
                            "reply": "@RSYNCD: OK", "comment": "call recordings"}
    assert (rec.access, rec.encryption, rec.authentication) == (
        Access.READ, Encryption.NONE, Authentication.NONE)
    assert rec.listing is not None and hidden.listing is None
    assert [e.path for e in rec.listing.entries] == ["/a.wav"]
    assert hidden.evidence["listed"] is False and hidden.title.endswith("(not in the module list)")
    c = cleartext(r)
    assert c.authentication is Authentication.NONE and c.resource is None
    assert c.evidence == {"greeting": "@RSYNCD: 32.0", "digests": ["sha512", "md5"],
                          "modules_listed": ["private", "recordings"],
                          "password_modules": ["private"]}
    # an unknown module is not worth reporting
    assert r.info["module_access"] == {"recordings": "open", "private": "auth-required",
                                       "hidden": "open"}
    assert r.info["version"] == "32.0" and r.info["modules"][0] == {
        "name": "recordings", "comment": "call recordings"}


def test_only_password_modules_is_auth_required() -> None:
    r = PROBE.judge(facts(replies={"private": AUTH}), None)
    assert r.status is Status.AUTH_REQUIRED and not unauth(r)
    assert cleartext(r).authentication is Authentication.REQUIRED
    nothing = PROBE.judge(facts(modules=[], replies={}), None)
    assert nothing.status is Status.SUCCESS
    assert cleartext(nothing).authentication is Authentication.UNKNOWN


def test_catch_all_daemon_says_so_in_every_finding() -> None:
    check = CatchAllCheck("nasscan-0123456789abcdef", True)
    r = PROBE.judge(facts(catch_all=check), None)
    assert all(f.evidence["accepts_any_name"] is True for f in r.findings)


def test_cut_attempts() -> None:
    timeout = Cut(Status.TIMEOUT, "timed out", "TimeoutError")
    assert PROBE.judge(facts(greeting=None), timeout).findings == []
    r = PROBE.judge(facts(replies={"recordings": OPEN}), timeout)
    assert (r.status, r.detail) == (Status.TIMEOUT, "timed out")
    assert set(unauth(r)) == {"recordings"}
