"""Which probe runs on an unclaimed port when several recognise it: the first one, unless it is
generic (HTTP: any web server); then only the probes that refine it are asked, and the first of
them that recognises the service runs instead. Probes here answer ``detect`` from a table: the
order and the traffic (which detections were asked) are what is tested; the real S3 and DLNA
cases are in tests/probes/s3/test_s3_unusual_port.py and tests/probes/dlna/test_hostile_dlna.py."""

from __future__ import annotations

import ipaddress
from typing import ClassVar

import pytest

from scanner.dialer import Dialer
from scanner.identify import _detect
from scanner.models import ProbeResult, ServiceInfo, Status
from scanner.probe import Probe, ProbeContext

ASKED: list[str] = []
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def probe(name: str, answers: bool, *, generic: bool = False, refines: str | None = None) -> Probe:
    class _P(Probe):
        default_ports: ClassVar[tuple[int, ...]] = ()
        description = "test"

        async def detect(self, service: ServiceInfo, ctx: ProbeContext) -> bool:
            ASKED.append(self.name)
            return answers

        async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
            return ProbeResult(status=Status.NOT_APPLICABLE)

    _P.name = name
    _P.generic = generic
    _P.refines = refines
    return _P()


@pytest.mark.parametrize(
    ("table", "chosen", "asked"),
    [
        # a specific probe first: it wins, nothing after it is asked
        ([("dlna", True, False, "http"), ("http", True, True, None)], ["dlna"], ["dlna"]),
        # the generic one first: only its refinements are asked after it; the first that
        # recognises the service wins
        ([("http", True, True, None), ("nfs", True, False, None), ("s3", True, False, "http"),
          ("smb", True, False, None)], ["s3"], ["http", "s3"]),
        # no refinement recognises it: the generic probe runs
        ([("dlna", False, False, "http"), ("http", True, True, None),
          ("s3", False, False, "http")], ["http"], ["dlna", "http", "s3"]),
        # nothing recognises it
        ([("ftp", False, False, None), ("http", False, True, None),
          ("s3", False, False, "http")], [], ["ftp", "http", "s3"]),
    ],
)  # fmt: skip
async def test_the_first_specific_probe_wins_and_a_generic_one_yields(
    table: list[tuple[str, bool, bool, str | None]], chosen: list[str], asked: list[str]
) -> None:
    probes = [probe(n, a, generic=g, refines=r) for n, a, g, r in table]
    ASKED.clear()
    d = Dialer(LOOPBACK, concurrency=4, per_host=2)
    try:
        got = await _detect(probes, ServiceInfo(host="127.0.0.1", port=1), ProbeContext(dialer=d),
                            1.0)  # fmt: skip
    finally:
        d.shutdown()
    assert [p.name for p in got] == chosen
    assert asked == ASKED
