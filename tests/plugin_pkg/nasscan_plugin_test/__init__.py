"""A third-party probe for tests, and the smallest example of a gather/judge probe.

It recognises only the test servers' own greeting. It claims no port by default, so in real scans
it never runs: it is picked only for a port that greets with ``220 nasscan-plugin-test``. A
greeting containing ``HANG`` makes it wait forever after reading the greeting (to test Ctrl-C and
probe timeouts): when the deadline hits, the base judges what was gathered, so the attempt ends
``timeout`` and still reports the finding the greeting proved.

The parts every probe has (see ``scanner/probe_skeleton.py`` and docs/architecture.md):

- ``PluginFacts``: what the server said, every field defaulted (``None``: not seen yet);
- ``gather``: the only code doing I/O (through ``ctx.dialer``), recording facts as it goes;
- ``judge``: pure, facts (and how gather stopped) to status and findings, unit-tested without
  a server;
- ``options``: the typed ``--probe-option plugintest.<name>=...`` the probe reads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar

from scanner.models import Authentication, ProbeResult, ServiceInfo, Status
from scanner.probe import ProbeContext, ProbeOption, not_applicable
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe

MAGIC = b"220 nasscan-plugin-test"


@dataclass
class PluginFacts(Facts):
    greeting: bytes | None = None
    """The first line the server sent (None: nothing read yet)."""
    resource: str = "test"
    """The resource named in the finding (option ``plugintest.resource``)."""


class PluginTestProbe(GatherJudgeProbe[PluginFacts]):
    name = "plugintest"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "test plug-in: reports servers greeting with '220 nasscan-plugin-test'"
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("resource", "str", "test", "the resource named in the finding"),
    )
    facts_type = PluginFacts
    timeout_detail = "no plug-in test greeting in time"

    def matches_greeting(self, greeting: bytes) -> bool:
        return greeting.startswith(MAGIC)

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> PluginFacts:
        return PluginFacts(service, resource=str(self.option(ctx, "resource")))

    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: PluginFacts, deadline: Deadline
    ) -> None:
        async with ctx.dialer.tcp(service.host, service.port) as conn:
            facts.greeting = await conn.recv_line()
        if b"HANG" in facts.greeting:
            await asyncio.sleep(3600)  # cut by the deadline: the greeting is still judged

    def judge(self, facts: PluginFacts, cut: Cut | None) -> ProbeResult:
        if facts.greeting is None:  # cut before the greeting: nothing was seen
            return cut.result() if cut else not_applicable("no greeting")
        if not facts.greeting.startswith(MAGIC):
            return not_applicable()
        finding = self.unauthenticated(
            facts, facts.resource, "plug-in test resource readable without authentication",
            authentication=Authentication.NONE,
            evidence={"greeting": facts.greeting.decode("latin-1").strip()[:80]},
            remediation="Nothing to fix: this is a test server.",
        )  # fmt: skip
        status = cut.status if cut else Status.SUCCESS
        return ProbeResult(status=status, protocol="plugintest", findings=[finding],
                           detail=cut.detail if cut else None)


PROBE = PluginTestProbe()
