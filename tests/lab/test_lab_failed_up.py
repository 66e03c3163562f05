"""A failed ``lab up`` names what is missing and leaves nothing it started.

Real daemons in a namespace of this test's own (derived from the running lab's name). The lab
reads its configs from a copy of the package data with one file removed; the first case (a lab
that was already running) is here, the fresh-namespace case runs from an installed wheel in
``tests/packaging/test_install.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.lab import netns, supervisor
from scanner.lab.netns import LabError
from scanner.lab.service import LAB_CONFIG_DIR, LabContext


@pytest.fixture
def own_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    if os.geteuid() != 0:
        pytest.fail("needs root (a lab namespace): run the suite via scripts/test.sh",
                    pytrace=False)
    ns = f"{os.environ.get(netns.ENV_NS, netns.DEFAULT_NS)}-f"[:40]
    state_root = Path(f"/run/{ns}")
    config = tmp_path / "data"
    shutil.copytree(LAB_CONFIG_DIR, config)
    monkeypatch.setenv(supervisor.STATE_ROOT_ENV, str(state_root))
    monkeypatch.setattr(supervisor, "context",
                        lambda n: LabContext(ns=n, state=state_root / n, config_dir=config))
    if netns.exists(ns):
        supervisor.down(ns)
    try:
        yield ns, config
    finally:
        supervisor.down(ns)
        shutil.rmtree(state_root, ignore_errors=True)


def test_failed_up_in_a_running_lab_stops_only_what_it_started(own_lab: tuple[str, Path]) -> None:
    ns, config = own_lab
    ctx = supervisor.up(ns, ["ftp"])
    before = {r.name: r for r in supervisor.load_records(ctx)}
    assert len(before) == 4 and all(r.alive() for r in before.values())
    (config / "ftp" / "ftps.conf").unlink()
    with pytest.raises(LabError) as err:
        supervisor.up(ns, ["http", "ftp"])  # http starts, then ftp's config is missing
    msg = str(err.value)
    assert str(config / "ftp" / "ftps.conf") in msg and "No such file" in msg, msg
    assert "daemon(s) this call started were stopped" in msg
    assert netns.exists(ns)  # the lab that was running stays
    after = {r.name: r for r in supervisor.load_records(ctx)}
    assert set(after) == set(before)  # the http daemons' records are gone ...
    assert all(r.alive() for r in after.values())  # ... and the ftp daemons still run
    http_daemons = [p for p in netns.pids_in(ns) if _comm(p) in ("nginx", "apache2", "lighttpd")]
    assert http_daemons == []


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:  # gone
        return ""
