"""The lab's Samba servers with smbclient: the guest server, the SMB1-only server and the
secured twin (signing and encryption required)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lab_fixtures import Lab

from scanner.lab import content
from scanner.lab.service import LAB_PASSWORD, LAB_USER

USERPASS = f"{LAB_USER}%{LAB_PASSWORD}"


def run(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def smbclient(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["smbclient", target, *args])


@pytest.mark.lab
def test_smb_guest_server(lab: Lab) -> None:
    r = smbclient("-L", "//127.0.10.1", "-N", "-g")
    assert r.returncode == 0, r.stderr
    shares = {line.split("|")[1] for line in r.stdout.splitlines() if line.startswith("Disk|")}
    assert shares == {"recordings", "locked", "staff"}
    # the guest can list the recordings
    r = smbclient("//127.0.10.1/recordings", "-N", "-c", "ls 2019/03/*")
    assert r.returncode == 0, r.stderr + r.stdout
    assert Path(content.RECORDING_EXAMPLE).name in r.stdout
    # any unknown user becomes a guest (map to guest = Bad User)
    r = smbclient("//127.0.10.1/recordings", "-U", "nosuchuser%whatever", "-c", "ls")
    assert r.returncode == 0 and "2019" in r.stdout, r.stderr + r.stdout
    # `locked`: the guest connects but cannot list
    r = smbclient("//127.0.10.1/locked", "-N", "-c", "ls")
    assert "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr
    assert "salaries" not in r.stdout
    # `staff`: user only
    r = smbclient("//127.0.10.1/staff", "-N", "-c", "ls")
    assert r.returncode != 0 and "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr
    r = smbclient("//127.0.10.1/staff", "-U", USERPASS, "-c", "ls")
    assert r.returncode == 0 and "handbook.txt" in r.stdout, r.stderr + r.stdout


@pytest.mark.lab
def test_smb1_only_server(lab: Lab) -> None:
    r = smbclient("//127.0.10.2/public", "-N", "-m", "NT1", "--option=client min protocol=NT1",
                  "-c", "ls")
    assert r.returncode == 0 and "2019" in r.stdout, r.stderr + r.stdout
    r = smbclient("//127.0.10.2/public", "-N", "-c", "ls")  # SMB2+ client
    assert r.returncode != 0 and "2019" not in r.stdout


@pytest.mark.lab
def test_smb_secure_twin(lab: Lab) -> None:
    r = smbclient("//127.0.10.3/secure", "-N", "-c", "ls")
    assert r.returncode != 0 and "ACCESS_DENIED" in r.stdout + r.stderr
    r = smbclient("//127.0.10.3/secure", "-U", "nosuchuser%whatever", "-c", "ls")
    assert r.returncode != 0 and "LOGON_FAILURE" in r.stdout + r.stderr
    # SMB 3.0.2 is below the twin's minimum
    r = smbclient("//127.0.10.3/secure", "-U", USERPASS, "-m", "SMB3_02", "-c", "ls")
    assert r.returncode != 0
    r = smbclient("//127.0.10.3/secure", "-U", USERPASS, "--client-protection=encrypt", "-c", "ls")
    assert r.returncode == 0 and "handbook.txt" in r.stdout, r.stderr + r.stdout
