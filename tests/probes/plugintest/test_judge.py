"""The test plug-in's judge (the example probe of tests/plugin_pkg), facts built here, no server."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from scanner.models import Kind, ServiceInfo, Status
from scanner.probe_skeleton import Cut

pytestmark = pytest.mark.usefixtures("plugin_probe")
SERVICE = ServiceInfo(host="127.0.56.1", port=2121)


def _plugin() -> Any:
    return importlib.import_module("nasscan_plugin_test")


def test_greeting_is_an_open_resource() -> None:
    m = _plugin()
    facts = m.PluginFacts(SERVICE, greeting=b"220 nasscan-plugin-test ready\r\n")
    result = m.PROBE.judge(facts, None)
    assert result.status is Status.SUCCESS and result.protocol == "plugintest"
    (f,) = result.findings
    assert (f.kind, f.resource, f.host, f.port, f.probe) == (
        Kind.UNAUTHENTICATED_ACCESS, "test", "127.0.56.1", 2121, "plugintest")
    assert f.evidence == {"greeting": "220 nasscan-plugin-test ready"}


def test_cut_after_the_greeting_keeps_the_finding() -> None:
    m = _plugin()
    facts = m.PluginFacts(SERVICE, greeting=b"220 nasscan-plugin-test HANG\r\n", resource="r")
    result = m.PROBE.judge(facts, Cut(Status.TIMEOUT, "no plug-in test greeting in time"))
    assert result.status is Status.TIMEOUT and [f.resource for f in result.findings] == ["r"]


def test_cut_before_the_greeting_and_foreign_greetings() -> None:
    m = _plugin()
    cut = Cut(Status.REFUSED, "connection refused", "ConnectionRefusedError")
    assert m.PROBE.judge(m.PluginFacts(SERVICE), cut).status is Status.REFUSED
    other = m.PROBE.judge(m.PluginFacts(SERVICE, greeting=b"220 ProFTPD\r\n"), None)
    assert other.status is Status.NOT_APPLICABLE and not other.findings
