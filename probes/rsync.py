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
import math
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
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

OPEN_PARALLEL = 4
"""Module-open checks in flight at once: below rsyncd's default listen backlog (5), whose
overflow drops a connection attempt under load. A daemon whose ``max connections`` they exceed
answers ``max connections reached`` (busy, which says nothing of access); those, and checks
whose connection failed, are asked again, one at a time, once the others are done."""
BUSY_PAUSE = 0.3
"""Seconds before asking a busy module again (its daemon frees a slot when a child exits)."""
LIST_WAVE = 4
"""Directories of one module listed together: one ``rsync --list-only`` run (one connection,
~0.1 s on loopback, most of it the protocol's fixed round trips) lists a wave of the crawl, each
directory one level deep, never recursively. Larger waves widen before they dive: with 16, the
lab's deep tree showed 36 leaf recordings instead of 60 for the same 50-directory budget."""
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

        gate = asyncio.Semaphore(OPEN_PARALLEL)

        async def list_one(name: str) -> None:
            listing = await self._list_files(service, ctx, name, deadline)
            if listing is not None:
                facts.listings[name] = listing

        async def ask(name: str) -> None:
            """Open ``name``; an open module is listed at once, while the others are asked."""
            async with gate:
                if deadline.expired():
                    return
                facts.replies[name] = await self._reply(service, ctx, name)
            if facts.replies[name].access == proto.ModuleAccess.OPEN:
                await list_one(name)

        await asyncio.gather(*(ask(name) for name in candidates))
        again = [n for n, r in facts.replies.items()  # a daemon at its connection limit, or
                 if r.access == proto.ModuleAccess.BUSY or not r.answered]  # a connection lost
        if again:  # once more, alone, when its slots (and its listen backlog) are free
            await asyncio.sleep(min(BUSY_PAUSE, deadline.left()))
        for name in again:
            if deadline.expired():
                break
            await ask(name)
        facts.replies = {n: facts.replies[n] for n in candidates if n in facts.replies}
        facts.listings = {n: facts.listings[n] for n in facts.replies if n in facts.listings}

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

    async def _reply(
        self, service: ServiceInfo, ctx: ProbeContext, name: str
    ) -> proto.ModuleReply:
        """The daemon's answer to opening module ``name`` (a failure is ``refused``)."""
        try:
            async with ctx.dialer.tcp(service.host, service.port) as conn:
                return await proto.open_module(conn, name)
        except (proto.RsyncProtocolError, *NET_ERRORS) as exc:
            return proto.ModuleReply(proto.ModuleAccess.REFUSED, str(exc)[:100], answered=False)

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
        until = time.monotonic() + max(1.0, remaining - 1.0)
        lister = ModuleLister(ctx, exe, service.host, service.port, module,
                              max(1, int(min(remaining, 20))), until)  # fmt: skip
        result = await crawl(  # a wave of directories per client run
            lister.one, ctx.bounds, seed=int(ctx.option("seed", 0) or 0), deadline=until,
            parallel=LIST_WAVE, wave_lister=lister.wave,
        )  # fmt: skip
        result.requests = lister.runs  # client runs made, each one connection to the daemon
        return result if result.dirs_listed else None


@dataclass
class ModuleLister:
    """Lists directories of one rsync module with the ``rsync`` client: ``wave`` lists several
    in one run (the crawler's ``wave_lister``), ``one`` a single one (its ``lister``). Every run
    goes to the scope-checked address under a dialer slot."""

    ctx: ProbeContext
    exe: str
    host: str
    port: int
    module: str
    timeout: int
    until: float = math.inf
    """No client run starts or runs past this ``time.monotonic()`` (the crawl's deadline)."""
    runs: int = 0
    """Client runs made so far (each one connection to the daemon)."""

    async def wave(self, dirs: list[tuple[str, Any, Budget]]) -> list[Page | Exception]:
        """Each directory's page, or the exception listing it alone would raise; each budget is
        charged with the bytes read for its directory."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        rels = [path.strip("/") for path, _, _ in dirs]
        caps = [budget.bytes_left for _, _, budget in dirs]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
               "HOME": "/nonexistent"}  # fmt: skip

        def argv_for(some: list[str]) -> list[str]:
            return list_only_argv(self.exe, host, self.port, self.module, some, self.timeout)

        dialer = self.ctx.dialer
        async with dialer.slot(self.host, self.port):
            answers, runs = await dialer.run_blocking(
                list_dirs, argv_for, rels, env, float(self.timeout), self.ctx.bounds.entries, caps,
                self.until,
            )
        self.runs += runs
        out: list[Page | Exception] = []
        for (_, _, budget), (answer, nbytes) in zip(dirs, answers, strict=True):
            budget.spend(nbytes)
            out.append(answer)
        return out

    async def one(self, path: str, handle: Any, budget: Budget) -> Page:
        (answer,) = await self.wave([(path, handle, budget)])
        if isinstance(answer, Exception):
            raise answer
        return answer


def list_only_argv(
    exe: str, host: str, port: int, module: str, rels: list[str], timeout: int
) -> list[str]:
    """The rsync client run that lists the directories ``rels`` of ``module`` (``""``: its
    root), each one level deep: ``--list-only`` (nothing is copied, ever), no recursion,
    ``--relative`` so each line names its directory, no implied parents, file names passed as
    written, and TCP_NODELAY on the client's socket (without it each run waits on Nagle and
    delayed ACKs, about 40 ms a round: 0.15 s against 0.11 s measured on loopback against
    Debian's rsyncd). Further sources on the same daemon are written ``::module/path``; each
    path starts ``./`` (where ``--relative`` starts, and never read as an option: the daemon
    takes ``-x/`` for one), and ``--8-bit-output`` keeps non-ASCII names as they are."""
    paths = [f"{module}/./{rel}/" if rel else f"{module}/./" for rel in rels]
    sources = [f"{host}::{paths[0]}"] + [f"::{path}" for path in paths[1:]]
    return [exe, "--list-only", "--relative", "--no-implied-dirs", "--protect-args",
            "--8-bit-output", "--no-motd", "--sockopts=TCP_NODELAY", f"--port={port}",
            f"--contimeout={timeout}", f"--timeout={timeout}", *sources]  # fmt: skip


Answer = tuple["Page | Exception", int]


def list_dirs(
    argv_for: Callable[[list[str]], list[str]],
    rels: list[str],
    env: dict[str, str],
    timeout: float,
    max_entries: int,
    caps: list[int],
    until: float = math.inf,
) -> tuple[list[Answer], int]:
    """List the directories ``rels`` (blocking, in the dialer's thread pool) in as few client
    runs as it takes, none started after ``until`` (``time.monotonic()``) and none running past
    it: a probe cut off at its deadline leaves no client behind for long.

    A run lists every directory not answered yet; a directory cut at its entry or byte bound
    ends that run (the server stops, as it would for that directory alone) and those after it
    go to the next run; a run that failed (an unreadable directory) says nothing of its empty
    directories, which are listed again one by one. Each answer is what a run for that
    directory alone gives: its page (cut or not) and the bytes read, or ``NotListable``.
    (answers, runs)."""
    answers: dict[int, Answer] = {}
    root_first = [i for i, rel in enumerate(rels) if rel == ""]
    groups = [root_first] if root_first and len(rels) > 1 else []  # its entries' own lines
    pending = [i for i in range(len(rels)) if not (groups and i in root_first)]
    alone: list[int] = []
    runs = 0
    while (groups or pending or alone) and runs <= 2 * len(rels):
        left = until - time.monotonic()
        if left <= 0:
            break
        if groups:
            todo = groups.pop()
        elif pending:
            todo = pending
        else:
            todo = [alone.pop(0)]
        runs += 1
        got, unclear = _run_once(argv_for([rels[i] for i in todo]), [rels[i] for i in todo],
                                 env, min(timeout, left), max_entries,
                                 [caps[i] for i in todo])  # fmt: skip
        for j, answer in got.items():
            answers[todo[j]] = answer
        alone += [todo[j] for j in unclear]
        if todo is pending:
            pending = [i for i in pending if i not in answers and i not in alone]
    for i in range(len(rels)):  # the deadline came first (every run settles one directory)
        answers.setdefault(i, (Page([], complete=False, error="deadline"), 0))
    return [answers[i] for i in range(len(rels))], runs


def _run_once(
    argv: list[str], rels: list[str], env: dict[str, str], timeout: float, max_entries: int,
    caps: list[int],
) -> tuple[dict[int, Answer], list[int]]:
    """One client run over ``rels``. Its output is sorted by path, so each directory's lines
    (its own line, then its entries) come as one block: a directory is done when the next
    block starts. (answers by index, indexes left unclear: empty in a run that failed)."""
    index = {("." if rel == "" else rel): i for i, rel in enumerate(rels)}
    items: list[list[Item]] = [[] for _ in rels]
    read = [0] * len(rels)
    bad = [0] * len(rels)
    done: list[int] = []
    cut: int | None = None
    current: int | None = None
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=env,
    )  # fmt: skip
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            # undecodable bytes stay lone surrogates: the crawler skips and counts the name
            item = proto.parse_list_only(raw.decode("utf-8", "surrogateescape"))
            if item is None:  # an unparsable line belongs to the block it is in
                if current is not None:
                    bad[current] += 1
                    read[current] += len(raw)
                continue
            name: str | None = None
            parent = index.get(item.path)  # a listed directory's own line opens its block
            if parent is None:
                head, _, name = item.path.rpartition("/")
                parent = index.get(head or ".")
                if parent is None:
                    continue
            if parent != current:
                if current is not None:
                    done.append(current)
                current = parent
            read[parent] += len(raw)
            if name is None:
                continue
            if len(items[parent]) >= max_entries or read[parent] > caps[parent]:
                cut = parent  # the bound of one directory ends this run
                break
            size = None if item.is_dir else item.size
            items[parent].append(Item(name=name, is_dir=item.is_dir, size=size, mtime=item.mtime))
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2)
        if proc.stdout is not None:
            proc.stdout.close()
    rc = proc.returncode
    killed = cut is None and rc is not None and rc < 0  # at the deadline
    out: dict[int, Answer] = {i: (Page(items[i], bad=bad[i]), read[i]) for i in done}
    if cut is not None:  # the directories after it: the next run
        out[cut] = (Page(items[cut], bad=bad[cut], complete=False), read[cut])
        empty = [i for i in done if not items[i]]  # unreadable ones look the same: the run's
        for i in empty:  # exit status would tell, and it was cut
            del out[i]
        return out, empty
    if current is not None:  # the last block is whole unless the run was killed
        out[current] = (Page(items[current], bad=bad[current], complete=not killed),
                        read[current])  # fmt: skip
    unclear: list[int] = []
    for i in range(len(rels)):
        if i in out:
            continue
        if killed:  # its block never came
            out[i] = (Page([], complete=False), 0)
        elif rc and len(rels) > 1:  # absent from a failed run: alone, its error is its own
            unclear.append(i)
        elif rc:
            out[i] = (NotListable(f"rsync exit {rc}"), 0)
        else:  # (a run that succeeded lists every directory it was given)
            out[i] = (Page([]), 0)
    if rc and not killed:  # failed: an empty directory may be an unreadable one
        for i, (answer, nbytes) in list(out.items()):
            if isinstance(answer, Page) and not answer.items:
                if len(rels) == 1:
                    out[i] = (NotListable(f"rsync exit {rc}"), nbytes)
                else:
                    del out[i]
                    unclear.append(i)
    return out, unclear


PROBE = RsyncProbe()
