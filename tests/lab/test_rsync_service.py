"""The lab's rsync daemon with the real rsync client: listed, password-protected, unlisted and
unknown modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_clients import ClientLab

from scanner.lab import content
from scanner.lab.service import (
    LAB_PASSWORD,
    LAB_USER,
)
from scanner.lab.services import rsync

EXAMPLE = content.RECORDING_EXAMPLE  # 2019/03/<personnummer>_<phone>_<time>.wav
EXAMPLE_NAME = EXAMPLE.rsplit("/", 1)[1]


@pytest.mark.lab
def test_rsync_lists_modules_but_not_hidden(client_lab: ClientLab) -> None:
    r = client_lab.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/"])
    assert r.returncode == 0, r.stderr
    modules = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
    assert modules == {"recordings", "private"}


@pytest.mark.lab
def test_rsync_recordings_download(client_lab: ClientLab, tmp_path: Path) -> None:
    dest = tmp_path / "got"
    r = client_lab.run(["rsync", "-r", "--contimeout=5", f"rsync://{rsync.ADDR}/recordings/2019/03/",
                 str(dest)])
    assert r.returncode == 0, r.stderr
    assert (dest / EXAMPLE_NAME).read_bytes() == (client_lab.ctx.content / EXAMPLE).read_bytes()


@pytest.mark.lab
def test_rsync_private_asks_a_password(client_lab: ClientLab) -> None:
    r = client_lab.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/private/"])
    assert r.returncode != 0
    assert "auth failed on module private" in r.stderr
    wrong = client_lab.run(["rsync", "--contimeout=5", f"rsync://{LAB_USER}@{rsync.ADDR}/private/"],
                    env={"RSYNC_PASSWORD": "wrong-password"})
    assert wrong.returncode != 0
    assert "auth failed" in wrong.stderr
    right = client_lab.run(["rsync", "--contimeout=5", f"rsync://{LAB_USER}@{rsync.ADDR}/private/"],
                    env={"RSYNC_PASSWORD": LAB_PASSWORD})
    assert right.returncode == 0, right.stderr
    assert "staff_contacts.csv" in right.stdout


@pytest.mark.lab
def test_rsync_hidden_readable_by_name(client_lab: ClientLab) -> None:
    r = client_lab.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/hidden/"])
    assert r.returncode == 0, r.stderr
    assert "notes.txt" in r.stdout


@pytest.mark.lab
def test_rsync_unknown_module_refused(client_lab: ClientLab) -> None:
    r = client_lab.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/nosuchmodule/"])
    assert r.returncode != 0
    assert "Unknown module" in r.stderr
