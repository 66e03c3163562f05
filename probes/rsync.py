"""rsync daemon (TCP 873): modules readable without a password, and the always-plaintext protocol.

Lists the modules (``#list``), then opens each listed module plus a small built-in list of
common names (``rsync.modules`` option) that may be unlisted (``list = no``): ``@RSYNCD: OK`` is
``unauthenticated-access``; ``@RSYNCD: AUTHREQD`` is authentication required. The daemon
protocol has no encryption: every rsync daemon is ``cleartext-transport``.

A bounded file listing of open modules is a bonus: when the ``rsync`` client binary is present it
is run with ``--list-only`` against the same, scope-checked address under a dialer slot, its
output cut at the entry/byte bounds. The finding never depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scanner.catchall import NOT_ASKED, CatchAllCheck, ask_random
from scanner.crawl import Budget, CrawlResult, Item, NotListable, Page, crawl
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Finding,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.probe import ProbeContext, ProbeOption
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe, NotApplicable
from scanner.protocols import rsync as proto

LIST_PARALLEL = 4
"""Directories of one module listed at once (each is an ``rsync --list-only`` run, ~0.1 s to
start; the dialer's per-host cap still bounds the connections)."""
COMMON_MODULES = (
    "hidden",
    "backup",
    "backups",
    "data",
    "share",
    "public",
    "files",
    "home",
    "www",
    "recordings",
    "media",
    "archive",
    "storage",
    "nas",
    "pub",
    "mirror",
    "upload",
    "root",
)
NET_ERRORS = (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError)



@dataclass
class RsyncFacts(Facts):
    extra: list[str] = field(default_factory=list)
    """Module names tried besides ``#list`` (option ``rsync.modules``)."""
    greeting: proto.Greeting | None = None
    """The daemon's ``@RSYNCD:`` greeting (None: not seen yet)."""
    modules: list[proto.Module] = field(default_factory=list)
    """What ``#list`` listed."""
    motd: list[str] = field(default_factory=list)
    catch_all: CatchAllCheck = NOT_ASKED
    replies: dict[str, proto.ModuleReply] = field(default_factory=dict)
    """The answer to opening each candidate module, in the order asked."""
    listings: dict[str, CrawlResult] = field(default_factory=dict)
    """Bounded ``rsync --list-only`` crawls of open modules (a bonus)."""


class RsyncProbe(GatherJudgeProbe[RsyncFacts]):
    name = "rsync"
    default_ports = (873,)
    description = "rsync daemon modules readable without a password; rsync is never encrypted"
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("modules", "list", COMMON_MODULES, "module names tried besides #list"),
    )
    foreign_errors = (proto.RsyncProtocolError,)  # not an rsync daemon after all

    def matches_greeting(self, greeting: bytes) -> bool:
        return proto.matches_greeting(greeting)

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> RsyncFacts:
        return RsyncFacts(service, extra=list(self.option(ctx, "modules")))

    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: RsyncFacts, deadline: Deadline
    ) -> None:
        if service.greeting and not proto.matches_greeting(service.greeting):
            raise NotApplicable("not an rsync greeting")
        async with ctx.dialer.tcp(service.host, service.port) as conn:
            facts.greeting, facts.modules, facts.motd = await proto.list_modules(conn)
        listed = {m.name for m in facts.modules}
        if any(n not in listed for n in facts.extra):  # a server that opens any module: no guess
            facts.catch_all = await ask_random(lambda n: self._opens(service, ctx, n),
                                               errors=(proto.RsyncProtocolError, *NET_ERRORS))
        candidates = [m.name for m in facts.modules]
        candidates += facts.catch_all.guesses(facts.extra, listed)
        candidates = candidates[: max(1, ctx.bounds.resources)]

        for name in candidates:  # one at a time: a daemon's connection limit is not ours to test
            if deadline.expired():
                break
            try:
                async with ctx.dialer.tcp(service.host, service.port) as conn:
                    facts.replies[name] = await proto.open_module(conn, name)
            except (proto.RsyncProtocolError, *NET_ERRORS) as exc:
                facts.replies[name] = proto.ModuleReply(proto.ModuleAccess.REFUSED, str(exc)[:100])

        async def list_one(name: str) -> None:
            listing = await self._list_files(service, ctx, name, deadline)
            if listing is not None:
                facts.listings[name] = listing

        open_names = [n for n, r in facts.replies.items() if r.access == proto.ModuleAccess.OPEN]
        await asyncio.gather(*(list_one(name) for name in open_names))
        facts.listings = {n: facts.listings[n] for n in open_names if n in facts.listings}

    def judge(self, facts: RsyncFacts, cut: Cut | None) -> ProbeResult:
        greeting = facts.greeting
        if greeting is None:  # cut before the daemon greeted
            return cut.result() if cut else ProbeResult(status=Status.ERROR, detail="no greeting")
        service = facts.service
        listed = {m.name: m for m in facts.modules}
        replies = facts.replies
        catch_all = facts.catch_all
        open_mods = [n for n, r in replies.items() if r.access == proto.ModuleAccess.OPEN]
        auth_mods = [n for n, r in replies.items() if r.access == proto.ModuleAccess.AUTH_REQUIRED]
        findings = [self._open_module(facts, name, listed.get(name)) for name in open_mods]
        findings.append(self.cleartext(
            facts, f"rsync daemon on {service.host}:{service.port} speaks plaintext",
            authentication=Authentication.NONE if open_mods
            else Authentication.REQUIRED if auth_mods else Authentication.UNKNOWN,
            evidence={
                "greeting": f"@RSYNCD: {greeting.version}",
                "digests": list(greeting.digests),
                "modules_listed": sorted(listed)[:20],
                "password_modules": auth_mods[:20],
                **catch_all.evidence(),
            },
            remediation="Use rsync over SSH (or a VPN) instead of the rsync daemon protocol;"
            " bind the daemon to trusted networks only.",
        ))  # fmt: skip
        status = Status.SUCCESS if open_mods or not auth_mods else Status.AUTH_REQUIRED
        return ProbeResult(
            status=cut.status if cut else status,
            protocol="rsync",
            tls=False,
            findings=findings,
            detail=cut.detail if cut else None,
            info={
                "version": greeting.version,
                "digests": list(greeting.digests),
                "modules": [{"name": m.name, "comment": m.comment[:80]}
                            for m in facts.modules][:50],
                "motd": facts.motd[:5],
                "module_access": {
                    n: r.access.value
                    for n, r in replies.items()
                    if r.access != proto.ModuleAccess.UNKNOWN_MODULE
                },
            },
        )  # fmt: skip

    def _open_module(
        self, facts: RsyncFacts, name: str, listed: proto.Module | None
    ) -> Finding:
        service = facts.service
        ev: dict[str, Any] = {
            "url": f"rsync://{service.host}:{service.port}/{name}/",
            "listed": listed is not None,
            "reply": "@RSYNCD: OK",
        }
        if listed is not None and listed.comment:
            ev["comment"] = listed.comment[:120]
        ev.update(facts.catch_all.evidence())
        return self.unauthenticated(
            facts, name,
            f"rsync module '{name}' readable without a password"
            + ("" if listed is not None else " (not in the module list)"),
            encryption=Encryption.NONE,
            access=Access.READ,
            evidence=ev,
            listing=facts.listings[name].listing() if name in facts.listings else None,
            remediation="Set 'auth users' and a secrets file on the module (or remove it),"
            " and restrict 'hosts allow'; tunnel rsync over SSH.",
        )  # fmt: skip

    async def _opens(self, service: ServiceInfo, ctx: ProbeContext, module: str) -> bool:
        async with ctx.dialer.tcp(service.host, service.port) as conn:
            reply = await proto.open_module(conn, module)
        return reply.access == proto.ModuleAccess.OPEN

    async def _list_files(
        self, service: ServiceInfo, ctx: ProbeContext, module: str, deadline: Deadline
    ) -> CrawlResult | None:
        """Bonus: ``rsync --list-only`` on the same in-scope address, bounded; None if absent."""
        exe = shutil.which("rsync")
        remaining = deadline.left()
        if exe is None or remaining < 2:
            return None
        ctx.dialer.check(service.host, service.port)
        host = f"[{service.host}]" if ":" in service.host else service.host
        url = f"rsync://{host}:{service.port}/{module}/"
        t = max(1, int(min(remaining, 20)))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "HOME": "/nonexistent",
        }

        async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
            """One ``rsync --list-only`` (not recursive) of one directory: one connection, one
            request of the budget."""
            sub = path.lstrip("/") + "/" if path != "/" else ""
            argv = list_only_argv(exe, url + sub, t)
            async with ctx.dialer.slot(service.host, service.port):
                page, nbytes = await ctx.dialer.run_blocking(
                    _list_only, argv, env, float(t), ctx.bounds.entries, budget.bytes_left
                )
            budget.spend(nbytes)
            return page

        result = await crawl(  # each directory is a client run: several at once
            list_dir, ctx.bounds, seed=int(ctx.option("seed", 0) or 0),
            deadline=time.monotonic() + max(1.0, remaining - 1.0), parallel=LIST_PARALLEL,
        )  # fmt: skip
        return result if result.dirs_listed else None


def list_only_argv(exe: str, url: str, timeout: int) -> list[str]:
    """The rsync client run that lists one directory: ``--list-only`` (nothing is copied, ever),
    no recursion, file names passed as written, and TCP_NODELAY on the client's socket: without
    it each run waits on Nagle and delayed ACKs, about 40 ms a round (0.15 s against 0.11 s per
    directory measured on loopback against Debian's rsyncd)."""
    return [exe, "--list-only", "--protect-args", "--no-motd", "--sockopts=TCP_NODELAY",
            f"--contimeout={timeout}", f"--timeout={timeout}", url]  # fmt: skip


def _list_only(
    argv: list[str], env: dict[str, str], timeout: float, max_entries: int, max_bytes: int
) -> tuple[Page, int]:
    """Run ``rsync --list-only`` on one directory (blocking, in the dialer's thread pool),
    bounded and killed at the deadline or as soon as a bound is reached. (page, bytes read)."""
    items: list[Item] = []
    complete, bad, read = True, 0, 0
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=env,
    )  # fmt: skip
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            read += len(raw)
            # undecodable bytes stay lone surrogates: the crawler skips and counts the name
            item = proto.parse_list_only(raw.decode("utf-8", "surrogateescape"))
            if item is None:
                bad += 1
                continue
            if item.path == ".":
                continue
            if len(items) >= max_entries or read > max_bytes:
                complete = False
                break
            size = None if item.is_dir else item.size
            items.append(Item(name=item.path, is_dir=item.is_dir, size=size, mtime=item.mtime))
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2)
        if proc.stdout is not None:
            proc.stdout.close()
    if proc.returncode is not None and proc.returncode < 0:
        complete = False  # killed at the deadline
    if proc.returncode not in (0, None) and not items and proc.returncode > 0:
        raise NotListable(f"rsync exit {proc.returncode}")
    return Page(items, bad=bad, complete=complete), read


PROBE = RsyncProbe()
