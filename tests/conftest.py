"""Shared fixtures. Lab fixtures (real daemons in a lo-only namespace): tests/lab_fixtures.py."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import AsyncIterator, Callable

import pytest

# `net`: listeners on 127.0.55.x for the engine tests (tests/engine_fixtures.py)
from engine_fixtures import net  # noqa: F401  (re-exported fixture)

# `client_lab`: real clients inside the lab namespace (NFS, rsync, S3, iSCSI, TFTP; lab_clients.py)
from lab_clients import client_lab  # noqa: F401  (re-exported fixture)

# the session fixture `lab` (real daemons; tests marked @pytest.mark.lab run inside the namespace)
from lab_fixtures import Lab, lab  # noqa: F401  (re-exported fixture)

# the test plug-in probe, for the modules that ask for it (never installed into an environment)
from plugin_fixtures import plugin_build, plugin_probe  # noqa: F401  (re-exported fixtures)

# `rec`: a loopback dialer recording every byte a probe sends (tests/sampling.py)
from sampling import rec  # noqa: F401  (re-exported fixture)

# `rec_dialer`: a loopback dialer keeping the head of every HTTP request sent (sampling_http.py)
from sampling_http import rec_dialer  # noqa: F401  (re-exported fixture)

from scanner.dialer import Dialer
from scanner.probe import ListingBounds, ProbeContext

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")

# Scans run by tests record their history in a throwaway store, never the user's.
os.environ.setdefault(
    "NASSCAN_DB", os.path.join(tempfile.mkdtemp(prefix="nasscan-test-db-"), "history.sqlite3")
)


@pytest.fixture
async def dialer() -> AsyncIterator[Dialer]:
    """A dialer whose scope is loopback only."""
    d = Dialer(LOOPBACK, concurrency=64, per_host=8, connect_timeout=2.0, read_timeout=3.0)
    yield d
    d.shutdown()


@pytest.fixture
def make_ctx(dialer: Dialer) -> Callable[..., ProbeContext]:
    def make(**kw: object) -> ProbeContext:
        bounds = kw.pop("bounds", ListingBounds())
        assert isinstance(bounds, ListingBounds)
        return ProbeContext(dialer=dialer, bounds=bounds, **kw)  # type: ignore[arg-type]

    return make
