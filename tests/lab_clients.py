"""Real clients against the lab's NFS, rsync, S3, iSCSI and TFTP services: commands run inside
the lab's namespace (``ip netns exec``, a no-op switch when already inside), and the shared
client calls (curl, an iSCSI login) of the service, manifest and supervisor tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from lab_fixtures import Lab as SessionLab

from scanner.lab import supervisor
from scanner.lab.service import (
    LabContext,
)
from scanner.lab.services import iscsi

SERVICES = ["nfs", "rsync", "s3", "iscsi", "tftp"]


@dataclass
class ClientLab:
    ns: str
    ctx: LabContext

    def run(
        self,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 30.0,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {"PATH": supervisor.BASE_PATH, "LANG": "C", "HOME": "/root", **(env or {})}
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture(scope="module")
def client_lab(lab: SessionLab) -> ClientLab:
    """The lab's namespace for real clients; brings these services up again if a test stopped
    them, but only those the session selected (``NASSCAN_LAB_ONLY``): never NFS in a lab
    without it (its rpcbind socket is the machine's)."""
    ctx = supervisor.up(lab.ns, [s for s in SERVICES if s in lab.services])
    return ClientLab(lab.ns, ctx)


def curl(client_lab: ClientLab, url: str) -> tuple[int, str]:
    r = client_lab.run(["curl", "-s", "--max-time", "10", "-w", "\n%{http_code}", url])
    assert r.returncode == 0, r.stderr
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


# A minimal iSCSI Login (security stage) in the namespace: prints the target's answer.
ISCSI_LOGIN = r"""
import json, socket, struct, sys
host, port, target, auth = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
kv = [("InitiatorName", "iqn.2026-01.lab.nasscan:tester"), ("SessionType", "Normal"),
      ("TargetName", target), ("AuthMethod", auth)]
data = b"".join(f"{k}={v}".encode() + b"\0" for k, v in kv)
bhs = bytearray(48)
bhs[0] = 0x43                      # immediate, Login Request
bhs[1] = 0x81                      # Transit, CSG=security, NSG=operational
bhs[5:8] = len(data).to_bytes(3, "big")
bhs[8:14] = bytes.fromhex("00023d000001")
struct.pack_into(">I", bhs, 16, 1)  # ITT
struct.pack_into(">I", bhs, 24, 1)  # CmdSN
with socket.create_connection((host, port), timeout=5) as s:
    s.sendall(bytes(bhs) + data + b"\0" * (-len(data) % 4))
    buf = b""
    for _ in range(64):
        if len(buf) >= 48 and len(buf) >= 48 + buf[4] * 4 + int.from_bytes(buf[5:8], "big"):
            break
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
start = 48 + buf[4] * 4
body = buf[start:start + int.from_bytes(buf[5:8], "big")]
keys = dict(p.split("=", 1) for p in body.decode().split("\0") if "=" in p)
print(json.dumps({"opcode": buf[0] & 0x3F, "class": buf[36], "detail": buf[37], "keys": keys}))
"""


def iscsi_login(client_lab: ClientLab, target: str, auth: str) -> dict[str, object]:
    r = client_lab.run(
        [sys.executable, "-c", ISCSI_LOGIN, iscsi.ADDR, str(iscsi.PORT), target, auth]
    )
    assert r.returncode == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    assert out["opcode"] == 0x23  # Login Response
    return out
