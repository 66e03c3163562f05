"""The lab's tftpd-hpa with the real tftp client: well-known files served, missing files and
path escapes refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_clients import ClientLab

from scanner.lab.service import (
    LAB_CONFIG_DIR,
)
from scanner.lab.services import tftp


@pytest.mark.parametrize("name", tftp.FILES)
@pytest.mark.lab
def test_tftp_get(client_lab: ClientLab, tmp_path: Path, name: str) -> None:
    dest = tmp_path / "got"
    r = client_lab.run(["tftp", tftp.ADDR, "-c", "get", name, str(dest)], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Error" not in r.stdout + r.stderr
    assert dest.read_bytes() == (LAB_CONFIG_DIR / "tftp" / "root" / name).read_bytes()


@pytest.mark.lab
def test_tftp_missing_file_and_escape_refused(client_lab: ClientLab, tmp_path: Path) -> None:
    for name in ("no-such-file", "../../../etc/passwd"):
        dest = tmp_path / "got"
        r = client_lab.run(["tftp", tftp.ADDR, "-c", "get", name, str(dest)], cwd=tmp_path)
        assert "Error code" in r.stdout + r.stderr
        assert not dest.exists() or dest.stat().st_size == 0
        dest.unlink(missing_ok=True)
