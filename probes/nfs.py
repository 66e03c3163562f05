"""NFS probe: rpcbind, MOUNT v3 + NFSv3 and NFSv4, on our own ONC RPC layer.

Flow: rpcbind DUMP (which programs/versions listen where) -> MOUNT v3 EXPORT (exports and their
client lists) -> per export MNT with AUTH_SYS, a bounded NFSv3 READDIRPLUS crawl, ACCESS, UMNT ->
NFSv4 COMPOUND walk of the pseudo-filesystem (PUTROOTFH/LOOKUP/READDIR) listing each export.

Finding scheme: one finding per (kind, export path), whichever NFS version showed it.
``resource`` is the export path, ``port`` is the NFS port (2049 unless rpcbind says otherwise)
and ``evidence["versions"]`` lists the versions that granted access (``nfsv3``, ``nfsv4``), so
the finding id is the same whether the probe ran on 111 or on 2049, and v3 and v4 of one export
are one finding naming both versions.

Intrusive, only with ``--sample-bytes N`` (``ctx.sample_bytes > 0``): after an export's NFSv3
listing, NFSv3 READ of the first N bytes (one READ, at most ``MAX_SAMPLE_READ``, over UDP
``MAX_SAMPLE_READ_UDP``) of a few files
chosen by ``scanner.classify.magic.choose_samples`` (``nfs.sample_files``, default 3, at most
``MAX_SAMPLE_FILES``), sniffed into ``evidence["sniffed"]``. With ``sample_bytes == 0`` no READ
is ever sent. Nothing is ever written.

Options: ``nfs.uid`` / ``nfs.gid`` (AUTH_SYS identity, default 65534 = nobody; uid 0 only when
asked), ``nfs.versions`` (default ``"3,4"``; ``"4"`` walks NFSv4 alone, as a v4-only client would),
``nfs.transport`` (``tcp`` default, ``udp`` for rpcbind/MOUNT/NFSv3; NFSv4 is always TCP;
rpcbind falls back to UDP when TCP 111 is closed), ``nfs.exports`` (comma-separated export
paths: examine only these; default every export).

Gather/judge (``scanner.probe_skeleton``): ``gather`` records what each step saw in ``NfsFacts``
(rpcbind's programs, MOUNT's export list, per export an ``ExportFacts``: versions that listed it,
versions that demanded other authentication, flavours, listing, ACCESS bits, samples); ``judge``
turns them into findings and the status, also when the attempt was cut short (what was listed
before the cut is reported, with the cut's status).

AUTH_SYS is no authentication: the client states a uid and the server believes it, so an
export that mounts and lists with AUTH_SYS is ``unauthenticated-access`` (authentication=none).
AUTH_TOOWEAK, NFS4ERR_WRONGSEC or a Kerberos-only flavour list means authentication required.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from scanner.classify.magic import choose_samples
from scanner.crawl import Budget, Crawler, CrawlResult, Item, Page, join
from scanner.models import (
    Access,
    Encryption,
    Finding,
    Listing,
    ProbeResult,
    ServiceInfo,
    Status,
    Transport,
)
from scanner.probe import ListingBounds, ProbeContext, ProbeOption
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe, Samples
from scanner.protocols import mount, nfs3, nfs4, portmap, rpc
from scanner.protocols.rpc import AuthFlavor, OpaqueAuth, RPCClient
from scanner.protocols.xdr import XDRError

PORTMAP_PORT = 111
NFS_PORT = 2049
MAX_V4_PSEUDO_DIRS = 32
MAX_V4_PSEUDO_DEPTH = 6
KRB_FLAVORS = {AuthFlavor.KRB5, AuthFlavor.KRB5I, AuthFlavor.KRB5P}
PROTOCOL_ERRORS = (rpc.RPCProtocolError, XDRError, asyncio.IncompleteReadError)
MAX_SAMPLE_READ = nfs3.MAX_READ
"""Bytes asked per sampled file: min(--sample-bytes, this); one READ per file."""
MAX_SAMPLE_READ_UDP = 8192
"""Over UDP the reply must fit one datagram: the cap there."""


@dataclass
class ExportFacts:
    """What was seen of one export, over whichever version showed it."""

    path: str
    clients: tuple[str, ...] | None = None
    """From MOUNT EXPORT; None when only seen over NFSv4."""
    flavors: set[int] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    """Versions that listed the export with AUTH_SYS (``nfsv3``, ``nfsv4``)."""
    auth_required: set[str] = field(default_factory=set)
    """Versions that demanded other authentication."""
    listing: Listing | None = None
    access_bits: int | None = None
    """NFSv3 ACCESS of the export's root (None: not asked or not answered)."""
    errors: list[str] = field(default_factory=list)
    samples: Samples = field(default_factory=Samples)
    """``--sample-bytes``: the first bytes read (NFSv3 READ)."""
    crawling: dict[str, CrawlResult] = field(default_factory=dict)
    """Crawls running (by version) when the attempt was cut: what they had listed."""

    def settled(self, cut: Cut | None) -> ExportFacts:
        """The export as judged: with a cut, a crawl that was running counts as a version that
        listed the export (with AUTH_SYS) once it had listed the root, its listing truncated."""
        running = {v: r for v, r in self.crawling.items() if r.dirs_listed}
        if cut is None or not running:
            return self
        listing = self.listing
        for result in running.values():
            listing = _merge(listing, result.listing(cut=cut.detail))
        return dataclasses.replace(
            self, versions=self.versions | set(running), listing=listing,
            flavors=self.flavors | {AuthFlavor.AUTH_SYS}, crawling={},
        )  # fmt: skip


@dataclass
class NfsFacts(Facts):
    """What one NFS attempt saw; the settings it ran with come first."""

    uid: int = 65534
    gid: int = 65534
    want_v3: bool = True
    want_v4: bool = True
    transport: str = "tcp"
    """The RPC transport asked for, then the one rpcbind's mappings made us use."""
    only: frozenset[str] = frozenset()
    """``nfs.exports``: examine only these export paths (empty: every export)."""
    sample: Samples = field(default_factory=Samples)
    """``--sample-bytes``: the per-export sampling settings (size 0: off)."""
    seed: int = 0
    privileged_source_port: bool | None = None
    rpcbind_transport: str | None = None
    """``udp`` when rpcbind answered over UDP only."""
    rpc_programs: list[str] | None = None
    """rpcbind's DUMP (None: rpcbind not reachable)."""
    registered: bool | None = None
    """Does rpcbind list NFS or MOUNT v3? (None: rpcbind not asked or not answering)."""
    nfs_port: int | None = None
    """The NFS port used (set once the attempt goes past rpcbind)."""
    export_list: list[mount.Export] | None = None
    """MOUNT EXPORT's answer (bounded by ``ctx.bounds.resources``)."""
    nfsv4: bool = False
    """The NFSv4 pseudo-root answered."""
    exports: dict[str, ExportFacts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _iso(seconds: int | None) -> str | None:
    if seconds is None or seconds <= 0:
        return None
    with contextlib.suppress(OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    return None


# A directory page lister returns (entries, next_cookie_state or None when done).
# Each entry: (name, is_dir, size, mtime, child_handle)
DirItem = tuple[str, bool, int | None, int | None, Any]
PageLister = Callable[[Any, Any], Awaitable[tuple[list[DirItem], Any]]]
ENTRY_BYTES = 64
"""Listing bytes charged per entry besides its name (READDIRPLUS attributes and handle)."""


async def crawl_export(
    root: Any,
    list_page: PageLister,
    bounds: ListingBounds,
    handles: dict[str, Any] | None = None,
    seed: int = 0,
    progress: dict[str, CrawlResult] | None = None,
    version: str = "",
) -> Listing:
    """One export through the shared crawler: each READDIR(PLUS) call is one request of the
    budget; a repeated cookie stops that directory (never re-counted). An error on the export's
    root is raised (the caller tells auth-required from broken); below it, what was listed is
    kept and the listing says it is partial.

    ``handles``, when given, collects the handle of every listed file (for ``--sample-bytes``).
    ``progress``, when given, holds the crawl's result under ``version`` while it runs (so an
    attempt cut mid-crawl can still report what was listed); it is removed when the crawl ends.
    """

    async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
        fh = root if path == "/" else handle
        items: list[Item] = []
        cookies: set[Any] = set()
        state: Any = None
        complete, loops = True, 0
        while True:
            got, state = await list_page(fh, state)
            for name, is_dir, size, mtime, child in got:
                if name in (".", ".."):
                    continue
                budget.spend(len(name) + ENTRY_BYTES)
                items.append(Item(
                    name=name, is_dir=is_dir, size=None if is_dir else size, mtime=_iso(mtime),
                    handle=child, key=child if is_dir else None,
                    link=is_dir and child is None,  # no handle: cannot be descended
                ))  # fmt: skip
                if handles is not None and not is_dir and child is not None:
                    handles[join(path, name)] = child
            if state is None:
                break
            if state[0] in cookies:  # a server repeating its cookie: stop, count, never loop
                loops += 1
                complete = False
                break
            cookies.add(state[0])
            if len(items) >= bounds.entries or not budget.take():
                complete = False
                break
        return Page(items, complete=complete, loops=loops)

    crawler = Crawler(list_dir, bounds, root_key=root, seed=seed, stop_on_error=True)
    if progress is not None:
        progress[version] = crawler.result
    result = await crawler.run()
    if progress is not None:
        progress.pop(version, None)
    if not result.dirs_listed and result.last_error is not None:
        raise result.last_error
    return result.listing()


def _v3_lister(client: RPCClient, cred: OpaqueAuth) -> PageLister:
    async def page(fh: bytes, state: Any) -> tuple[list[DirItem], Any]:
        cookie, verf = state if state else (0, b"\0" * 8)
        pg = await nfs3.readdirplus(client, fh, cred, cookie=cookie, cookieverf=verf)
        items: list[DirItem] = []
        for e in pg.entries:
            is_dir = bool(e.attrs and e.attrs.is_dir)
            items.append((e.name, is_dir, e.attrs.size if e.attrs else None,
                          e.attrs.mtime if e.attrs else None, e.handle))
        if pg.eof or not pg.entries:
            return items, None
        return items, (pg.entries[-1].cookie, pg.cookieverf)

    return page


def _v4_lister(client: RPCClient, cred: OpaqueAuth) -> PageLister:
    async def page(path: str, state: Any) -> tuple[list[DirItem], Any]:
        cookie, verf = state if state else (0, b"\0" * 8)
        ops = [*nfs4.path_ops(path), nfs4.readdir(cookie, verf)]
        res = await nfs4.compound(client, ops, cred)
        if not res.ok:
            failed = res.failed
            raise V4Error(res.status if failed is None else failed.status)
        dl: nfs4.DirList4 = res.value(nfs4.OP_READDIR)
        items: list[DirItem] = [
            (e.name, e.attrs.is_dir, e.attrs.size, e.attrs.mtime, f"{path.rstrip('/')}/{e.name}")
            for e in dl.entries
        ]
        if dl.eof or not dl.entries:
            return items, None
        return items, (dl.entries[-1].cookie, dl.cookieverf)

    return page


class V4Error(Exception):
    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(nfs4.error_name(status))


def access_names(bits: int) -> list[str]:
    names = [(nfs3.ACCESS3_READ, "read"), (nfs3.ACCESS3_LOOKUP, "lookup"),
             (nfs3.ACCESS3_MODIFY, "modify"), (nfs3.ACCESS3_EXTEND, "extend"),
             (nfs3.ACCESS3_DELETE, "delete"), (nfs3.ACCESS3_EXECUTE, "execute")]
    return [n for b, n in names if bits & b]


def access_level(bits: int) -> Access:
    if bits & (nfs3.ACCESS3_MODIFY | nfs3.ACCESS3_EXTEND | nfs3.ACCESS3_DELETE):
        return Access.WRITE
    if bits & nfs3.ACCESS3_READ:
        return Access.READ
    return Access.LIST


class NFSProbe(GatherJudgeProbe[NfsFacts]):
    name: ClassVar[str] = "nfs"
    default_ports: ClassVar[tuple[int, ...]] = (PORTMAP_PORT, NFS_PORT)
    transport: ClassVar[Transport] = Transport.TCP
    description: ClassVar[str] = (
        "NFS v3/v4: rpcbind, MOUNT exports and client lists, AUTH_SYS mount and bounded listing"
    )
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("uid", "int", 65534, "AUTH_SYS uid claimed (0 only when you ask)", minimum=0),
        ProbeOption("gid", "int", 65534, "AUTH_SYS gid claimed", minimum=0),
        ProbeOption("versions", "str", "3,4", "NFS versions tried",
                    choices=("3", "4", "3,4", "4,3")),
        ProbeOption("transport", "str", "tcp", "RPC transport", choices=("tcp", "udp")),
        ProbeOption("exports", "list", (), "export paths examined (default: every export)"),
    )
    facts_type = NfsFacts
    auth_errors: ClassVar[tuple[type[BaseException], ...]] = (rpc.RPCDeniedError,)
    protocol_errors: ClassVar[tuple[type[BaseException], ...]] = PROTOCOL_ERRORS
    timeout_detail: ClassVar[str] = "no RPC reply in time"

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> NfsFacts:
        versions = str(self.option(ctx, "versions"))
        return NfsFacts(
            service,
            uid=int(self.option(ctx, "uid")),
            gid=int(self.option(ctx, "gid")),
            want_v3="3" in versions,
            want_v4="4" in versions,
            transport="udp" if self.option(ctx, "transport") == "udp" else "tcp",
            only=frozenset(self.option(ctx, "exports")),
            sample=Samples.for_context(ctx, "nfs", cap=MAX_SAMPLE_READ),
            seed=int(ctx.option("seed", 0) or 0),
        )  # fmt: skip

    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: NfsFacts, deadline: Deadline
    ) -> None:
        await _Gather(service, ctx, facts).run()

    # -- judge -----------------------------------------------------------------------------------
    def judge(self, facts: NfsFacts, cut: Cut | None) -> ProbeResult:
        if facts.registered is False:
            return ProbeResult(
                status=Status.NOT_APPLICABLE, protocol="rpcbind", info=self._info(facts),
                detail="rpcbind answers but no NFS or MOUNT program is registered",
            )  # fmt: skip
        if cut is not None and not facts.exports:
            protocol = "nfs" if cut.status is Status.AUTH_REQUIRED else None
            return cut.result(protocol=protocol)
        findings: list[Finding] = []
        auth_only = 0
        # findings name the NFS port (2049 unless rpcbind says otherwise), whichever port was
        # probed, so the finding id is the same from 111 and from 2049
        at = Facts(facts.service.model_copy(update={"port": facts.nfs_port}))
        exports = [st.settled(cut) for st in facts.exports.values()]
        for st in exports:
            flavors = sorted(rpc.flavor_name(f) for f in st.flavors)
            if st.versions:
                findings.append(self._unauth(facts, at, st, flavors))
            elif st.auth_required:
                auth_only += 1
            accessible = bool(st.versions)
            if accessible and AuthFlavor.KRB5P not in st.flavors:
                findings.append(self._cleartext(at, st, flavors, Encryption.NONE))
            elif accessible and st.flavors - {AuthFlavor.KRB5P}:
                findings.append(self._cleartext(at, st, flavors, Encryption.OPTIONAL))
        status = Status.SUCCESS
        n_open = sum(1 for s in exports if s.versions)
        detail = f"{len(facts.exports)} export(s), {n_open} open"
        if not findings and auth_only:
            status = Status.AUTH_REQUIRED
            detail = f"{auth_only} export(s), all require other authentication (e.g. Kerberos)"
        if cut is not None:  # cut short: what was proven so far, and how it ended
            status, detail = cut.status, f"{cut.detail} ({detail} seen)"
        return ProbeResult(status=status, protocol="nfs", findings=findings, detail=detail,
                           info=self._info(facts))  # fmt: skip

    def _info(self, facts: NfsFacts) -> dict[str, Any]:
        info: dict[str, Any] = {}
        if facts.privileged_source_port is not None:
            info["privileged_source_port"] = facts.privileged_source_port
        if facts.rpcbind_transport is not None:
            info["rpcbind_transport"] = facts.rpcbind_transport
        if facts.rpc_programs is not None:
            info["rpc_programs"] = facts.rpc_programs
        if facts.nfs_port is None:
            return info
        info["nfs_port"] = facts.nfs_port
        info["transport"] = facts.transport
        if facts.export_list is not None:
            info["exports"] = [
                {"path": e.path, "clients": list(e.clients) or ["(everyone)"]}
                for e in facts.export_list
            ]
        if facts.nfsv4:
            info["nfsv4"] = True
        info["export_states"] = {
            p: {
                "versions": sorted(s.versions),
                "auth_required": sorted(s.auth_required),
                "flavors": sorted(rpc.flavor_name(f) for f in s.flavors),
                "errors": s.errors[:4],
            }
            for p, s in list(facts.exports.items())[:32]
        }
        if facts.notes:
            info["notes"] = facts.notes[:8]
        return info

    def _unauth(
        self, facts: NfsFacts, at: Facts, st: ExportFacts, flavors: list[str]
    ) -> Finding:
        evidence: dict[str, Any] = {
            "versions": sorted(st.versions),
            "flavors": flavors,
            "credential": f"AUTH_SYS uid={facts.uid} gid={facts.gid}",
        }
        if st.clients is not None:
            evidence["clients"] = list(st.clients[:16]) or ["(everyone)"]
            evidence["open_to"] = mount.Export(st.path, st.clients).exposure
        if st.access_bits is not None:
            evidence["nfsv3_access"] = access_names(st.access_bits)
        if facts.sample.size > 0:
            evidence.update(st.samples.evidence())
            if "nfsv3" not in st.versions:
                evidence["sample_note"] = "file bodies are sampled over NFSv3 only"
        versions = " and ".join(v.replace("nfs", "NFS") for v in sorted(st.versions))
        return self.unauthenticated(
            at, st.path,
            f"NFS export {st.path} mounts and lists with AUTH_SYS over {versions}",
            encryption=Encryption.OPTIONAL if AuthFlavor.KRB5P in st.flavors else Encryption.NONE,
            access=Access.LIST if st.access_bits is None else access_level(st.access_bits),
            evidence=evidence,
            remediation=(
                "Restrict the export to the hosts that need it and require Kerberos "
                "(sec=krb5p); AUTH_SYS trusts whatever uid the client claims."
            ),
            listing=st.listing or Listing(),
        )  # fmt: skip

    def _cleartext(
        self, at: Facts, st: ExportFacts, flavors: list[str], enc: Encryption
    ) -> Finding:
        return self.cleartext(
            at, f"NFS export {st.path} is served without krb5p encryption",
            encryption=enc, resource=st.path,
            evidence={"versions": sorted(st.versions), "flavors": flavors},
            remediation="Require sec=krb5p so file data and metadata are encrypted on the wire.",
        )  # fmt: skip


class _Gather:
    """One attempt's I/O: rpcbind, MOUNT + NFSv3, the NFSv4 walk; everything seen goes into
    the facts as soon as it is seen."""

    def __init__(self, service: ServiceInfo, ctx: ProbeContext, facts: NfsFacts) -> None:
        self.service = service
        self.ctx = ctx
        self.facts = facts
        self.host = service.host
        self.cred = rpc.auth_sys(facts.uid, facts.gid)

    def export(self, path: str) -> ExportFacts:
        exports = self.facts.exports
        st = exports.get(path)
        if st is None:
            st = exports[path] = ExportFacts(
                path, samples=Samples(size=self.facts.sample.size, files=self.facts.sample.files,
                                      note=self.facts.sample.note))  # fmt: skip
        return st

    async def run(self) -> None:
        f = self.facts
        mappings = await self.rpcbind()
        nfs_port = self.service.port if self.service.port != PORTMAP_PORT else NFS_PORT
        mountd_port: int | None = None
        nfs_versions: set[int] = set()
        if mappings is not None:
            tcp = self.select_transport(mappings)
            nfs = [m for m in tcp if m.prog == nfs3.NFS_PROG]
            if nfs:
                nfs_port = nfs[0].port
                nfs_versions = {m.vers for m in nfs}
            mnt = [m for m in tcp if m.prog == mount.MOUNT_PROG and m.vers == mount.MOUNT_V3]
            if mnt:
                mountd_port = mnt[0].port
            f.registered = bool(nfs or mnt)
            if not f.registered:
                return
        f.nfs_port = nfs_port
        if mountd_port and f.want_v3:
            await self.v3(mountd_port, nfs_port)
        if f.want_v4 and (not nfs_versions or 4 in nfs_versions):
            await self.v4(nfs_port, required=not (mountd_port and f.want_v3))

    # -- rpcbind --------------------------------------------------------------------------
    def connect(self, port: int) -> contextlib.AbstractAsyncContextManager[RPCClient]:
        return rpc.connect(self.ctx.dialer, self.host, port, transport=self.facts.transport)

    def select_transport(self, mappings: list[portmap.Mapping]) -> list[portmap.Mapping]:
        """The mappings of our transport; switch to the other one if NFS/MOUNT lack ours."""
        progs = (nfs3.NFS_PROG, mount.MOUNT_PROG)
        mine = self.facts.transport
        for transport in (mine, "udp" if mine == "tcp" else "tcp"):
            prot = portmap.IPPROTO_UDP if transport == "udp" else portmap.IPPROTO_TCP
            chosen = [m for m in mappings if m.prot == prot]
            if any(m.prog in progs for m in chosen):
                self.facts.transport = transport
                return chosen
        return []

    async def _dump(self, port: int, transport: str) -> list[portmap.Mapping]:
        async with rpc.connect(self.ctx.dialer, self.host, port, transport=transport) as c:
            self.facts.privileged_source_port = (c.source_port or 4096) < 1024
            return await portmap.dump(c)

    async def rpcbind(self) -> list[portmap.Mapping] | None:
        port = self.service.port if self.service.port != NFS_PORT else PORTMAP_PORT
        try:
            try:
                mappings = await self._dump(port, self.facts.transport)
            except (OSError, TimeoutError) as tcp_exc:
                if self.facts.transport != "tcp" or port != PORTMAP_PORT:
                    raise
                # a portmapper reachable over UDP only (old servers, filtered TCP)
                try:
                    mappings = await self._dump(port, "udp")
                except (OSError, TimeoutError):
                    raise tcp_exc from None  # what TCP said (a silent port is no "refused")
                self.facts.rpcbind_transport = "udp"
        except (OSError, TimeoutError, *PROTOCOL_ERRORS, rpc.RPCDeniedError):
            if port == self.service.port:
                raise  # the service we were asked about is not a working rpcbind
            return None  # probing 2049: rpcbind on 111 is optional
        self.facts.rpc_programs = sorted(
            {f"{m.name} v{m.vers}/{m.proto}:{m.port}" for m in mappings}
        )[:64]
        return mappings

    # -- NFSv3 via MOUNT ---------------------------------------------------------------------
    async def v3(self, mountd_port: int, nfs_port: int) -> None:
        f = self.facts
        bounds = self.ctx.bounds
        async with self.connect(mountd_port) as mc:
            exports = await mount.export(mc)
            f.export_list = exports[: bounds.resources]
            exports = [e for e in exports if not f.only or e.path in f.only]
            todo = exports[: bounds.resources]
            for e in todo:
                self.export(e.path).clients = e.clients
            if not todo:
                return
            async with self.connect(nfs_port) as nc:
                for e in todo:
                    await self.v3_export(mc, nc, self.export(e.path))

    async def v3_export(self, mc: RPCClient, nc: RPCClient, st: ExportFacts) -> None:
        try:
            res = await mount.mnt(mc, st.path, self.cred)
        except rpc.RPCDeniedError as exc:
            if exc.is_auth_error:
                st.auth_required.add("nfsv3")
            st.errors.append(f"nfsv3 MNT: {exc}")
            return
        if not res.ok:
            if res.status in (1, 13):  # PERM / ACCES: this host or identity is not allowed
                st.auth_required.add("nfsv3")
            st.errors.append(f"nfsv3 MNT: {res.error}")
            return
        st.flavors.update(res.flavors)
        handles: dict[str, Any] = {}
        try:
            listing = await crawl_export(
                res.fhandle, _v3_lister(nc, self.cred), self.ctx.bounds, handles, self.facts.seed,
                progress=st.crawling, version="nfsv3",
            )
            st.versions.add("nfsv3")
            st.listing = _merge(st.listing, listing)
            with contextlib.suppress(nfs3.NFS3Error, *PROTOCOL_ERRORS):
                st.access_bits = await nfs3.access(nc, res.fhandle, self.cred)
            if st.samples.on:
                await self.v3_samples(nc, st, listing, handles)
        except rpc.RPCDeniedError as exc:
            if exc.is_auth_error:
                st.auth_required.add("nfsv3")
            st.errors.append(f"nfsv3 READDIRPLUS: {exc}")
        except nfs3.NFS3Error as exc:
            if exc.status in (nfs3.NFS3Stat.NFS3ERR_PERM, nfs3.NFS3Stat.NFS3ERR_ACCES):
                st.auth_required.add("nfsv3")
            st.errors.append(f"nfsv3 {exc}")
        finally:
            with contextlib.suppress(OSError, TimeoutError, *PROTOCOL_ERRORS, rpc.RPCDeniedError):
                await mount.umnt(mc, st.path, self.cred)

    async def v3_samples(
        self, nc: RPCClient, st: ExportFacts, listing: Listing, handles: dict[str, Any]
    ) -> None:
        """INTRUSIVE (``--sample-bytes N``): one NFSv3 READ of the first N bytes of each of a
        few files, the telling ones first. Never more than N bytes per file."""
        s = st.samples
        if nc.transport == "udp" and s.size > MAX_SAMPLE_READ_UDP:
            s.size = MAX_SAMPLE_READ_UDP  # the reply must fit one datagram
            s.note = f"at most {MAX_SAMPLE_READ_UDP} bytes are read per file over UDP"
        readable = [e for e in listing.entries if e.path in handles]
        for e in choose_samples(readable, s.files):
            try:
                reply = await nfs3.read(nc, handles[e.path], s.size, self.cred)
            except TimeoutError:
                s.errors[e.path] = "timeout"
                break  # a server that stops answering gets no more reads
            except (nfs3.NFS3Error, rpc.RPCDeniedError, *PROTOCOL_ERRORS) as exc:
                s.errors[e.path] = str(exc)[:120]
                continue
            s.data[e.path] = reply.data[: s.size]

    # -- NFSv4 -------------------------------------------------------------------------------
    async def v4(self, nfs_port: int, *, required: bool) -> None:
        try:
            # RFC 7530 3.1: NFSv4 needs a congestion-controlled transport (servers refuse UDP)
            async with rpc.connect(self.ctx.dialer, self.host, nfs_port, transport="tcp") as nc:
                await self._v4_walk(nc)
        except rpc.RPCAcceptError as exc:
            if required:
                raise
            self.facts.notes.append(f"nfsv4: {exc}")
        except (V4Error, rpc.RPCDeniedError) as exc:
            if required and not self.facts.exports:
                raise rpc.RPCProtocolError(f"NFSv4 pseudo-root not readable: {exc}") from exc
            self.facts.notes.append(f"nfsv4: {exc}")

    async def _v4_walk(self, nc: RPCClient) -> None:
        f = self.facts
        bounds = self.ctx.bounds
        lister = _v4_lister(nc, self.cred)
        root = await nfs4.compound(nc, [nfs4.putrootfh(), nfs4.getattr_op()], self.cred)
        if not root.ok:
            raise V4Error(root.status)
        root_attrs: nfs4.Attrs = root.value(nfs4.OP_GETATTR)
        f.nfsv4 = True
        # walk the pseudo-filesystem: an fsid change (or a WRONGSEC) marks an export root
        queue: list[tuple[str, tuple[int, int] | None, int]] = [("/", root_attrs.fsid, 0)]
        seen_dirs = 0
        found: list[str] = []
        while queue and seen_dirs < MAX_V4_PSEUDO_DIRS and len(found) < bounds.resources:
            path, fsid, depth = queue.pop(0)
            seen_dirs += 1
            res_entries = await self._v4_entries(nc, path)
            has_files = any(e.attrs.type == nfs4.NF4REG for e in res_entries)
            if path == "/" and has_files:
                found.append("/")  # the root itself is a real export (fsid=0 style)
                break
            for e in res_entries:
                child = f"{path.rstrip('/')}/{e.name}"
                if e.attrs.rdattr_error == nfs4.NFS4ERR_WRONGSEC:
                    await self._v4_wrongsec(nc, path, e.name)
                    continue
                if not e.attrs.is_dir and e.attrs.type is not None:
                    continue
                if e.attrs.fsid is not None and fsid is not None and e.attrs.fsid != fsid:
                    found.append(child)
                elif depth + 1 < MAX_V4_PSEUDO_DEPTH:
                    queue.append((child, fsid, depth + 1))
        # exports known from MOUNT but not met in the walk (pseudo path == export path)
        for p in f.exports:
            if p not in found and len(found) < bounds.resources:
                found.append(p)
        for p in found:
            if f.only and p not in f.only:
                continue
            st = self.export(p)
            try:
                listing = await crawl_export(p, lister, bounds, seed=f.seed,
                                             progress=st.crawling, version="nfsv4")
            except V4Error as exc:
                if exc.status == nfs4.NFS4ERR_WRONGSEC:
                    await self._v4_wrongsec(nc, *_split(p))
                elif exc.status in (1, 13):
                    st.auth_required.add("nfsv4")
                st.errors.append(f"nfsv4 READDIR: {exc}")
                continue
            st.versions.add("nfsv4")
            st.flavors.add(AuthFlavor.AUTH_SYS)
            st.listing = _merge(st.listing, listing)

    async def _v4_entries(self, nc: RPCClient, path: str) -> list[nfs4.Entry4]:
        res = await nfs4.compound(nc, [*nfs4.path_ops(path), nfs4.readdir()], self.cred)
        dl = res.value(nfs4.OP_READDIR)
        return list(dl.entries) if dl else []

    async def _v4_wrongsec(self, nc: RPCClient, parent: str, name: str) -> None:
        path = f"{parent.rstrip('/')}/{name}"
        if self.facts.only and path not in self.facts.only:
            return
        st = self.export(path)
        st.auth_required.add("nfsv4")
        with contextlib.suppress(*PROTOCOL_ERRORS, rpc.RPCDeniedError):
            res = await nfs4.compound(nc, [*nfs4.path_ops(parent), nfs4.secinfo(name)], self.cred)
            flavors = res.value(nfs4.OP_SECINFO) or []
            st.flavors.update(f.pseudo_flavor for f in flavors)


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rstrip("/").rpartition("/")
    return parent or "/", name


def _merge(a: Listing | None, b: Listing) -> Listing:
    """Keep the larger listing (v3 and v4 list the same tree)."""
    if a is None or len(b.entries) > len(a.entries):
        return b
    return a


PROBE = NFSProbe()
