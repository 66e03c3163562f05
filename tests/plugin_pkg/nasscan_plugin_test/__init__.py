"""A third-party probe for tests: recognises only the test servers' own greeting.

It claims no port by default, so in real scans it never runs: it is picked only for a port that
greets with ``220 nasscan-plugin-test``. A greeting containing ``HANG`` makes it wait forever
(to test Ctrl-C and probe timeouts).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from scanner.models import Authentication, Finding, Kind, ProbeResult, ServiceInfo, Status
from scanner.probe import Probe, ProbeContext, not_applicable

MAGIC = b"220 nasscan-plugin-test"


class PluginTestProbe(Probe):
    name = "plugintest"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "test plug-in: reports servers greeting with '220 nasscan-plugin-test'"

    def matches_greeting(self, greeting: bytes) -> bool:
        return greeting.startswith(MAGIC)

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        try:
            async with ctx.dialer.tcp(service.host, service.port) as conn:
                greeting = await conn.recv_line()
        except (OSError, TimeoutError) as exc:
            return ProbeResult(status=Status.ERROR, detail=str(exc))
        if not greeting.startswith(MAGIC):
            return not_applicable()
        finding = Finding(
            host=service.host,
            port=service.port,
            protocol="plugintest",
            kind=Kind.UNAUTHENTICATED_ACCESS,
            authentication=Authentication.NONE,
            resource="test",
            title="plug-in test resource readable without authentication",
            evidence={"greeting": greeting.decode("latin-1").strip()[:80]},
            remediation="Nothing to fix: this is a test server.",
        )
        if b"HANG" in greeting:
            await asyncio.sleep(3600)
        return ProbeResult(status=Status.SUCCESS, protocol="plugintest", findings=[finding])


PROBE = PluginTestProbe()
