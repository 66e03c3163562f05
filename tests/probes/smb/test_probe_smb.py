"""The SMB probe against the lab's real Samba servers (smb-guest, smb1, smb-secure).

Run inside the lab: ``nasscan lab up --only smb && nasscan lab exec -- python -m pytest ...``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lab_fixtures import Lab

from probes.smb import PROBE, SmbFacts
from scanner.lab import content, manifest
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Kind,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.probe import ListingBounds, ProbeContext
from scanner.protocols.smb.constants import WRITE_BITS, AccessMask

pytestmark = pytest.mark.lab

GUEST, SMB1, SECURE = "127.0.10.1", "127.0.10.2", "127.0.10.3"


async def run(make_ctx: Callable[..., ProbeContext], host: str, **kw: object) -> ProbeResult:
    return await PROBE.run(ServiceInfo(host=host, port=445), make_ctx(timeout=60.0, **kw))


@pytest.mark.parametrize("name", ["smb-guest", "smb1", "smb-secure"])
async def test_manifest(lab: Lab, make_ctx: Callable[..., ProbeContext], name: str) -> None:
    target = lab.target(name)
    result = await run(make_ctx, target.host)
    assert result.protocol == "smb"
    problems = manifest.check(manifest.Manifest([target]), result.findings)
    assert problems == [], (problems, result.info)


async def test_guest_server_recordings_readable_locked_and_staff_not(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    result = await run(make_ctx, GUEST)
    assert result.status is Status.SUCCESS
    unauth = [f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS]
    assert [f.resource for f in unauth] == ["recordings"]
    rec = unauth[0]
    assert rec.authentication is Authentication.GUEST
    assert rec.access is Access.READ  # a file opened for reading; MxAc shows no write bits
    assert rec.listing is not None and not rec.listing.truncated
    paths = {e.path for e in rec.listing.entries}
    assert "/" + content.RECORDING_EXAMPLE in paths
    assert rec.encryption is Encryption.OPTIONAL
    shares = result.info["shares"]
    # `locked` is guest ok and the tree connect succeeds: only the root listing fails
    assert shares["locked"] == "open root: STATUS_ACCESS_DENIED"
    assert shares["staff"].startswith("tree connect: STATUS_ACCESS_DENIED")
    assert "IPC$" not in shares  # not storage: never checked
    # tree connect succeeded on these two: share flags without ENCRYPT_DATA
    assert result.info["share_encrypt_data"] == {"recordings": False, "locked": False}
    assert result.info["dialects"] == ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"]
    assert result.info["smb1"] is False
    assert result.info["guest_session"] == "accepted"
    assert result.info["enumeration"].startswith("NetShareEnumAll")
    clear = [f for f in result.findings if f.kind is Kind.CLEARTEXT_TRANSPORT]
    assert len(clear) == 1 and clear[0].evidence["encryption_capable"] is True
    assert clear[0].evidence["session_encrypt_data"] is False


async def test_listing_respects_bounds(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    result = await run(make_ctx, GUEST, bounds=ListingBounds(entries=5))
    rec = next(f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert rec.listing is not None and rec.listing.truncated
    assert len(rec.listing.entries) == 5 and rec.listing.truncated is True
    shallow = await run(make_ctx, GUEST, bounds=ListingBounds(depth=1))
    rec = next(f for f in shallow.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert rec.listing is not None and rec.listing.truncated
    assert all(e.path.count("/") == 1 for e in rec.listing.entries)  # /name: the root only
    assert "/2019" in {e.path for e in rec.listing.entries}


async def test_smb1_only_server(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    result = await run(make_ctx, SMB1)
    assert result.status is Status.SUCCESS
    assert result.info["dialects"] == ["NT LM 0.12 (SMB1)"]
    legacy = [f for f in result.findings if f.kind is Kind.LEGACY_PROTOCOL]
    assert len(legacy) == 1 and legacy[0].evidence["smb1_only"] is True
    public = next(f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert public.resource == "public" and public.authentication is Authentication.GUEST
    assert public.access is Access.LIST  # pysmb over SMB1 proves listing only
    assert public.listing is not None
    assert "/" + content.RECORDING_EXAMPLE in {e.path for e in public.listing.entries}
    clear = next(f for f in result.findings if f.kind is Kind.CLEARTEXT_TRANSPORT)
    assert clear.encryption is Encryption.NONE


async def test_secure_twin(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    result = await run(make_ctx, SECURE)
    assert result.status is Status.AUTH_REQUIRED
    assert result.findings == []
    assert result.info["dialects"] == ["3.1.1"]
    assert result.info["signing_required"] is True
    assert result.info["encryption_capable"] is True
    assert result.info["null_session"].startswith("refused")
    assert result.info["guest_session"].startswith("refused")


async def test_detect_and_not_applicable(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    ctx = make_ctx()
    assert await PROBE.detect(ServiceInfo(host=GUEST, port=445), ctx)
    assert await PROBE.detect(ServiceInfo(host=SMB1, port=445), ctx)  # by its SMB1 answer
    refused = await PROBE.run(ServiceInfo(host=GUEST, port=446), ctx)
    assert refused.status is Status.REFUSED


# -- a writable guest share and a per-share encryption demand (own smbd, inside the lab ns) --------
WRITABLE_ADDR = "127.0.10.190"  # outside the lab's address plan; added to lo for this test only

_CONF = """[global]
  server role = standalone server
  interfaces = {addr}
  bind interfaces only = yes
  smb ports = 445
  disable netbios = yes
  map to guest = Bad User
  guest account = nobody
  private dir = {run}/private
  lock directory = {run}/lock
  state directory = {run}/state
  cache directory = {run}/cache
  pid directory = {run}/pid
  ncalrpc dir = {run}/ncalrpc
  log file = {run}/log.%m
  passdb backend = tdbsam:{run}/private/passdb.tdb
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
  rpc start on demand helpers = no
[public]
  path = {run}/dropbox
  guest ok = yes
  read only = no
[data]
  path = {run}/enc
  guest ok = yes
  read only = yes
  smb encrypt = required
[D$]
  path = {run}/hidden
  guest ok = yes
  read only = yes
  browseable = no
"""


@pytest.fixture
def writable_smbd(lab: Lab) -> Iterator[str]:
    run = Path(tempfile.mkdtemp(prefix="nasscan-smbw-"))
    run.chmod(0o755)
    for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc", "dropbox", "enc", "hidden"):
        (run / sub).mkdir()
    (run / "dropbox").chmod(0o777)  # the guest (nobody) may create files here
    (run / "dropbox" / "upload-here.txt").write_text("anyone can write\n")
    (run / "enc" / "secret.txt").write_text("encrypted share\n")
    (run / "enc").chmod(0o755)
    (run / "hidden" / "db_backup_2019.sql.gz").write_bytes(b"\x1f\x8b not really gzip")
    (run / "hidden").chmod(0o755)
    conf = run / "smb.conf"
    conf.write_text(_CONF.format(addr=WRITABLE_ADDR, run=run))
    subprocess.run(
        ["ip", "addr", "replace", f"{WRITABLE_ADDR}/32", "dev", "lo"], check=True, timeout=10
    )
    proc = subprocess.Popen(
        ["smbd", "--foreground", "--debug-stdout", "-s", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):  # up to 10 s
            with contextlib.suppress(OSError), socket.create_connection((WRITABLE_ADDR, 445), 0.5):
                break
            time.sleep(0.1)
        else:
            pytest.fail("private smbd did not start")
        yield WRITABLE_ADDR
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        dcerpcd = run / "pid" / "samba-dcerpcd.pid"
        if dcerpcd.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(dcerpcd.read_text().split()[0]), signal.SIGTERM)
        subprocess.run(["ip", "addr", "del", f"{WRITABLE_ADDR}/32", "dev", "lo"], timeout=10)
        shutil.rmtree(run, ignore_errors=True)


async def test_write_access_fallback_names_hidden_share_and_encrypted_share(
    writable_smbd: str, make_ctx: Callable[..., ProbeContext]
) -> None:
    """SRVSVC is off here: the common-name list finds `public`, `data` and the hidden `D$`."""
    result = await run(make_ctx, writable_smbd)
    assert result.info["enumeration"].startswith("denied")
    unauth = {f.resource: f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS}
    assert set(unauth) == {"public", "D$"}
    drop = unauth["public"]
    assert drop.access is Access.WRITE  # maximal access on the root holds FILE_ADD_FILE
    assert int(drop.evidence["maximal_access"], 16) & AccessMask.FILE_ADD_FILE
    assert drop.listing is not None
    assert [e.path for e in drop.listing.entries] == ["/upload-here.txt"]
    hidden = unauth["D$"]
    assert hidden.access is Access.READ
    assert int(hidden.evidence["maximal_access"], 16) & WRITE_BITS == 0
    # `smb encrypt = required` on the share: an unkeyed guest session is turned away
    assert result.info["shares"]["data"] == "tree connect: STATUS_ACCESS_DENIED"
    assert result.info["shares"]["backup"] == "tree connect: STATUS_BAD_NETWORK_NAME"


async def test_credentials_prove_encryption_required(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    """With smb.user/smb.password the secured twin's session comes back with ENCRYPT_DATA."""
    creds = {"smb.user": "alice", "smb.password": "Secret123!"}
    secure = await run(make_ctx, SECURE, options=creds)
    assert secure.info["user_session"] == "alice: accepted"
    assert secure.info["session_encrypt_data"] is True
    assert PROBE._encryption(_facts(secure)) is Encryption.REQUIRED
    assert secure.findings == []
    assert "Secret123!" not in repr(secure.model_dump())
    wrong = await run(make_ctx, SECURE, options={**creds, "smb.password": "wrong"})
    assert wrong.info["user_session"] == "alice: refused (STATUS_LOGON_FAILURE)"
    assert wrong.info["session_encrypt_data"] is None  # still unknown
    guest_server = await run(make_ctx, GUEST, options=creds)
    assert guest_server.info["user_session"] == "alice: accepted"
    assert guest_server.info["session_encrypt_data"] is False
    clear = next(f for f in guest_server.findings if f.kind is Kind.CLEARTEXT_TRANSPORT)
    assert clear.encryption is Encryption.OPTIONAL


def _facts(result: ProbeResult) -> SmbFacts:
    i = result.info
    return SmbFacts(
        service=ServiceInfo(host=SECURE, port=445),
        smb2=True,
        smb1=i["smb1"],
        encryption_capable=i["encryption_capable"],
        session_encrypt_data=i["session_encrypt_data"],
    )
