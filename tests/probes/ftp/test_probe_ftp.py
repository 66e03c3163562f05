"""The FTP probe against the lab's real vsftpd servers (ftp-anon on 21 and 2121, ftp-local, ftps).

Run inside the lab: ``nasscan lab up --only ftp && nasscan lab exec -- python -m pytest ...``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lab_fixtures import Lab

from probes.ftp import PROBE, FtpFacts
from scanner.engine import Engine, ScanOptions
from scanner.lab import content, manifest
from scanner.lab.service import ensure_cert
from scanner.masking import mask_text
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Kind,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.ports import PortSpec
from scanner.probe import ListingBounds, ProbeContext
from scanner.targets import build_scope

pytestmark = pytest.mark.lab

ANON, LOCAL, FTPS = "127.0.10.11", "127.0.10.12", "127.0.10.13"


async def run(
    make_ctx: Callable[..., ProbeContext], host: str, port: int = 21, **kw: object
) -> ProbeResult:
    return await PROBE.run(ServiceInfo(host=host, port=port), make_ctx(timeout=60.0, **kw))


@pytest.mark.parametrize("name", ["ftp-anon", "ftp-anon-2121", "ftp-local", "ftps"])
async def test_manifest(lab: Lab, make_ctx: Callable[..., ProbeContext], name: str) -> None:
    target = lab.target(name)
    result = await run(make_ctx, target.host, target.port)
    assert result.protocol == "ftp"
    problems = manifest.check(manifest.Manifest([target]), result.findings)
    assert problems == [], (problems, result.info)


async def test_anonymous_listing(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    result = await run(make_ctx, ANON)
    assert result.status is Status.SUCCESS
    anon = next(f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert anon.authentication is Authentication.ANONYMOUS
    assert anon.evidence["user_reply"] == 230  # no_anon_password=YES: 230 straight after USER
    assert anon.access is Access.READ and anon.encryption is Encryption.NONE
    assert anon.listing is not None and not anon.listing.truncated
    assert "/" + content.RECORDING_EXAMPLE in {e.path for e in anon.listing.entries}
    assert "writable_hint" not in anon.evidence  # write_enable=NO, nothing world-writable
    assert result.info["auth_tls_accepted"] is False
    clear = next(f for f in result.findings if f.kind is Kind.CLEARTEXT_TRANSPORT)
    assert clear.encryption is Encryption.NONE


async def test_listing_bounds(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    result = await run(make_ctx, ANON, bounds=ListingBounds(entries=4))
    anon = next(f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert anon.listing is not None and anon.listing.truncated
    assert len(anon.listing.entries) == 4
    shallow = await run(make_ctx, ANON, bounds=ListingBounds(depth=1))
    anon = next(f for f in shallow.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert anon.listing is not None and anon.listing.truncated
    assert all(e.path.count("/") == 1 for e in anon.listing.entries)  # /name: the root only
    few = await run(make_ctx, ANON, bounds=ListingBounds(requests=2))
    anon = next(f for f in few.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert anon.listing is not None and anon.listing.truncated
    listed_dirs = [t for t in few.info["transcript"] if t.startswith("> LIST")]
    assert len(listed_dirs) == 2


async def test_local_users_plaintext(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    result = await run(make_ctx, LOCAL)
    assert result.status is Status.AUTH_REQUIRED
    assert result.info["plaintext_user_reply"] == 331  # a password would be sent in clear
    assert result.info["anonymous"].startswith("refused")
    assert [f.kind for f in result.findings] == [Kind.CLEARTEXT_TRANSPORT]


async def test_ftps_required(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    result = await run(make_ctx, FTPS)
    assert result.status is Status.AUTH_REQUIRED
    assert result.findings == []
    assert result.info["auth_tls_accepted"] is True
    assert result.info["plaintext_user_reply"] == 530
    assert result.info["tls_user_reply"] == 331
    assert PROBE._encryption(_facts(result)) is Encryption.REQUIRED


def _iso_minute(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()[:16]


def _facts(result: ProbeResult) -> FtpFacts:
    i = result.info
    return FtpFacts(
        ServiceInfo(host=FTPS, port=21),
        auth_tls_accepted=i["auth_tls_accepted"],
        plaintext_user_reply=i["plaintext_user_reply"],
        tls_user_reply=i["tls_user_reply"],
        anonymous=i["anonymous"],
    )


async def test_port_2121_found(lab: Lab) -> None:
    """2121 is an FTP default port (a common alternative): the lab's second vsftpd is found and
    judged as the manifest says. Greeting detection: test_found_by_greeting_on_unclaimed_port."""
    assert PROBE.claims_port(2121, PROBE.transport)
    scope = await build_scope([ANON])
    options = ScanOptions(
        ports=PortSpec.of([2121]),
        probes=[PROBE],
        connect_timeout=1.0,
        retries=0,
        probe_timeout=60.0,
        processes=1,
    )
    report = await Engine(scope, options).run()
    assert [(s.host, s.port, s.protocol) for s in report.services] == [(ANON, 2121, "ftp")]
    assert report.services[0].probes == {"ftp": Status.SUCCESS}
    target = lab.target("ftp-anon-2121")
    assert manifest.check(manifest.Manifest([target]), report.findings) == []


# -- implicit FTPS on 990, plain FTP on an unclaimed port (own vsftpd in the lab namespace) -----
IMPLICIT_ADDR = "127.0.10.191"  # outside the lab's address plan; added to lo for this test only


@contextlib.contextmanager
def own_vsftpd(lab: Lab, port: int, settings: dict[str, str]) -> Iterator[str]:
    """A vsftpd with TLS settings of the test's choosing, on IMPLICIT_ADDR (lab namespace)."""
    crt, key = ensure_cert(lab.ctx)
    run = Path(tempfile.mkdtemp(prefix="nasscan-ownftp-"))
    run.chmod(0o755)
    empty = run / "empty"
    empty.mkdir()
    empty.chmod(0o555)
    conf = run / "vsftpd.conf"
    base = {
        "listen": "YES", "listen_ipv6": "NO", "listen_address": IMPLICIT_ADDR,
        "listen_port": str(port), "background": "NO", "seccomp_sandbox": "NO",
        "write_enable": "NO", "anonymous_enable": "YES", "no_anon_password": "YES",
        "anon_root": str(lab.content), "local_enable": "NO", "ssl_enable": "YES",
        "allow_anon_ssl": "YES", "require_ssl_reuse": "NO", "rsa_cert_file": str(crt),
        "rsa_private_key_file": str(key), "pasv_enable": "YES", "pasv_address": IMPLICIT_ADDR,
        "pasv_min_port": "30900", "pasv_max_port": "30909", "secure_chroot_dir": str(empty),
        "nopriv_user": "nobody", "connect_from_port_20": "NO", "xferlog_enable": "NO",
    }  # fmt: skip
    conf.write_text("".join(f"{k}={v}\n" for k, v in {**base, **settings}.items()))
    conf.chmod(0o600)
    subprocess.run(
        ["ip", "addr", "replace", f"{IMPLICIT_ADDR}/32", "dev", "lo"], check=True, timeout=10
    )
    proc = subprocess.Popen(
        ["vsftpd", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):  # up to 10 s
            with contextlib.suppress(OSError), socket.create_connection((IMPLICIT_ADDR, port), 0.5):
                break
            time.sleep(0.1)
        else:
            pytest.fail("own vsftpd did not start")
        yield IMPLICIT_ADDR
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        subprocess.run(["ip", "addr", "del", f"{IMPLICIT_ADDR}/32", "dev", "lo"], timeout=10)
        shutil.rmtree(run, ignore_errors=True)


async def test_found_by_greeting_on_unclaimed_port(lab: Lab) -> None:
    """A real vsftpd on 2100, a port no probe claims: the engine finds it by its 220 greeting
    (matches_greeting) and the FTP probe reports the anonymous access."""
    port = 2100
    assert not PROBE.claims_port(port, PROBE.transport)
    settings = {"ssl_enable": "NO", "ftpd_banner": "Plain FTP on an odd port."}
    with own_vsftpd(lab, port, settings) as host:
        scope = await build_scope([host])
        options = ScanOptions(
            ports=PortSpec.of([port]),
            probes=[PROBE],
            connect_timeout=1.0,
            retries=0,
            probe_timeout=60.0,
            processes=1,
        )
        report = await Engine(scope, options).run()
    assert [(s.host, s.port, s.protocol) for s in report.services] == [(host, port, "ftp")]
    assert report.services[0].probes == {"ftp": Status.SUCCESS}
    anon = [f for f in report.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS]
    assert len(anon) == 1 and anon[0].port == port
    assert anon[0].listing is not None
    # the engine's findings went through triage: identity numbers masked
    assert mask_text("/" + content.RECORDING_EXAMPLE) in {e.path for e in anon[0].listing.entries}


@pytest.fixture
def implicit_ftps(lab: Lab) -> Iterator[str]:
    settings = {
        "implicit_ssl": "YES", "force_anon_data_ssl": "NO", "force_anon_logins_ssl": "NO",
        "ftpd_banner": "Implicit FTPS ready.",
    }  # fmt: skip
    with own_vsftpd(lab, 990, settings) as host:
        yield host


async def test_implicit_ftps_on_990(
    implicit_ftps: str, make_ctx: Callable[..., ProbeContext]
) -> None:
    result = await run(make_ctx, implicit_ftps, 990)
    assert result.status is Status.SUCCESS, result.detail
    assert result.tls is True and result.info["implicit_tls"] is True
    assert result.info["banner"] == "Implicit FTPS ready."
    kinds = [f.kind for f in result.findings]
    assert kinds == [Kind.UNAUTHENTICATED_ACCESS]  # no cleartext-transport: TLS from byte one
    anon = result.findings[0]
    assert anon.encryption is Encryption.REQUIRED
    assert anon.authentication is Authentication.ANONYMOUS
    assert anon.listing is not None
    assert "/" + content.RECORDING_EXAMPLE in {e.path for e in anon.listing.entries}


# -- MLSD, perm facts and a writable hint: pyftpdlib (Debian python3-pyftpdlib) in the lab ns ----
PYFTPD_ADDR = "127.0.10.192"  # outside the lab's address plan; added to lo for this test only


@contextlib.contextmanager
def pyftpd(directory: Path, *, write: bool) -> Iterator[str]:
    subprocess.run(
        ["ip", "addr", "replace", f"{PYFTPD_ADDR}/32", "dev", "lo"], check=True, timeout=10
    )
    argv = ["/usr/bin/python3", "-m", "pyftpdlib", "-i", PYFTPD_ADDR, "-p", "21",
            "-d", str(directory), "-r", "30910-30919"] + (["-w"] if write else [])  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # up to 10 s
            with contextlib.suppress(OSError), socket.create_connection((PYFTPD_ADDR, 21), 0.5):
                break
            time.sleep(0.1)
        else:
            pytest.fail("pyftpdlib did not start")
        yield PYFTPD_ADDR
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        subprocess.run(["ip", "addr", "del", f"{PYFTPD_ADDR}/32", "dev", "lo"], timeout=10)


async def test_mlsd_listing(lab: Lab, make_ctx: Callable[..., ProbeContext]) -> None:
    with pyftpd(lab.content, write=False) as host:
        result = await run(make_ctx, host)
        as_list = await run(make_ctx, host, options={"ftp.mlsd": False})
    assert result.status is Status.SUCCESS, (result.detail, result.info)
    assert result.info["listing_method"] == "MLSD"
    assert any(f.startswith("MLST") for f in result.info["features"])
    anon = next(f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert anon.evidence["user_reply"] == 331 and anon.evidence["pass_reply"] == 230
    assert anon.listing is not None and not anon.listing.truncated
    entries = {e.path: e for e in anon.listing.entries}
    rec = entries["/" + content.RECORDING_EXAMPLE]
    on_disk = (lab.content / content.RECORDING_EXAMPLE).stat()
    assert rec.size == on_disk.st_size > 0 and not rec.is_dir
    assert rec.mtime is not None and rec.mtime[:16] == _iso_minute(on_disk.st_mtime)
    assert entries["/2019"].is_dir and entries["/2019"].size is None
    assert anon.access is Access.READ  # MLSD perm fact 'r' on files
    assert "writable_hint" not in anon.evidence
    # the same tree through pyftpdlib's LIST output, parsed by the unix LIST parser
    assert as_list.info["listing_method"] == "LIST"
    listed = next(f for f in as_list.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
    assert listed.listing is not None
    assert {e.path for e in listed.listing.entries} == set(entries)


async def test_writable_is_only_a_labelled_hint(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    """(``lab``: makes sure this runs inside the namespace, where adding an address is ours.)"""
    tree = Path(tempfile.mkdtemp(prefix="nasscan-pyftpd-"))
    try:
        (tree / "incoming").mkdir()
        (tree / "incoming" / "note.txt").write_text("drop files here\n")
        before = sorted(p.name for p in tree.rglob("*"))
        with pyftpd(tree, write=True) as host:
            result = await run(make_ctx, host)
        anon = next(f for f in result.findings if f.kind is Kind.UNAUTHENTICATED_ACCESS)
        assert anon.evidence["writable_hint"].startswith("HINT (not tested): MLSD perm")
        assert anon.access is not Access.WRITE  # a hint is not proof
        assert sorted(p.name for p in tree.rglob("*")) == before  # nothing was written
    finally:
        shutil.rmtree(tree, ignore_errors=True)


async def test_anonymous_over_explicit_tls_only(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    """Anonymous allowed, but only after AUTH TLS (and data only with PROT P)."""
    settings = {"force_anon_logins_ssl": "YES", "force_anon_data_ssl": "YES"}
    with own_vsftpd(lab, 21, settings) as host:
        result = await run(make_ctx, host)
    assert result.status is Status.SUCCESS, (result.detail, result.info)
    assert result.info["anonymous"] == "accepted over TLS only"
    assert result.info["auth_tls_accepted"] is True
    [anon] = result.findings  # plaintext USER refused: no cleartext-transport
    assert anon.kind is Kind.UNAUTHENTICATED_ACCESS
    assert anon.encryption is Encryption.REQUIRED
    assert anon.listing is not None  # listed over a TLS data connection
    assert "/" + content.RECORDING_EXAMPLE in {e.path for e in anon.listing.entries}
