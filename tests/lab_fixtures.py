"""Lab fixtures: real daemons in the loopback-only lab namespace.

Lab tests are marked ``@pytest.mark.lab`` and run INSIDE the namespace:
``nasscan lab up && nasscan lab exec -- python -m pytest`` (what scripts/test.sh does).
``lab exec`` sets ``NASSCAN_LAB_NS``; the ``lab`` fixture checks that this process really is in
that namespace, brings up the services it needs (idempotent: a no-op when they run) and gives
the manifest. ``NASSCAN_LAB_ONLY=smb,ftp`` restricts which services are brought up (for a
helper's own namespace started with ``--only``). Outside the namespace a lab test FAILS with a
message saying how to run it (never a skip).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.lab import content, manifest, netns, supervisor
from scanner.lab.manifest import Manifest, Target
from scanner.lab.netns import LabError
from scanner.lab.service import LabContext


@dataclass
class Lab:
    ns: str
    ctx: LabContext
    services: list[str]
    manifest: Manifest
    """Expected results of the services that are up."""

    @property
    def content(self) -> Path:
        return self.ctx.content

    def target(self, name: str) -> Target:
        return self.manifest.by_name(name)


HOW = (
    "lab tests run inside the lab namespace: `nasscan lab up && nasscan lab exec -- "
    "python -m pytest ...` (scripts/test.sh does this)"
)


@pytest.fixture(scope="session")
def lab() -> Lab:
    ns = os.environ.get(netns.ENV_NS)
    if not ns:
        pytest.fail(f"{netns.ENV_NS} is not set: {HOW}", pytrace=False)
    if not netns.current_ns_matches(ns):
        pytest.fail(f"this process is not inside namespace {ns!r}: {HOW}", pytrace=False)
    only_env = os.environ.get("NASSCAN_LAB_ONLY")
    only = [s for s in only_env.split(",") if s] if only_env else None
    try:
        ctx = supervisor.up(ns, only)
    except LabError as e:
        pytest.fail(f"lab {ns} could not be brought up: {e}", pytrace=False)
    names = only or [s.name for s in supervisor.all_services()]
    assert ctx.content.joinpath(content.RECORDING_EXAMPLE).is_file()
    return Lab(ns=ns, ctx=ctx, services=names,
               manifest=manifest.load().for_services(names))
