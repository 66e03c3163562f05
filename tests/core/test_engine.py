"""The engine against listeners started here, on 127.0.55.x (loopback only).

Servers: a line-protocol server that greets, a server that accepts and never answers, a server
that waits for the client (HTTP-like), a UDP echo server; every other (host, port) is closed.
"""

from __future__ import annotations

import asyncio
import errno
import json
import ssl
import subprocess
import time
from pathlib import Path
from typing import ClassVar

import jsonschema
import pytest
from engine_fixtures import LineProbe, Listeners, claiming, options
from lab_fixtures import Lab as LabFixture

from scanner.engine import Engine
from scanner.models import (
    Finding,
    ProbeResult,
    ServiceInfo,
    Severity,
    Status,
    Transport,
)
from scanner.ports import PortSpec
from scanner.probe import Probe, ProbeContext, not_applicable
from scanner.report import schema as report_schema
from scanner.targets import build_scope

# -- test probes -------------------------------------------------------------------------------


class HttpishProbe(Probe):
    """Client-speaks-first detection on an unclaimed port."""

    name = "httpish"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "test client-first protocol"

    async def detect(self, service: ServiceInfo, ctx: ProbeContext) -> bool:
        async with ctx.dialer.tcp(service.host, service.port, tls=bool(service.tls)) as conn:
            await conn.send(b"GET / HTTP/1.0\r\n\r\n")
            return (await conn.recv(64)).startswith(b"HTTP/")

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        return ProbeResult(status=Status.SUCCESS, protocol="httpish", tls=bool(service.tls))


class HangProbe(Probe):
    name = "hang"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "never returns"

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


class RaiseProbe(Probe):
    name = "raise"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "raises"

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        raise RuntimeError("probe bug")


class EscapeProbe(Probe):
    """Tries to dial an address outside the scope (127.0.0.1, still loopback)."""

    name = "escape"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "dials out of scope"
    target: ClassVar[tuple[str, int]] = ("127.0.0.1", 0)

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        async with ctx.dialer.tcp(*self.target):
            pass
        return ProbeResult(status=Status.SUCCESS)


class FdProbe(Probe):
    name = "fd"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "always out of descriptors"
    calls = 0

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        FdProbe.calls += 1
        raise OSError(errno.EMFILE, "Too many open files")


class FanoutProbe(Probe):
    """Opens many connections to its host at once; records the dialer's per-host use."""

    name = "fanout"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "parallel connections"
    max_in_use = 0

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        async def one() -> None:
            async with ctx.dialer.tcp(service.host, service.port) as conn:
                FanoutProbe.max_in_use = max(
                    FanoutProbe.max_in_use, ctx.dialer.in_use(service.host)
                )
                await conn.recv_line()
                await asyncio.sleep(0.05)

        await asyncio.gather(*(one() for _ in range(8)))
        return ProbeResult(status=Status.SUCCESS)


class UdpEchoProbe(Probe):
    name = "udpecho"
    default_ports: ClassVar[tuple[int, ...]] = ()
    transport = Transport.UDP
    description = "UDP echo"

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        async with ctx.dialer.udp(service.host, service.port) as stream:
            await stream.send(b"ping")
            try:
                data, _ = await asyncio.wait_for(stream.recv(), 0.5)
            except (TimeoutError, ConnectionError, OSError):
                return ProbeResult(status=Status.TIMEOUT)
        if data == b"echo:ping":
            return ProbeResult(status=Status.SUCCESS, protocol="udpecho")
        return ProbeResult(status=Status.PROTOCOL_ERROR)


# -- tests -----------------------------------------------------------------------------------


async def test_discovery_finds_exactly_the_open_ports(net: Listeners) -> None:
    scope = await build_scope(["127.0.55.0/28"])
    engine = Engine(scope, options(PortSpec.of(net.tcp_ports), []))
    report = await engine.run()
    found = {(s.host, s.port) for s in report.services}
    assert found == {net.greeter, net.silent, net.http, net.claimed}
    assert all(s.probes == {} for s in report.services)
    assert engine.sweep_stats is not None
    assert engine.sweep_stats.attempted == 16 * len(net.tcp_ports)
    assert engine.sweep_stats.open == 4
    assert report.findings == [] and report.errors == [] and not report.aborted
    assert net.accepts.get(net.outside, 0) == 0


async def test_probe_stage_identifies_probes_and_survives_bad_probes(net: Listeners) -> None:
    scope = await build_scope(["127.0.55.1-4"])
    streamed: list[Finding] = []
    probes: list[Probe] = [
        LineProbe(),
        HttpishProbe(),
        claiming(HangProbe, net.silent[1]),
        claiming(RaiseProbe, net.claimed[1]),
    ]
    engine = Engine(
        scope,
        options(PortSpec.of(net.tcp_ports), probes, probe_timeout=0.5),
        on_finding=streamed.append,
    )
    t0 = time.monotonic()
    report = await engine.run()
    assert time.monotonic() - t0 < 10
    by = {(s.host, s.port): s for s in report.services}
    # unclaimed port, server speaks first: identified from the greeting
    greeter = by[net.greeter]
    assert greeter.probes == {"line": Status.SUCCESS}
    assert greeter.protocol == "line"
    assert greeter.banner is not None and greeter.banner.startswith("220 nasscan-test")
    # unclaimed port, client speaks first: found by detect()
    assert by[net.http].probes == {"httpish": Status.SUCCESS}
    assert by[net.http].protocol == "httpish"
    # a hanging probe is cut off, a raising one becomes an error; the scan goes on
    assert by[net.silent].probes["hang"] == Status.TIMEOUT
    assert "cut off" in by[net.silent].details["hang"]
    assert by[net.claimed].probes["raise"] == Status.ERROR
    assert "probe bug" in by[net.claimed].details["raise"]
    # the finding went through triage and was streamed as found
    assert [f.id for f in streamed] == [f.id for f in report.findings]
    (finding,) = report.findings
    assert finding.host == net.greeter[0] and finding.port == net.greeter[1]
    assert finding.probe == "line"
    assert finding.severity != Severity.INFO  # triage assigned a real severity
    assert finding.evidence["reply"] == "200 LIST"


async def test_out_of_scope_dial_is_refused_and_recorded(net: Listeners) -> None:
    scope = await build_scope(["127.0.55.0/24"])
    probe = claiming(EscapeProbe, net.greeter[1])
    type(probe).target = net.outside  # type: ignore[attr-defined]
    engine = Engine(scope, options(PortSpec.of([net.greeter[1]]), [probe]))
    report = await engine.run()
    (svc,) = [s for s in report.services if (s.host, s.port) == net.greeter]
    assert svc.probes["escape"] == Status.ERROR
    assert "outside the scan scope" in svc.details["escape"]
    assert any("outside the scan scope" in e for e in report.errors)
    assert engine.dialer is not None and engine.dialer.refused_out_of_scope == 1
    assert net.accepts.get(net.outside, 0) == 0
    assert not report.aborted


async def test_per_host_cap_holds(net: Listeners) -> None:
    FanoutProbe.max_in_use = 0
    scope = await build_scope([net.greeter[0]])
    probe = claiming(FanoutProbe, net.greeter[1])
    engine = Engine(scope, options(PortSpec.of([net.greeter[1]]), [probe], per_host=3))
    report = await engine.run()
    assert report.services[0].probes["fanout"] == Status.SUCCESS
    assert FanoutProbe.max_in_use == 3  # reached, never exceeded
    assert engine.dialer is not None and engine.dialer.dials == 8


async def test_rate_holds_for_sweep_and_probes(net: Listeners) -> None:
    scope = await build_scope([net.greeter[0]])
    probe = claiming(FanoutProbe, net.greeter[1])
    rate = 20.0
    # 1 sweep connect + 8 probe dials at 20/s with a burst of 2: at least (9 - 2) / 20 s
    engine = Engine(scope, options(PortSpec.of([net.greeter[1]]), [probe], rate=rate))
    t0 = time.monotonic()
    report = await engine.run()
    elapsed = time.monotonic() - t0
    assert report.services[0].probes["fanout"] == Status.SUCCESS
    assert engine.dialer is not None and engine.dialer.dials == 8
    assert elapsed >= (9 - 2) / rate * 0.9
    # the probe's own connections, seen by the server, never exceed rate + burst per second
    probe_times = sorted(net.accept_times)[-8:]
    for i, t in enumerate(probe_times):
        in_window = [x for x in probe_times[i:] if x - t < 0.5]
        assert len(in_window) <= rate * 0.5 + 2


async def test_resource_errors_are_scan_errors_not_results(net: Listeners) -> None:
    FdProbe.calls = 0
    scope = await build_scope([net.greeter[0]])
    probe = claiming(FdProbe, net.greeter[1])
    engine = Engine(scope, options(PortSpec.of([net.greeter[1]]), [probe], retries=2))
    report = await engine.run()
    assert FdProbe.calls == 3  # retried
    assert report.services[0].probes["fd"] == Status.ERROR
    assert any("resource error" in e for e in report.errors)


async def test_udp_ports_go_straight_to_claiming_probes(net: Listeners) -> None:
    scope = await build_scope(["127.0.55.5-6"])
    probe = claiming(UdpEchoProbe, net.udp[1])
    engine = Engine(scope, options(PortSpec.of([], [net.udp[1]]), [probe]))
    report = await engine.run()
    assert [(s.host, s.port, s.transport) for s in report.services] == [
        (net.udp[0], net.udp[1], Transport.UDP)
    ]
    assert report.services[0].probes == {"udpecho": Status.SUCCESS}
    assert report.scope["udp_attempts"] == 2


async def test_abort_returns_partial_report(net: Listeners) -> None:
    scope = await build_scope(["127.0.55.1-2"])
    probes: list[Probe] = [LineProbe(), claiming(HangProbe, net.silent[1])]
    engine = Engine(
        scope, options(PortSpec.of([net.greeter[1], net.silent[1]]), probes, probe_timeout=60)
    )
    task = asyncio.create_task(engine.run())
    for _ in range(100):
        if engine.report.findings:
            break
        await asyncio.sleep(0.05)
    engine.abort()
    report = await asyncio.wait_for(task, 5)
    assert report.aborted
    assert len(report.findings) == 1  # the line finding made before the abort is kept
    assert report.finished_at is not None


async def test_hostname_targets_keep_their_name(net: Listeners) -> None:
    scope = await build_scope(["localhost"])
    engine = Engine(scope, options(PortSpec.of([net.outside[1]]), [LineProbe()]))
    report = await engine.run()
    svc = next(s for s in report.services if s.host == "127.0.0.1")
    assert svc.hostname == "localhost"
    assert report.scope["hostnames"]["127.0.0.1"] == "localhost"
    (finding,) = [f for f in report.findings if f.host == "127.0.0.1"]
    assert finding.hostname == "localhost"  # the finding keeps both name and address


async def test_silent_tls_port_is_identified_after_a_handshake(tmp_path: Path) -> None:
    """An unclaimed port that waits for the client and speaks only TLS: identify() tries a TLS
    handshake and asks the probes' detect() again with tls=True."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=nasscan-test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ssl_ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if (await asyncio.wait_for(reader.read(1024), 5)).startswith(b"GET "):
                writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (TimeoutError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.55.9", 0, ssl=ssl_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        scope = await build_scope(["127.0.55.9"])
        report = await Engine(scope, options(PortSpec.of([port]), [HttpishProbe()])).run()
    finally:
        server.close()
        await server.wait_closed()
    (svc,) = report.services
    assert svc.probes == {"httpish": Status.SUCCESS}
    assert svc.tls is True and svc.banner is None


async def test_progress_display_draws_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from scanner.report.progress import ProgressSnapshot, progress_display

    snap = ProgressSnapshot(done=250, total=1000, open=3, handled=1, findings=2, sweep_done=False)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=160)
    async with progress_display(lambda: snap, enabled=True, console=console):
        await asyncio.sleep(0.3)
    text = buf.getvalue()
    assert " 25.0% (250/1,000 pairs)" in text and "ETA" in text
    assert "3 open" in text and "2 findings" in text
    quiet = io.StringIO()
    async with progress_display(
        lambda: snap, enabled=False, console=Console(file=quiet, force_terminal=True)
    ):
        await asyncio.sleep(0.05)
    assert quiet.getvalue() == ""


async def test_progress_lines_when_stderr_is_not_a_terminal() -> None:
    """-v without a terminal: plain lines at a fixed interval (a minute in the CLI)."""
    import io

    from rich.console import Console

    from scanner.report.progress import ProgressSnapshot, progress_display

    done = [0]

    def snapshot() -> ProgressSnapshot:
        done[0] += 100
        return ProgressSnapshot(done[0], 10_000, 1, 0, 0, False)

    buf = io.StringIO()
    async with progress_display(snapshot, enabled=True, console=Console(file=buf, width=200),
                                line_every=0.1):
        await asyncio.sleep(0.55)
    lines = buf.getvalue().splitlines()
    assert 3 <= len(lines) <= 6, lines
    assert all(line.startswith("nasscan: sweep ") and "ETA " in line for line in lines)
    assert "\x1b" not in buf.getvalue()  # no terminal control codes in a log


def test_progress_text_rate_and_eta() -> None:
    from scanner.report.progress import ProgressSnapshot, RateMeter, progress_text

    meter = RateMeter(window=20)
    meter.add(0.0, 0)
    rate = meter.add(10.0, 360_000)  # 36,000 pairs/s
    snap = ProgressSnapshot(360_000, 1_440_000, 12, 10, 4, False)
    text = progress_text(snap, rate, 10.0)
    assert text.startswith("sweep  25.0% (360,000/1,440,000 pairs), 36,000/s, ETA 30s;")
    assert "12 open" in text and "4 findings" in text
    done = progress_text(ProgressSnapshot(1_440_000, 1_440_000, 12, 10, 4, True), rate, 50)
    assert "sweep done" in done and "2 ports left" in done


async def test_ipv6_loopback_is_swept() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "::1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        scope = await build_scope(["::1"])
        report = await Engine(scope, options(PortSpec.of([port, port + 1]), [])).run()
    finally:
        server.close()
        await server.wait_closed()
    assert [(s.host, s.port) for s in report.services] == [("::1", port)]


async def test_scan_targets_api(net: Listeners) -> None:
    from scanner.engine import ScopeNeedsConfirmation, scan_targets

    report = await scan_targets(
        ["127.0.55.0/29"],
        exclude=["127.0.55.2"],
        ports=",".join(str(p) for p in net.tcp_ports),
        probes="none",
        connect_timeout=0.5,
        processes=1,
    )
    assert {(s.host, s.port) for s in report.services} == {net.greeter, net.http, net.claimed}
    with pytest.raises(ScopeNeedsConfirmation, match="public"):
        await scan_targets(["8.8.8.8"], probes="none")  # refused before anything is sent


class NotMineProbe(Probe):
    name = "notmine"
    default_ports: ClassVar[tuple[int, ...]] = ()
    description = "claims a port, then says it is not its protocol"

    async def run(self, service: ServiceInfo, ctx: ProbeContext) -> ProbeResult:
        return not_applicable("not my protocol")


async def test_claimed_port_that_is_not_the_claimers_is_identified(net: Listeners) -> None:
    """A probe claims the port by number but says 'not mine': greeting detection takes over."""
    scope = await build_scope([net.greeter[0]])
    probes: list[Probe] = [claiming(NotMineProbe, net.greeter[1]), LineProbe()]
    report = await Engine(scope, options(PortSpec.of([net.greeter[1]]), probes)).run()
    (svc,) = report.services
    assert svc.probes == {"notmine": Status.NOT_APPLICABLE, "line": Status.SUCCESS}
    assert svc.protocol == "line" and len(report.findings) == 1


# -- the whole job against the lab's real daemons ------------------------------------------------


@pytest.mark.lab
def test_full_scan_of_the_lab_matches_the_manifest(
    lab: LabFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nasscan scan 127.0.10.0/24` (plus the manifest's non-standard ports, e.g. FTP on 2121
    found by its greeting) reports every expected finding and no forbidden one."""
    from scanner.cli import main
    from scanner.lab import manifest

    tcp = sorted({t.port for t in lab.manifest.targets if t.transport == "tcp"})
    udp = sorted({t.port for t in lab.manifest.targets if t.transport == "udp"})
    ports = ",".join(str(p) for p in tcp) + "".join(f",U:{p}" for p in udp)
    out = tmp_path / "lab.json"
    code = main(["scan", "127.0.10.0/24", "-p", ports, "--format", "json", "-o", str(out), "-q"])
    capsys.readouterr()
    assert code == 1  # the lab is full of high and critical findings
    data = json.loads(out.read_text())
    jsonschema.validate(data, report_schema.load())
    assert data["errors"] == [] and not data["aborted"]
    problems = manifest.check(lab.manifest, data["findings"], data["services"])
    assert problems == []
    # the 1177 server: plain HTTP on 443 is identified as HTTP, not TLS
    svc = next(s for s in data["services"] if (s["host"], s["port"]) == ("127.0.10.21", 443))
    assert svc["protocol"] == "http" and svc["tls"] is False
