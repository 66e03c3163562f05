"""The scan engine: sweep, identify, probe, triage, report.

Data flow::

    TargetSpace --(Sweeper: TCP connect sweep, permuted, sharded)--> found(host, port)
        --> queue --> probe workers --> probes claiming the port, or identify.py for the rest
        --> ProbeResult per probe --> Service (statuses) + findings --> triage_finding()
        --> sinks (jsonl stream, progress) and the Report

The sweep and the probe stage run at the same time: open ports are queued as soon as the sweep
sees them. UDP ports are not swept; each (host, UDP port) goes straight to the probes that claim
it as one probe attempt. Every connection a probe opens goes through one ``Dialer`` (scope,
global rate, concurrency, per-host cap, timeouts); the sweep shares the dialer's rate limiter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from scanner import __version__
from scanner.dialer import Dialer, OutOfScopeError
from scanner.identify import Identification, ResourceError, identify, is_resource_error
from scanner.limits import Budget, available_memory, raise_nofile, size_concurrency
from scanner.models import (
    Finding,
    ProbeResult,
    Report,
    ScannerInfo,
    Service,
    ServiceInfo,
    Status,
    Transport,
    finding_order,
    host_order,
    utcnow,
)
from scanner.pacing import Liveness
from scanner.ports import PortSpec
from scanner.probe import ListingBounds, Probe, ProbeContext
from scanner.sweep import PairSlice, Sweeper, default_processes
from scanner.sweep_types import PairSpace, SweepConfig, SweepStats
from scanner.targets import Scope, TargetSpace
from scanner.triage import triage_finding
from scanner.udpsweep import UdpPrepass

log = logging.getLogger("nasscan.engine")

FindingSink = Callable[[Finding], None]
ServiceSink = Callable[[Service], None]

_UDP_ANSWERED = {Status.SUCCESS, Status.AUTH_REQUIRED, Status.PROTOCOL_ERROR}
_SMALL_SPACE = 20_000
"""Below this many pairs one sweep process is enough."""
SAMPLE_PAIRS = 4096
"""Pairs swept with connect() before ``sweep="auto"`` chooses between raw SYN and connect."""
SPARSE = 0.5
"""Fraction of unanswered sample pairs from which a scope counts as sparse (raw SYN wins)."""


@dataclass
class ScanOptions:
    """Everything the engine needs besides the scope; the CLI fills it from its flags."""

    ports: PortSpec
    probes: list[Probe]
    seed: int = 0
    shard: tuple[int, int] = (0, 1)
    concurrency: int | None = None
    """Sweep connections in flight (None: sized from the descriptor limit)."""
    rate: float | None = None
    """New connections per second, sweep and probes together (None: unlimited)."""
    connect_timeout: float = 1.0
    read_timeout: float = 5.0
    retries: int = 1
    sweep: str = "auto"
    """``connect``, ``syn`` (raw SYN: root, IPv4) or ``auto``: as root on an IPv4 scope large
    enough to sample, the first ``SAMPLE_PAIRS`` pairs are swept with connect(); if most of
    them went unanswered (a sparse scope) the rest is swept with raw SYNs, else with connect()."""
    liveness: bool = True
    """Retries only for hosts that answered or are not yet judged; UDP probes only to hosts
    the sweep found alive (``--no-liveness`` turns both off)."""
    probe_timeout: float = 60.0
    per_host: int = 8
    processes: int | None = None
    """Sweep processes (None: one per core for big scans, one for small ones)."""
    greeting_timeout: float = 2.0
    bounds: ListingBounds = field(default_factory=ListingBounds)
    sample_bytes: int = 0
    probe_options: dict[str, Any] = field(default_factory=dict)
    rules: str | None = None
    """``--rules FILE`` as given (recorded in the report's scope)."""
    rule_set: Any = None
    """The loaded ``scanner.classify.rules.RuleSet`` for triage (None: packaged defaults)."""


@dataclass
class ResumeState:
    """The checkpoint of an interrupted scan: finished services are not probed again, and
    when its sweep had finished, the ports it queued are probed without sweeping again."""

    done: set[tuple[str, int, Transport]] = field(default_factory=set)
    services: list[Service] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    queued: list[tuple[str, int, Transport]] = field(default_factory=list)
    """Every (host, port, transport) the interrupted scan had queued for probing."""
    sweep_done: bool = False
    """The interrupted scan's sweep and UDP feed had completed: ``queued`` is the whole work."""

    @classmethod
    def of(
        cls,
        services: list[Service],
        findings: list[Finding],
        queued: list[tuple[str, int, Transport]] | None = None,
        sweep_done: bool = False,
    ) -> ResumeState:
        return cls(
            done={(s.host, s.port, s.transport) for s in services},
            services=list(services),
            findings=list(findings),
            queued=list(queued or []),
            sweep_done=sweep_done,
        )


@dataclass
class Progress:
    """Live counters for the progress display."""

    pairs: int = 0
    open: int = 0
    probed: int = 0
    findings: int = 0
    sweep_done: bool = False


class Engine:
    """Runs one scan over ``scope`` with ``options``; ``run()`` returns the ``Report``."""

    def __init__(
        self,
        scope: Scope,
        options: ScanOptions,
        *,
        on_finding: FindingSink | None = None,
        on_service: ServiceSink | None = None,
        resume: ResumeState | None = None,
    ) -> None:
        self.scope = scope
        self.options = options
        self.on_finding = on_finding
        self.on_service = on_service
        self.tcp_space = TargetSpace(scope, options.ports.tcp)
        self.udp_ports = [
            p
            for p in options.ports.udp
            if any(pr.claims_port(p, Transport.UDP) for pr in options.probes)
        ]
        self.udp_space = TargetSpace(scope, self.udp_ports)
        self.progress = Progress(pairs=len(self.tcp_space) + len(self.udp_space))
        self.report = Report(scanner=ScannerInfo(version=__version__), started_at=utcnow())
        self.dialer: Dialer | None = None
        self.sweep_stats: SweepStats | None = None
        self.alive_hosts: set[str] = set()
        """Hosts that answered anything in the sweep (SYN-ACK, RST, ICMP error)."""
        self._sweep_finished = asyncio.Event()
        self.sweep_failed = False
        self.sweeper: Sweeper | None = None
        """The sweep running now (progress reads its live count)."""
        self._swept_before = 0
        """Pairs attempted by sweeps that have finished (the sample before the main sweep)."""
        self._abort = asyncio.Event()
        self._seen_findings: set[str] = set()
        self._services: dict[tuple[str, int, Transport], Service] = {}
        self._done: set[tuple[str, int, Transport]] = set()
        self.resume = resume
        self.on_queued: Callable[[str, int, Transport], None] | None = None
        """Checkpoint sink: a (host, port, transport) was queued for probing."""
        self.on_sweep_done: Callable[[], None] | None = None
        """Checkpoint sink: the sweep and the UDP feed have queued everything."""
        if resume is not None:
            self._done = set(resume.done)
            for svc in resume.services:
                self._services[(svc.host, svc.port, svc.transport)] = svc
            for finding in resume.findings:
                if finding.id not in self._seen_findings:
                    self._seen_findings.add(finding.id)
                    self.report.findings.append(finding)

    @property
    def swept(self) -> int:
        """TCP host-port pairs tried so far, plus UDP attempts fed (all of them once done)."""
        if self.progress.sweep_done:
            return self.progress.pairs
        live = self.sweeper.attempted if self.sweeper is not None else 0
        return self._swept_before + live

    # -- control ------------------------------------------------------------------------------
    def abort(self) -> None:
        """Stop the scan soon; ``run`` returns the partial report with ``aborted`` set."""
        self._abort.set()

    @property
    def discovery_only(self) -> bool:
        return not self.options.probes

    def _budget(self, processes: int) -> Budget:
        soft, _hard = raise_nofile()
        return size_concurrency(
            self.options.concurrency, soft, processes=processes, memory=available_memory()
        )

    def _scope_info(self, budget: Budget, processes: int) -> dict[str, Any]:
        o = self.options
        described = self.scope.describe()
        info: dict[str, Any] = {
            "targets": self.scope.targets,
            "exclusions": self.scope.exclusions,
            "addresses": described[:100],
            "hosts": self.scope.size,
            "ports": str(o.ports),
            "probes": [p.name for p in o.probes],
            "pairs": len(self.tcp_space),
            "udp_attempts": len(self.udp_space),
            "seed": o.seed,
            "shard": f"{o.shard[0] + 1}/{o.shard[1]}",
            "concurrency": budget.sweep,
            "rate": o.rate,
            "connect_timeout": o.connect_timeout,
            "retries": o.retries,
            "liveness": o.liveness,
            "sweep": o.sweep,
            "sweep_processes": processes,
            "fd_limit": budget.soft_limit,
        }
        if len(described) > 100:
            info["addresses_truncated"] = True
        if self.scope.unresolved:
            info["unresolved"] = list(self.scope.unresolved)
        if self.scope.hostnames:
            info["hostnames"] = dict(sorted(self.scope.hostnames.items()))
        unclaimed = sorted(set(o.ports.udp) - set(self.udp_ports))
        if unclaimed and o.probes:
            info["notes"] = [
                "UDP ports are only probed by probes that claim them; none claims "
                + ",".join(str(p) for p in unclaimed)
            ]
        if o.rules:
            info["rules"] = o.rules
        if o.sample_bytes:
            info["sample_bytes"] = o.sample_bytes
        return info

    # -- the scan -------------------------------------------------------------------------------
    async def run(self) -> Report:
        o = self.options
        processes = o.processes or (
            1 if len(self.tcp_space) < _SMALL_SPACE or o.rate else default_processes()
        )
        budget = self._budget(processes)
        self.report.scope = self._scope_info(budget, processes)
        for name in self.scope.unresolved:  # skipped targets: a warning, the scan goes on
            message = f"cannot resolve hostname {name!r}: target skipped"
            if message not in self.report.errors:
                log.warning("%s", message)
                self.report.errors.append(message)
        dialer = self.dialer = Dialer(
            self.scope,
            rate=o.rate,
            concurrency=budget.probes,
            per_host=o.per_host,
            connect_timeout=max(o.connect_timeout, 1.0),
            read_timeout=o.read_timeout,
        )
        self.ctx = ProbeContext(
            dialer=dialer,
            bounds=o.bounds,
            timeout=o.probe_timeout,
            options={"seed": o.seed, **o.probe_options},
            intrusive=frozenset({"sample-bytes"}) if o.sample_bytes > 0 else frozenset(),
            sample_bytes=o.sample_bytes,
        )
        queue: asyncio.Queue[tuple[str, int, Transport]] = asyncio.Queue()
        udp_queue: asyncio.Queue[tuple[str, int, Transport]] = asyncio.Queue()
        n_workers = max(1, min(budget.probes // 2, 64))
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(n_workers)]
        # UDP attempts mostly wait for silence: their own, wider pool keeps TCP probes moving.
        if len(self.udp_space):
            n_udp = max(1, min(512, budget.probes * 4, len(self.udp_space)))
            workers += [asyncio.create_task(self._worker(udp_queue)) for _ in range(n_udp)]

        def found(host: str, port: int) -> None:
            self.progress.open += 1
            queue.put_nowait((host, port, Transport.TCP))
            if self.on_queued is not None:
                self.on_queued(host, port, Transport.TCP)

        sweep_cfg = SweepConfig(
            concurrency=budget.sweep,
            connect_timeout=o.connect_timeout,
            retries=o.retries,
            rate=o.rate,
            processes=processes,
            liveness=o.liveness,
        )
        if self.resume is not None and self.resume.sweep_done:
            # The interrupted scan had swept everything: probe what it queued, sweep nothing.
            self.report.scope["resumed_without_sweep"] = True
            feeders = [asyncio.create_task(self._requeue(self.resume, queue, udp_queue))]
        else:
            feeders = [
                asyncio.create_task(self._sweep(sweep_cfg, found)),
                asyncio.create_task(self._udp_feed(udp_queue)),
            ]
        aborter = asyncio.create_task(self._abort.wait())
        try:
            pending: set[asyncio.Future[Any]] = set(feeders)
            while pending and not self._abort.is_set():
                _done, pending = await asyncio.wait(
                    pending | {aborter}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(aborter)
            self.progress.sweep_done = True
            if not self._abort.is_set() and self.on_sweep_done is not None:
                self.on_sweep_done()
            if not self._abort.is_set():
                joiner = asyncio.create_task(_join(queue, udp_queue))
                await asyncio.wait({joiner, aborter}, return_when=asyncio.FIRST_COMPLETED)
                joiner.cancel()
        finally:
            aborted = self._abort.is_set()
            for task in [*feeders, *workers, aborter]:
                task.cancel()
            await asyncio.gather(*feeders, *workers, aborter, return_exceptions=True)
            dialer.shutdown()
            self._finish(aborted)
        return self.report

    async def _sweep(self, cfg: SweepConfig, found: Callable[[str, int], None]) -> None:
        try:
            await self._sweep_tcp(cfg, found)
        finally:
            self._sweep_finished.set()

    def _syn_possible(self) -> bool:
        from scanner import synscan

        return all(iv.version == 4 for iv in self.scope.intervals) and synscan.available()

    async def _run_sweep(
        self, cfg: SweepConfig, space: PairSpace, found: Callable[[str, int], None]
    ) -> SweepStats:
        assert self.dialer is not None
        limiter = self.dialer.rate if cfg.processes == 1 else None
        o = self.options
        sweeper = self.sweeper = Sweeper(cfg, limiter=limiter)
        stats = await sweeper.run(space, o.seed, o.shard, found, alive=self.alive_hosts.add)
        self.sweeper = None
        self._swept_before += stats.attempted
        return stats

    async def _sweep_modes(
        self, cfg: SweepConfig, found: Callable[[str, int], None]
    ) -> SweepStats:
        o = self.options
        scope = self.report.scope
        mode = o.sweep
        if mode == "syn" and not self._syn_possible():
            raise RuntimeError("raw-SYN sweep needs root (CAP_NET_RAW) and an IPv4-only scope")
        if mode == "auto":
            n = len(self.tcp_space) // o.shard[1]
            if n < 4 * SAMPLE_PAIRS or not self._syn_possible():
                mode = "connect"
        if mode != "auto":
            scope["sweep_mode"] = mode
            return await self._run_sweep(replace(cfg, syn=mode == "syn"), self.tcp_space, found)
        sample = PairSlice(self.tcp_space, o.shard, 0, SAMPLE_PAIRS)
        first = await self._run_sweep(replace(cfg, processes=1), sample, found)
        silent = first.timeouts / max(1, first.attempted)
        syn = silent >= SPARSE
        scope["sweep_mode"] = "syn" if syn else "connect"
        scope["sweep_sample"] = {"pairs": first.attempted, "unanswered": first.timeouts}
        rest = PairSlice(self.tcp_space, o.shard, SAMPLE_PAIRS)
        stats = await self._run_sweep(replace(cfg, syn=syn), rest, found)
        stats.add(first)
        return stats

    async def _sweep_tcp(self, cfg: SweepConfig, found: Callable[[str, int], None]) -> None:
        if not len(self.tcp_space):
            return
        try:
            stats = await self._sweep_modes(cfg, found)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.report.errors.append(f"sweep failed: {exc}")
            log.error("sweep failed: %s", exc)
            self.sweep_failed = True
            return
        self.sweep_stats = stats
        if stats.unresolved:
            self.report.errors.append(
                f"{stats.unresolved} host-port pairs could not be tried: the scanner ran out "
                f"of local resources ({stats.resource_errors} resource errors); "
                "lower --concurrency or raise the file-descriptor limit"
            )

    def _udp_to_alive_only(self) -> bool:
        """UDP goes only to hosts the TCP sweep saw alive: with liveness on, a TCP sweep to
        judge by, and that sweep having completed (a failed or incomplete sweep judges nobody)."""
        stats = self.sweep_stats
        return (
            self.options.liveness
            and bool(len(self.tcp_space))
            and stats is not None
            and stats.complete
            and not self.sweep_failed
        )

    def _udp_payloads(self) -> dict[int, bytes]:
        """UDP ports whose claiming probes all have a first datagram: they get the pre-pass."""
        out: dict[int, bytes] = {}
        for port in self.udp_ports:
            claimers = [p for p in self.options.probes if p.claims_port(port, Transport.UDP)]
            payloads = [p.udp_payload(port) for p in claimers]
            first = payloads[0] if payloads else None
            if first is not None and all(x is not None for x in payloads):
                out[port] = first
        return out

    async def _udp_feed(self, queue: asyncio.Queue[tuple[str, int, Transport]]) -> None:
        """UDP pairs to the UDP probes. Who gets them (with liveness on): after a complete TCP
        sweep, only the hosts it saw alive; in a UDP-only scan, the pre-pass (every address of
        the ports whose probes have a first datagram) is the sweep, and the other UDP probes go
        only to the hosts it found alive (a datagram or an ICMP port unreachable came back);
        with neither, every address."""
        if not len(self.udp_space):
            return
        if self.options.liveness and len(self.tcp_space):
            await self._sweep_finished.wait()
        alive_only = self._udp_to_alive_only()
        judge: set[str] | None = self.alive_hosts if alive_only else None
        skipped = [0]
        seed, shard = self.options.seed, self.options.shard

        def pairs(prepass: bool) -> Iterator[tuple[str, int]]:
            for host, port in self.udp_space.iter_pairs(seed, shard):
                if (port in payloads) != prepass:
                    continue
                if judge is not None and host not in judge:
                    skipped[0] += 1
                    continue
                yield host, port

        def enqueue(host: str, port: int) -> None:
            queue.put_nowait((host, port, Transport.UDP))
            if self.on_queued is not None:
                self.on_queued(host, port, Transport.UDP)

        payloads = self._udp_payloads()
        self.report.scope["udp_judge"] = "tcp-sweep" if alive_only else "none"
        if payloads:
            assert self.dialer is not None
            liveness = Liveness(enabled=self.options.liveness)
            for host in self.alive_hosts if alive_only else ():
                liveness.answered(host)  # seen alive by the TCP sweep: they keep their retries
            prepass = UdpPrepass(
                self.dialer.check,
                self.dialer.rate,
                timeout=min(3.0, self.options.read_timeout),
                retries=self.options.retries,
                liveness=liveness,
            )
            stats = await prepass.run(pairs(True), lambda port: payloads[port], enqueue)
            self.report.scope["udp"] = asdict(stats)
            if judge is None and self.options.liveness and not len(self.tcp_space):
                judge = prepass.alive_hosts()  # a UDP-only scan: the pre-pass judges
                self.report.scope["udp_judge"] = "udp-prepass"
                self.report.scope["udp_alive_hosts"] = len(judge)
        for host, port in pairs(False):
            while queue.qsize() > 512:
                await asyncio.sleep(0.01)
            enqueue(host, port)
            await asyncio.sleep(0)
        if judge is not None:
            self.report.scope["udp_skipped_silent"] = skipped[0]

    async def _requeue(
        self,
        resume: ResumeState,
        queue: asyncio.Queue[tuple[str, int, Transport]],
        udp_queue: asyncio.Queue[tuple[str, int, Transport]],
    ) -> None:
        for host, port, transport in resume.queued:
            if (host, port, transport) in self._done:
                continue
            if transport == Transport.UDP:
                udp_queue.put_nowait((host, port, transport))
            else:
                self.progress.open += 1
                queue.put_nowait((host, port, transport))
            if self.on_queued is not None:
                self.on_queued(host, port, transport)
        await asyncio.sleep(0)

    async def _worker(self, queue: asyncio.Queue[tuple[str, int, Transport]]) -> None:
        while True:
            host, port, transport = await queue.get()
            try:
                if (host, port, transport) in self._done:
                    pass  # finished before the scan was interrupted (--resume)
                elif transport == Transport.UDP:
                    await self._probe_udp(host, port)
                else:
                    await self._probe_tcp(host, port)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the engine's own bug must not stop the scan
                log.exception("internal error on %s:%s", host, port)
                self.report.errors.append(f"internal error on {host}:{port}: {exc!r}")
            finally:
                self.progress.probed += 1
                queue.task_done()

    # -- per service ------------------------------------------------------------------------------
    def _service(self, host: str, port: int, transport: Transport) -> Service:
        key = (host, port, transport)
        svc = self._services.get(key)
        if svc is None:
            svc = self._services[key] = Service(
                host=host,
                hostname=self.scope.hostname_for(host),
                port=port,
                transport=transport,
            )
        return svc

    async def _probe_tcp(self, host: str, port: int) -> None:
        service = self._service(host, port, Transport.TCP)
        info = ServiceInfo(host=host, hostname=service.hostname, port=port, transport=Transport.TCP)
        if self.discovery_only:
            self._emit_service(service)
            return
        ctx = self.ctx.for_service()  # the probes of this service share its HTTP answers
        claimed = [p for p in self.options.probes if p.claims_port(port, Transport.TCP)]
        for probe in claimed:
            result = await self._run_probe(probe, info, service, ctx)
            self._record(service, probe, result)
        if claimed and any(st != Status.NOT_APPLICABLE for st in service.probes.values()):
            self._emit_service(service)
            return
        # Nobody claims the port, or every claiming probe said "not mine": identify it.
        others = [p for p in self.options.probes if p not in claimed]
        if others:
            ident = await self._identify(info, service, others, ctx)
            if ident is not None:
                for probe in ident.probes:
                    result = await self._run_probe(probe, ident.service, service, ctx)
                    self._record(service, probe, result)
        self._emit_service(service)

    async def _identify(
        self, info: ServiceInfo, service: Service, probes: list[Probe], ctx: ProbeContext
    ) -> Identification | None:
        try:
            ident = await identify(
                info,
                probes,
                ctx,
                greeting_timeout=self.options.greeting_timeout,
                detect_timeout=min(self.options.probe_timeout, 10.0),
            )
        except OutOfScopeError as exc:
            self._scan_error(service, "identify", Status.ERROR, str(exc))
            return None
        except ResourceError as exc:
            self._scan_error(service, "identify", Status.ERROR, f"resource error: {exc}")
            return None
        if ident.service.greeting:
            service.banner = _banner(ident.service.greeting)
        if ident.service.tls is not None:
            service.tls = ident.service.tls
        if ident.note:
            service.details["identify"] = ident.note
        return ident

    async def _probe_udp(self, host: str, port: int) -> None:
        hostname = self.scope.hostname_for(host)
        info = ServiceInfo(host=host, hostname=hostname, port=port, transport=Transport.UDP)
        service = Service(host=host, hostname=hostname, port=port, transport=Transport.UDP)
        answered = False
        for probe in self.options.probes:
            if not probe.claims_port(port, Transport.UDP):
                continue
            result = await self._run_probe(probe, info, service)
            self._record(service, probe, result)
            answered = answered or result.status in _UDP_ANSWERED or bool(result.findings)
        if answered:
            self._services[(host, port, Transport.UDP)] = service
            self._emit_service(service)

    async def _run_probe(
        self, probe: Probe, info: ServiceInfo, service: Service, base: ProbeContext | None = None
    ) -> ProbeResult:
        """One probe attempt, cut off by the probe timeout; never raises (except cancel).
        ``base``: the service's context (its shared HTTP answers); the scan's otherwise."""
        timeout = self.options.probe_timeout
        attempts = max(1, self.options.retries + 1)
        for attempt in range(attempts):
            try:
                ctx = (base or self.ctx).for_probe(probe.name)
                result = await asyncio.wait_for(probe.run(info, ctx), timeout)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                return ProbeResult(
                    status=Status.TIMEOUT, detail=f"probe cut off after {timeout:g}s"
                )
            except OutOfScopeError as exc:
                self.report.errors.append(f"{probe.name} on {_addr(info)}: {exc}")
                return ProbeResult(status=Status.ERROR, detail=str(exc))
            except Exception as exc:
                if is_resource_error(exc) and attempt + 1 < attempts:
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                if is_resource_error(exc):
                    self.report.errors.append(
                        f"{probe.name} on {_addr(info)}: resource error: {exc}"
                    )
                    return ProbeResult(status=Status.ERROR, detail=f"resource error: {exc}")
                log.debug("probe %s raised on %s", probe.name, _addr(info), exc_info=True)
                return ProbeResult(
                    status=Status.ERROR, detail=f"probe raised {type(exc).__name__}: {exc}"
                )
            if not isinstance(result, ProbeResult):
                return ProbeResult(
                    status=Status.ERROR, detail=f"probe returned {type(result).__name__}"
                )
            return result
        return ProbeResult(status=Status.ERROR, detail="resource error")  # pragma: no cover

    def _record(self, service: Service, probe: Probe, result: ProbeResult) -> None:
        service.probes[probe.name] = result.status
        if result.detail:
            service.details[probe.name] = result.detail[:500]
        if result.status != Status.NOT_APPLICABLE:
            if result.protocol and not service.protocol:
                service.protocol = result.protocol
            if result.tls is not None:
                service.tls = result.tls
            if result.info:
                service.info[probe.name] = result.info
        for finding in result.findings:
            self._finding(finding, service, probe)

    def _finding(self, finding: Finding, service: Service, probe: Probe) -> None:
        update: dict[str, Any] = {}
        if finding.hostname is None and service.hostname:
            update["hostname"] = service.hostname
        if finding.probe is None:
            update["probe"] = probe.name
        if update:
            finding = finding.model_copy(update=update)
        try:
            finding = triage_finding(finding, self.options.rule_set)
        except Exception as exc:  # keep the finding with its default severity
            self.report.errors.append(f"triage failed for {finding.id}: {exc!r}")
        if finding.id in self._seen_findings:
            return
        self._seen_findings.add(finding.id)
        self.report.findings.append(finding)
        self.progress.findings += 1
        if self.on_finding is not None:
            self.on_finding(finding)

    def _scan_error(self, service: Service, stage: str, status: Status, detail: str) -> None:
        service.probes[stage] = status
        service.details[stage] = detail
        self.report.errors.append(f"{stage} on {service.host}:{service.port}: {detail}")

    def _emit_service(self, service: Service) -> None:
        if self.on_service is not None:
            self.on_service(service)

    def _finish(self, aborted: bool) -> None:
        r = self.report
        r.finished_at = utcnow()
        r.aborted = aborted
        if aborted:
            r.errors.append("scan aborted before it completed")
        r.services = sorted(
            self._services.values(), key=lambda s: (host_order(s.host), s.transport, s.port)
        )
        r.findings.sort(key=finding_order)
        if self.sweep_stats is not None:
            r.scope["sweep"] = asdict(self.sweep_stats)
            r.scope["alive_hosts"] = len(self.alive_hosts)
        r.scope["duration_s"] = round((r.finished_at - r.started_at).total_seconds(), 3)


async def _join(*queues: asyncio.Queue[tuple[str, int, Transport]]) -> None:
    for q in queues:
        await q.join()


def _addr(info: ServiceInfo) -> str:
    return f"[{info.host}]:{info.port}" if ":" in info.host else f"{info.host}:{info.port}"


def _banner(greeting: bytes) -> str:
    text = greeting.decode("latin-1")
    line = text.splitlines()[0] if text.splitlines() else text
    return "".join(c if c.isprintable() else "." for c in line)[:200]


async def run_scan(
    scope: Scope,
    options: ScanOptions,
    *,
    on_finding: FindingSink | None = None,
    on_service: ServiceSink | None = None,
) -> Report:
    """Convenience wrapper: build an ``Engine`` and run it."""
    engine = Engine(scope, options, on_finding=on_finding, on_service=on_service)
    return await engine.run()


def default_ports(probes: list[Probe]) -> PortSpec:
    """The union of the probes' default ports (all installed probes when ``probes`` is empty)."""
    from scanner.registry import load_probes

    chosen = probes or list(load_probes().values())
    tcp = [p for pr in chosen if pr.transport == Transport.TCP for p in pr.default_ports]
    udp = [p for pr in chosen if pr.transport == Transport.UDP for p in pr.default_ports]
    return PortSpec.of(tcp, udp)


class ScopeNeedsConfirmation(ValueError):
    """The scope has public addresses or is larger than a /16 and ``yes`` was not given."""


async def scan_targets(
    targets: list[str],
    *,
    exclude: list[str] | None = None,
    ports: str | None = None,
    probes: str | None = None,
    yes: bool = False,
    on_finding: FindingSink | None = None,
    **option_fields: Any,
) -> Report:
    """Programmatic ``nasscan scan`` (for schedulers and scripts), same syntax as the CLI.

    Raises ``TargetError``, ``PortSpecError``, ``UnknownProbeError`` on bad input and
    ``ScopeNeedsConfirmation`` where the CLI would ask for ``--yes``. ``option_fields`` are
    ``ScanOptions`` fields (rate, concurrency, seed, shard, ...).
    """
    from scanner.ports import parse_ports
    from scanner.registry import select_probes
    from scanner.targets import build_scope

    chosen = [] if (probes or "").strip() == "none" else select_probes(probes)
    spec = parse_ports(ports) if ports is not None else default_ports(chosen)
    scope = await build_scope(targets, exclude or [])
    why = scope.needs_confirmation()
    if why and not yes:
        raise ScopeNeedsConfirmation(why)
    options = ScanOptions(ports=spec, probes=chosen, **option_fields)
    return await run_scan(scope, options, on_finding=on_finding)


def provisional_scope(scope: Scope, options: ScanOptions) -> dict[str, Any]:
    """The scope as recorded when the scan starts (the engine adds the rest when it ends)."""
    return {
        "targets": scope.targets,
        "exclusions": scope.exclusions,
        "ports": str(options.ports),
        "probes": [p.name for p in options.probes],
    }
