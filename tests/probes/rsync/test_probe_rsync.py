"""The rsync probe against the lab's real rsync daemon (open, password and unlisted modules)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lab_fixtures import Lab

from probes.rsync import PROBE
from scanner.lab import manifest
from scanner.models import Kind, ServiceInfo, Status
from scanner.probe import ProbeContext

pytestmark = pytest.mark.lab


async def test_rsync_matches_manifest(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    t = lab.target("rsync")
    assert PROBE.matches_greeting(b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n")
    result = await PROBE.run(ServiceInfo(host=t.host, port=t.port), make_ctx(timeout=30.0))
    assert result.status == Status.SUCCESS, result.detail
    assert manifest.check(manifest.Manifest([t]), result.findings) == []
    unauth = {f.resource: f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS}
    assert set(unauth) == {"recordings", "hidden"}  # hidden: open but list = no
    assert unauth["hidden"].evidence["listed"] is False
    assert result.info["module_access"]["private"] == "auth-required"
    assert result.info["version"] == "32.0" and "sha512" in result.info["digests"]


async def test_rsync_listing_is_bounded(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    from scanner.probe import ListingBounds

    t = lab.target("rsync")
    ctx = make_ctx(bounds=ListingBounds(entries=7), timeout=30.0, options={"rsync.modules": []})
    result = await PROBE.run(ServiceInfo(host=t.host, port=t.port), ctx)
    (rec,) = [f for f in result.findings if f.resource == "recordings"]
    assert rec.listing is not None and rec.listing.truncated and len(rec.listing.entries) == 7


@pytest.mark.parametrize(("option", "found"), [("", set()), ("nope, hidden", {"hidden"})])
async def test_unlisted_names_come_from_the_option_string(
    lab: Lab, make_ctx: Callable[..., ProbeContext], option: str, found: set[str]
) -> None:
    t = lab.target("rsync")
    ctx = make_ctx(timeout=30.0, options={"rsync.modules": option})
    result = await PROBE.run(ServiceInfo(host=t.host, port=t.port), ctx)
    unauth = {f.resource for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS}
    assert unauth == {"recordings"} | found
