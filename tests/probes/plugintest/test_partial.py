"""End to end through the engine: a probe cut by the one deadline still reports what it proved.

The test plug-in reads a greeting containing ``HANG`` and then waits forever; the skeleton cuts
``gather`` at ``GATHER_SHARE`` of the probe timeout, judges the greeting already read, and the
service ends ``timeout`` with the finding, well before the engine's own cut-off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from scanner.engine import Engine, ScanOptions
from scanner.models import Kind, Status
from scanner.ports import PortSpec
from scanner.registry import select_probes
from scanner.targets import build_scope

pytestmark = pytest.mark.usefixtures("plugin_probe")
HOST = "127.0.57.4"


@pytest.fixture
async def hanging_server() -> AsyncIterator[int]:
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 nasscan-plugin-test HANG\r\n")
        await writer.drain()
        await done.wait()  # keeps the connection open, says nothing more
        writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        done.set()
        server.close()
        await server.wait_closed()


async def test_a_probe_cut_by_the_deadline_reports_what_it_saw(hanging_server: int) -> None:
    scope = await build_scope([HOST])
    timeout = 2.0
    opts = ScanOptions(ports=PortSpec.of([hanging_server]), probes=select_probes("plugintest"),
                       connect_timeout=0.5, greeting_timeout=0.5, processes=1,
                       probe_timeout=timeout)
    started = time.monotonic()
    report = await Engine(scope, opts).run()
    assert time.monotonic() - started < 10
    (svc,) = report.services
    assert svc.probes == {"plugintest": Status.TIMEOUT}
    # the skeleton's cut (and its detail), not the engine's "probe cut off after 2s"
    assert svc.details["plugintest"] == "no plug-in test greeting in time"
    (finding,) = report.findings
    assert finding.kind is Kind.UNAUTHENTICATED_ACCESS and finding.resource == "test"
    assert finding.evidence["greeting"] == "220 nasscan-plugin-test HANG"
