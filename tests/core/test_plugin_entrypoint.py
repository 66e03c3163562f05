"""Probes are plug-ins: a separately installed package adds one through ``nasscan.probes``.

``tests/plugin_pkg`` is installed by pip into a temporary directory put on the path for this
module only (``tests/plugin_fixtures.py``): never into an environment a scan runs from.
"""

from __future__ import annotations

import asyncio
import sysconfig
from collections.abc import AsyncIterator
from importlib.metadata import distribution, entry_points
from pathlib import Path
from site import getsitepackages as site_packages

import pytest
from click.testing import CliRunner

from scanner.cli import cli
from scanner.engine import Engine, ScanOptions
from scanner.models import Kind, Status
from scanner.ports import PortSpec
from scanner.probe import Probe
from scanner.registry import GROUP, load_probes, select_probes
from scanner.targets import build_scope

pytestmark = pytest.mark.usefixtures("plugin_probe")


def test_plugin_package_is_installed_and_registered() -> None:
    dist = distribution("nasscan-plugin-test")  # raises if the plugin_probe fixture did not run
    names = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    assert names.get("plugintest") == "nasscan_plugin_test:PROBE"
    assert dist.version == "0.0.1"


def test_registry_loads_the_plugin_probe() -> None:
    probes = load_probes()
    probe = probes["plugintest"]
    assert isinstance(probe, Probe)
    assert type(probe).__module__ == "nasscan_plugin_test"
    assert select_probes("plugintest") == [probe]
    assert probe.default_ports == ()  # never runs in real scans unless a greeting matches


def test_probes_command_lists_the_plugin() -> None:
    result = CliRunner().invoke(cli, ["probes"])
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if x.startswith("plugintest "))
    assert "tcp" in line and "no" in line and "nasscan-plugin-test" in line


@pytest.fixture
async def plugin_server() -> AsyncIterator[tuple[str, int]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 nasscan-plugin-test ready\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.57.1", 0)
    try:
        yield "127.0.57.1", server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_engine_runs_the_plugin_on_its_greeting(plugin_server: tuple[str, int]) -> None:
    host, port = plugin_server
    scope = await build_scope([host])
    opts = ScanOptions(
        ports=PortSpec.of([port]),
        probes=select_probes("plugintest"),
        connect_timeout=0.5,
        greeting_timeout=0.5,
        processes=1,
    )
    report = await Engine(scope, opts).run()
    (svc,) = report.services
    assert svc.probes == {"plugintest": Status.SUCCESS}
    (finding,) = report.findings
    assert finding.kind == Kind.UNAUTHENTICATED_ACCESS and finding.probe == "plugintest"


def test_plugin_is_not_installed_in_the_environment(plugin_probe: Path) -> None:
    """The plug-in is only on the path this module added: the environment's site-packages (the
    one `scripts/demo.sh` scans from) does not hold it."""
    dist = distribution("nasscan-plugin-test")
    assert Path(str(dist.locate_file(""))).resolve() == plugin_probe.resolve()
    for site in {*site_packages(), sysconfig.get_paths()["purelib"]}:
        assert not list(Path(site).glob("nasscan_plugin_test*")), site
        assert not list(Path(site).glob("__editable__*nasscan_plugin_test*")), site
