"""An S3 API on a port no probe claims (MinIO's console ports, a NAS app on 9100, ...) is still
scanned by the S3 probe: HTTP recognises it first (it is a web server too), but a generic
probe's detection yields to a specific probe that recognises the service. The twin, a plain
web server on an unclaimed port, gets the HTTP probe and no S3 finding."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from socket_listeners import free_port, wait_listening

from scanner.engine import scan_targets
from scanner.models import Kind, Status


@contextlib.contextmanager
def _server(argv: list[str], port: int, cwd: Path | None = None) -> Iterator[None]:
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening("127.0.0.1", port, proc, argv[2])
        yield
    finally:
        proc.terminate()  # our own child, by PID
        proc.wait(5)


async def test_an_s3_api_on_an_unclaimed_port_is_probed_as_s3() -> None:
    port = free_port("127.0.0.1")
    with _server([sys.executable, "-m", "scanner.lab.s3gen", "127.0.0.1", str(port)], port):
        report = await scan_targets(["127.0.0.1"], ports=f"T:{port}", yes=True, seed=0)
    (service,) = report.services
    assert service.probes == {"s3": Status.SUCCESS}, service.details  # S3, not a web page
    opened = {f.resource for f in report.findings
              if f.kind == Kind.UNAUTHENTICATED_ACCESS and f.protocol == "s3"}  # fmt: skip
    assert opened == {"wide", "flat"}


async def test_a_web_server_on_an_unclaimed_port_is_not_s3(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    port = free_port("127.0.0.1")
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    with _server(argv, port, cwd=tmp_path):
        report = await scan_targets(["127.0.0.1"], ports=f"T:{port}", yes=True, seed=0)
    (service,) = report.services
    assert service.probes.get("http") == Status.SUCCESS, service.details
    assert service.probes.get("s3") in (None, Status.NOT_APPLICABLE)
    assert not [f for f in report.findings if f.protocol == "s3"]
    assert any(f.kind == Kind.UNAUTHENTICATED_ACCESS for f in report.findings)  # its listing
