"""``--sample-bytes N`` in the TFTP probe (intrusive, off by default).

The lab's tftpd-hpa at 127.0.10.71, plus an own tftpd in the lab namespace serving a WAV under a
dull name: the first bytes are read only when ``ctx.sample_bytes > 0``, at most one 512-byte
block per file, and the sniffed type reaches the finding's evidence and triage.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lab_fixtures import Lab

from probes import tftp as tftp_probe
from scanner.lab import content
from scanner.models import Finding, Kind, ServiceInfo, Severity, Status, Transport
from scanner.probe import ProbeContext
from scanner.triage import triage_finding


async def tftp_unauth(host: str, ctx: ProbeContext) -> Finding:
    res = await tftp_probe.PROBE.run(ServiceInfo(host=host, port=69, transport=Transport.UDP),
                                     ctx)
    assert res.status == Status.SUCCESS, res.detail
    (f,) = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    return f


@pytest.mark.lab
async def test_tftp_samples_only_when_asked(
    lab: Lab, make_ctx: Callable[..., ProbeContext]
) -> None:
    host = lab.target("tftp").host
    plain = await tftp_unauth(host, make_ctx(timeout=30.0))
    for key in ("sniffed", "intrusive", "sample_bytes", "sampled_files"):
        assert key not in plain.evidence
    f = await tftp_unauth(host, make_ctx(timeout=30.0, sample_bytes=16))
    assert f.evidence["intrusive"] == ["sample-bytes"] and f.evidence["sampled_files"] == 3
    # text configs and a random-bytes boot file: read, not recognised
    assert f.evidence["sniffed"] == {"startup-config": None, "pxelinux.0": None,
                                     "backup/nas.cfg": None}
    assert "sample_note" not in f.evidence
    # the listing is the same either way
    assert plain.listing == f.listing
    assert triage_finding(f).severity == triage_finding(plain).severity


OWN_TFTP = "127.0.10.77"
WAV_NAME = "backup/blob.dat"  # a dull name: only the first bytes say it is a recording


@pytest.fixture
def own_tftpd(lab: Lab, tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """An own tftpd-hpa in the lab namespace serving a WAV (two blocks) under a dull name."""
    import random

    wav = content.wav_bytes(random.Random(7))
    assert len(wav) > 512 and wav[8:12] == b"WAVE"
    root = tmp_path / "tftproot"
    (root / "backup").mkdir(parents=True)
    (root / WAV_NAME).write_bytes(wav)
    for p in (root, root / "backup"):
        p.chmod(0o755)
    (root / WAV_NAME).chmod(0o644)
    proc = subprocess.Popen(
        ["in.tftpd", "--foreground", "--address", f"{OWN_TFTP}:69", "--secure",
         "--user", "nobody", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):  # up to 10 s
            out = subprocess.run(["ss", "-Hlnu", "src", f"{OWN_TFTP}:69"], capture_output=True,
                                 text=True, timeout=5).stdout
            if out.strip():
                break
            if proc.poll() is not None:
                pytest.fail(f"in.tftpd exited with {proc.returncode}")
            time.sleep(0.1)
        else:
            pytest.fail("own in.tftpd did not start")
        yield OWN_TFTP, wav
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.lab
async def test_tftp_sniffs_a_wav_and_triage_makes_it_critical(
    own_tftpd: tuple[str, bytes], make_ctx: Callable[..., ProbeContext]
) -> None:
    host, _wav = own_tftpd
    opts = {"tftp.names": f"{WAV_NAME},startup-config"}
    plain = await tftp_unauth(host, make_ctx(timeout=30.0, options=opts))
    assert plain.listing is not None and [e.path for e in plain.listing.entries] == [WAV_NAME]
    assert triage_finding(plain).severity == Severity.HIGH  # the name says nothing

    f = await tftp_unauth(host, make_ctx(timeout=30.0, options=opts, sample_bytes=12))
    assert f.evidence["sniffed"] == {WAV_NAME: "wav"}
    t = triage_finding(f)
    assert t.severity == Severity.CRITICAL
    assert t.evidence["confirmed_by_content"] == {"recording": 1}

    # 11 bytes end before "WAVE" is complete: the bound is applied to the block
    short = await tftp_unauth(host, make_ctx(timeout=30.0, options=opts, sample_bytes=11))
    assert short.evidence["sniffed"] == {WAV_NAME: None}
    assert triage_finding(short).severity == Severity.HIGH

    # more than a block asked: only block 1 is ever read (the transfer is aborted after it)
    big = await tftp_unauth(host, make_ctx(timeout=30.0, options=opts, sample_bytes=4096))
    assert big.evidence["sniffed"] == {WAV_NAME: "wav"}
    assert "512-byte block" in big.evidence["sample_note"]
    assert big.listing is not None and big.listing.entries[0].size is None  # size unknown
