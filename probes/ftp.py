"""FTP probe: anonymous login (by reply code), encryption none/optional/required, bounded listing.

- Anonymous access is judged by the reply code only: 230 after ``USER anonymous`` (and ``PASS``),
  never by words in a banner.
- Encryption: is AUTH TLS offered (FEAT) and accepted (234)? Can a login be *attempted* in
  plaintext (``USER <name>`` answered 331/230 before any TLS)? If plaintext USER is refused (530)
  but accepted after AUTH TLS, the server requires encryption. Implicit FTPS (port 990, or a
  service already known to be TLS) is encrypted from the first byte.
- Listing: passive mode (EPSV, else PASV) to the host we dialed, never the address in a 227
  reply; MLSD when FEAT offers MLST, else LIST with the unix/DOS parsers; bounded by
  ``ctx.bounds``; nothing is written. A "writable" flag is only a labelled hint from the listing.
- Intrusive, only with ``--sample-bytes N`` (``ctx.sample_bytes > 0``) and only after an anonymous
  login that listed files: a few files (``ftp.sample_files``, default 3, at most
  ``MAX_SAMPLE_FILES``, chosen by ``scanner.classify.magic.choose_samples``) are fetched with
  TYPE I, passive mode to the dialed host and RETR; at most min(N, 64 KiB) bytes are read off the
  data connection, which is then closed (ABOR, replies read with bounds). Sniffed into
  ``evidence["sniffed"]``. Never STOR, DELE or any other writing command.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scanner.classify.magic import choose_samples
from scanner.crawl import Budget, Crawler, CrawlResult, Item, Lister, NotListable, Page, join
from scanner.dialer import Connection
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Finding,
    Listing,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.probe import ProbeContext, ProbeOption, not_applicable
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe, Samples
from scanner.protocols import ftp as ftpp

PROTOCOL = "ftp"
IMPLICIT_TLS_PORTS = (990,)
SHARED_PORTS = (2121,)
"""Default ports that other services use too (HTTP on 2121 ...): a silent or non-FTP answer
there is ``not-applicable``, so the engine goes on to identify the port."""
ANON_PASSWORD = "nasscan@example.invalid"


@dataclass
class FtpFacts(Facts):
    implicit_tls: bool = False
    use_mlsd: bool = True
    """Option ``ftp.mlsd``: list with MLSD when FEAT offers MLST."""
    seed: int = 0
    greeting: ftpp.Reply | None = None
    """The first reply (None: no well-formed FTP reply arrived)."""
    banner: str = ""
    feats: set[str] = field(default_factory=set)
    auth_tls_offered: bool = False
    auth_tls_accepted: bool | None = None
    plaintext_user_reply: int | None = None
    tls_user_reply: int | None = None
    anonymous: str = "not tried"
    anonymous_over_tls: bool = False
    anon_user_reply: int | None = None
    anon_pass_reply: int | None = None
    listing: Listing | None = None
    listing_method: str | None = None
    mlsd: bool = False
    crawl: CrawlResult | None = None
    """The crawl's result as it grows: a probe cut short still reports what it had listed."""
    writable_hint: str | None = None
    readable_hint: bool = False
    transcript: list[str] = field(default_factory=list)
    listing_error: Cut | None = None
    """What broke the listing (the probe went on): the attempt ends with its status."""
    samples: Samples = field(default_factory=lambda: Samples(aborted=0))
    """``--sample-bytes``: the first bytes of a few listed files (off: ``size == 0``)."""

    @property
    def greeted(self) -> bool:
        """A well-formed FTP reply arrived as the greeting."""
        return self.greeting is not None

    @property
    def accepted(self) -> bool:
        return self.anonymous.startswith("accepted")


class FtpProbe(GatherJudgeProbe[FtpFacts]):
    name: ClassVar[str] = "ftp"
    default_ports: ClassVar[tuple[int, ...]] = (21, 2121, 990)
    description: ClassVar[str] = (
        "FTP/FTPS: anonymous login, plaintext logins, AUTH TLS optional or required, "
        "bounded listing"
    )
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("mlsd", "bool", True, "list with MLSD when FEAT offers MLST"),
    )
    protocol_errors = (ftpp.FtpProtocolError, ValueError, asyncio.IncompleteReadError)
    timeout_detail = "FTP server did not answer in time"

    def matches_greeting(self, greeting: bytes) -> bool:
        """A 220 reply line (single or multi-line) that is not an SMTP greeting."""
        head = greeting[:512]
        if not (head.startswith(b"220 ") or head.startswith(b"220-")):
            return False
        first = head.split(b"\n", 1)[0].upper()
        return b"SMTP" not in first and b"ESMTP" not in first

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> FtpFacts:
        samples = Samples.for_context(ctx, "ftp")
        samples.aborted = 0
        return FtpFacts(
            service,
            implicit_tls=service.port in IMPLICIT_TLS_PORTS or service.tls is True,
            use_mlsd=bool(self.option(ctx, "mlsd")),
            seed=int(ctx.option("seed", 0) or 0),
            samples=samples,
        )

    # -- connections ----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _session(
        self, service: ServiceInfo, ctx: ProbeContext, facts: FtpFacts
    ) -> AsyncIterator[tuple[Connection, ftpp.FtpClient, ftpp.Reply]]:
        async with ctx.dialer.tcp(service.host, service.port, tls=facts.implicit_tls) as conn:
            client = ftpp.FtpClient(conn)
            greeting = await client.greeting()
            try:
                yield conn, client, greeting
            finally:
                if len(facts.transcript) < 60:
                    facts.transcript.extend(client.transcript[: 60 - len(facts.transcript)])
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.send(b"QUIT\r\n"), 1.0)

    async def _start_tls(self, conn: Connection, client: ftpp.FtpClient, ctx: ProbeContext) -> bool:
        r = await client.command("AUTH TLS")
        if r.code != 234:
            return False
        await asyncio.wait_for(
            conn.writer.start_tls(ctx.dialer.tls_context, server_hostname=None),
            ctx.dialer.read_timeout,
        )
        return True

    # -- gather ---------------------------------------------------------------------------------
    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: FtpFacts, deadline: Deadline
    ) -> None:
        # 1. greeting, FEAT, anonymous login in the clear (or over implicit TLS)
        async with self._session(service, ctx, facts) as (conn, client, greeting):
            facts.banner = greeting.message[:200]
            facts.greeting = greeting
            if greeting.code != 220:
                return
            feat = await client.command("FEAT")
            facts.feats = ftpp.parse_feat(feat)
            facts.auth_tls_offered = ftpp.auth_tls_offered(facts.feats)
            anon_ok = await self._anonymous(client, facts)
            if anon_ok:
                facts.anonymous = "accepted"
                await self._list_safely(service, ctx, client, facts, deadline)
                await self._sample_safely(service, ctx, client, facts)
            else:
                codes = [c for c in (facts.anon_user_reply, facts.anon_pass_reply) if c]
                facts.anonymous = "refused (" + "/".join(str(c) for c in codes) + ")"

        # 2. can a login be attempted in plaintext? (a random name, no password ever sent)
        if facts.implicit_tls:
            return
        probe_user = "nasscan-" + secrets.token_hex(4)
        async with self._session(service, ctx, facts) as (conn, client, _g):
            r = await client.command(f"USER {probe_user}")
            facts.plaintext_user_reply = r.code
        # 3. explicit TLS: offered/accepted? would the same USER be taken after AUTH TLS?
        async with self._session(service, ctx, facts) as (conn, client, _g):
            try:
                facts.auth_tls_accepted = await self._start_tls(conn, client, ctx)
            except (OSError, TimeoutError) as exc:
                ctx.log.debug("ftp %s: TLS upgrade failed: %s", service.host, exc)
                facts.auth_tls_accepted = False
            if facts.auth_tls_accepted:
                r = await client.command(f"USER {probe_user}")
                facts.tls_user_reply = r.code
                if not anon_ok:
                    # anonymous may be allowed over TLS only
                    await client.command("PBSZ 0")
                    await client.command("PROT P")
                    if await self._anonymous(client, facts, over_tls=True):
                        facts.anonymous = "accepted over TLS only"
                        facts.anonymous_over_tls = True
                        await self._list_safely(service, ctx, client, facts, deadline)
                        await self._sample_safely(service, ctx, client, facts)

    # -- judge ----------------------------------------------------------------------------------
    def judge(self, facts: FtpFacts, cut: Cut | None) -> ProbeResult:
        if cut is not None:
            if (not facts.greeted and facts.service.port in SHARED_PORTS
                    and cut.status in (Status.TIMEOUT, Status.PROTOCOL_ERROR)):
                return not_applicable(f"no FTP greeting ({cut.error})")
            if cut.status is Status.REFUSED and not facts.greeted:
                return cut.result()
            return self._partial(facts, cut.status, cut.detail)
        greeting = facts.greeting
        if greeting is not None and greeting.code != 220:
            status = Status.REFUSED if greeting.kind == 4 else Status.PROTOCOL_ERROR
            return self._partial(facts, status, f"greeting {greeting.code}")
        findings = [f for f in (self._cleartext_finding(facts), self._anonymous_finding(facts))
                    if f is not None]
        status = Status.SUCCESS if facts.accepted else Status.AUTH_REQUIRED
        detail = None if facts.accepted else "anonymous login refused"
        if facts.listing_error is not None:
            # the listing broke (hostile or firewalled data channel): say so in the status,
            # keep every finding already proven
            status, detail = facts.listing_error.status, facts.listing_error.detail
        return ProbeResult(
            status=status,
            protocol=PROTOCOL,
            tls=facts.implicit_tls,
            findings=findings,
            detail=detail,
            info=_info(facts),
        )

    def _partial(self, facts: FtpFacts, status: Status, detail: str) -> ProbeResult:
        """An attempt cut short. What was already proven stays reported: an accepted anonymous
        login is a finding even when the listing (e.g. unreachable passive ports) failed."""
        listing = facts.listing
        if listing is None and facts.crawl is not None and facts.crawl.dirs_listed:
            listing = facts.crawl.listing()
        if listing is not None:
            listing = listing.model_copy(
                update={"truncated": True, "partial": listing.partial or detail[:200]}
            )
        anonymous = self._anonymous_finding(facts, listing)
        return ProbeResult(
            status=status,
            protocol=PROTOCOL if facts.banner else None,
            findings=[anonymous] if anonymous is not None else [],
            detail=detail[:300],
            info=_info(facts),
        )

    async def _list_safely(
        self, service: ServiceInfo, ctx: ProbeContext, client: ftpp.FtpClient, facts: FtpFacts,
        deadline: Deadline,
    ) -> None:  # fmt: skip
        """List through the shared crawler; what broke the listing is recorded, what was
        listed before it is kept (partial), the probe goes on."""
        crawler = Crawler(
            self._lister(service, ctx, client, facts), ctx.bounds,
            stop_on_error=True,  # the control connection is in an unknown state after a failure
            # about half the attempt's time at most: the TLS checks still have to run
            deadline=deadline.sooner(max(1.0, deadline.total * 0.55)).at,
            seed=facts.seed,
        )  # fmt: skip
        facts.crawl = crawler.result
        result = await crawler.run()
        facts.listing_method = "MLSD" if facts.mlsd else "LIST"
        if result.dirs_listed:
            facts.listing = result.listing()
        exc = result.last_error
        if exc is None:
            return
        cut = self.cut_for(exc)
        if cut.status is Status.TIMEOUT:
            facts.listing_error = Cut(Status.TIMEOUT, "listing timed out", cut.error)
        elif cut.status is Status.PROTOCOL_ERROR:
            facts.listing_error = Cut(Status.PROTOCOL_ERROR, f"listing: {cut.detail}"[:300],
                                      cut.error)
        else:  # the control connection worked: a failed data channel is an error, not refused
            facts.listing_error = Cut(
                Status.ERROR, f"listing: {cut.error}: {exc}"[:300], cut.error
            )

    def _lister(
        self, service: ServiceInfo, ctx: ProbeContext, client: ftpp.FtpClient, facts: FtpFacts
    ) -> Lister:
        """List one directory (paths are relative to the login directory on the wire)."""
        open_data, upgrade = _data_channel(service, ctx)
        # option ftp.mlsd=false: LIST only (for servers whose MLSD is broken)
        facts.mlsd = ftpp.feat_has(facts.feats, "MLST") and facts.use_mlsd
        typed = False

        async def once(path: str, budget: Budget) -> ftpp.ListResult:
            res = await client.list_dir(
                path.lstrip("/"), open_data, mlsd=facts.mlsd,
                max_entries=ctx.bounds.entries, max_bytes=max(1, budget.bytes_left),
                upgrade=upgrade if facts.anonymous_over_tls else None,
            )  # fmt: skip
            budget.spend(res.bytes_read)
            return res

        async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
            nonlocal typed
            if not typed:
                await client.command("TYPE I")
                typed = True
            try:
                res = await once(path, budget)
            except ftpp.FtpProtocolError:
                if path != "/" or not facts.mlsd or not budget.take():
                    raise
                facts.mlsd = False  # MLSD advertised but broken: fall back to LIST once
                res = await once(path, budget)
            ok = res.reply is not None and res.reply.kind == 2
            if path == "/" and not ok and not res.entries and facts.mlsd and budget.take():
                facts.mlsd = False
                res = await once(path, budget)
                ok = res.reply is not None and res.reply.kind == 2
            if not ok and not res.entries:
                code = res.reply.code if res.reply is not None else "no reply"
                raise NotListable(f"listing refused ({code})")
            for e in res.entries:
                self._hints(facts, e, join(path, e.name))
            items = [
                Item(name=e.name, is_dir=e.is_dir, size=e.size, mtime=e.mtime, link=e.is_link)
                for e in res.entries
            ]
            return Page(items, bad=res.bad, complete=not res.truncated)

        return list_dir

    async def _anonymous(
        self, client: ftpp.FtpClient, facts: FtpFacts, *, over_tls: bool = False
    ) -> bool:
        r1, r2 = await client.login("anonymous", ANON_PASSWORD)
        if not over_tls or r1.code == 230 or (r2 and r2.code == 230):
            facts.anon_user_reply = r1.code
            facts.anon_pass_reply = r2.code if r2 else None
        if r1.code == 230:
            return True
        return r2 is not None and r2.code == 230

    async def _sample_safely(
        self, service: ServiceInfo, ctx: ProbeContext, client: ftpp.FtpClient, facts: FtpFacts
    ) -> None:
        """INTRUSIVE (``--sample-bytes N``): the first bytes of a few listed files, on the
        anonymous session that listed them. Never called into action when N is 0."""
        samples = facts.samples
        if not samples.on or facts.listing is None or facts.listing_error is not None:
            return
        chosen = choose_samples(facts.listing.entries, samples.files)
        if not chosen:
            return
        n = samples.size
        open_data, upgrade = _data_channel(service, ctx)
        rt = ctx.dialer.read_timeout
        try:
            r = await client.command("TYPE I")
            if r.kind != 2:
                samples.errors["*"] = f"TYPE I refused ({r.code})"
                return
        except (TimeoutError, OSError, ftpp.FtpProtocolError, ValueError) as exc:
            samples.errors["*"] = f"{type(exc).__name__}: {exc}"[:120]
            return
        for e in chosen:
            try:
                res = await asyncio.wait_for(
                    client.retrieve_head(
                        e.path.lstrip("/"),  # relative to the login directory
                        open_data,
                        n,
                        upgrade=upgrade if facts.anonymous_over_tls else None,
                        reply_timeout=min(rt, 3.0),
                    ),
                    rt * 3,  # EPSV/PASV, RETR, the data, the closing replies
                )
            except (
                TimeoutError,
                OSError,
                ftpp.FtpProtocolError,
                ValueError,
                asyncio.IncompleteReadError,
            ) as exc:
                samples.errors[e.path] = f"{type(exc).__name__}: {exc}"[:120]
                break  # the control connection is in an unknown state: no more commands on it
            if res.data or (res.reply is not None and res.reply.kind == 2):
                samples.data[e.path] = res.data[:n]
            elif res.reply is not None:
                samples.errors[e.path] = f"RETR {res.reply.code}"
            samples.aborted = (samples.aborted or 0) + int(res.aborted)
            if not res.in_sync:
                samples.errors.setdefault(e.path, "no clean end after ABOR")
                break

    @staticmethod
    def _hints(facts: FtpFacts, e: ftpp.FtpEntry, rel: str) -> None:
        mode = e.mode or ""
        if not e.is_dir and not facts.readable_hint:
            unix_r = len(mode) == 10 and mode[7] == "r"  # unix: world-readable file
            mlsd_r = bool(mode) and len(mode) != 10 and "r" in mode  # MLSD perm fact
            if unix_r or mlsd_r:
                facts.readable_hint = True
        if facts.writable_hint is None and e.is_dir:
            if len(mode) == 10 and mode[8] == "w":
                facts.writable_hint = f"world-writable directory in listing: {rel}"[:200]
            elif mode and len(mode) != 10 and any(c in mode for c in "cmp"):
                facts.writable_hint = f"MLSD perm '{mode}' on {rel}"[:200]

    # -- findings --------------------------------------------------------------------------------
    def _encryption(self, facts: FtpFacts) -> Encryption:
        if facts.implicit_tls:
            return Encryption.REQUIRED
        plaintext_login = facts.plaintext_user_reply in (230, 331, 332) or (
            facts.anonymous == "accepted" and not facts.implicit_tls
        )
        if facts.auth_tls_accepted is None:
            return Encryption.UNKNOWN  # cut short before AUTH TLS was tried
        if not facts.auth_tls_accepted:
            return Encryption.NONE
        if plaintext_login:
            return Encryption.OPTIONAL
        if facts.tls_user_reply in (230, 331, 332):
            return Encryption.REQUIRED
        return Encryption.UNKNOWN

    def _cleartext_finding(self, facts: FtpFacts) -> Finding | None:
        """Logins can travel in plaintext (encryption none or optional), or None."""
        enc = self._encryption(facts)
        plaintext_login = not facts.implicit_tls and (
            facts.plaintext_user_reply in (230, 331, 332) or facts.anonymous == "accepted"
        )
        if not plaintext_login or enc not in (Encryption.NONE, Encryption.OPTIONAL):
            return None
        return self.cleartext(
            facts,
            "FTP logins can be sent in plaintext"
            if enc is Encryption.OPTIONAL
            else "FTP without encryption: logins and data travel in plaintext",
            authentication=Authentication.UNKNOWN,
            encryption=enc,
            evidence={
                "auth_tls_in_feat": facts.auth_tls_offered,
                "auth_tls_accepted": facts.auth_tls_accepted,
                "plaintext_user_reply": facts.plaintext_user_reply,
                "anonymous_login": facts.anonymous,
            },
            remediation="Require TLS for logins and data (vsftpd: ssl_enable=YES, "
            "force_local_logins_ssl=YES, force_local_data_ssl=YES) or use SFTP.",
        )

    def _anonymous_finding(
        self, facts: FtpFacts, listing: Listing | None = None
    ) -> Finding | None:
        """The accepted anonymous login, or None; ``listing`` replaces ``facts.listing`` (a
        listing cut short)."""
        if not facts.accepted:
            return None
        listing = listing if listing is not None else facts.listing
        evidence: dict[str, Any] = {
            "user_reply": facts.anon_user_reply,
            "pass_reply": facts.anon_pass_reply,
            "banner": facts.banner[:120],
        }
        access: Access | None = None
        if listing is not None:
            access = Access.READ if facts.readable_hint else Access.LIST
            evidence["method"] = facts.listing_method
        else:
            evidence["listing"] = "login accepted, listing refused or unavailable"
        if facts.writable_hint:
            evidence["writable_hint"] = "HINT (not tested): " + facts.writable_hint
        if facts.samples.size > 0:
            evidence.update(facts.samples.evidence())
        return self.unauthenticated(
            facts, "/",
            "FTP accepts anonymous logins" + (" and lists files" if listing is not None else ""),
            authentication=Authentication.ANONYMOUS,
            encryption=Encryption.REQUIRED if facts.anonymous_over_tls
            else self._encryption(facts),
            access=access,
            evidence=evidence,
            listing=listing,
            remediation="Disable anonymous FTP (vsftpd: anonymous_enable=NO) or restrict "
            "it to a directory meant to be public.",
        )  # fmt: skip


def _data_channel(service: ServiceInfo, ctx: ProbeContext) -> tuple[ftpp.DataDialer, Any]:
    """(open_data, upgrade): passive data connections to the host we dialed (never the
    address in a 227 reply), and the TLS start for PROT P."""

    @contextlib.asynccontextmanager
    async def open_data(port: int) -> AsyncIterator[Connection]:
        async with ctx.dialer.tcp(service.host, port) as c:
            yield c

    async def upgrade(data: object) -> None:
        assert isinstance(data, Connection)
        await asyncio.wait_for(
            data.writer.start_tls(ctx.dialer.tls_context), ctx.dialer.read_timeout
        )

    return open_data, upgrade


def _info(facts: FtpFacts) -> dict[str, Any]:
    return {
        "banner": facts.banner,
        "implicit_tls": facts.implicit_tls,
        "features": sorted(facts.feats)[:30],
        "auth_tls_in_feat": facts.auth_tls_offered,
        "auth_tls_accepted": facts.auth_tls_accepted,
        "plaintext_user_reply": facts.plaintext_user_reply,
        "tls_user_reply": facts.tls_user_reply,
        "anonymous": facts.anonymous,
        "listing_method": facts.listing_method,
        "transcript": facts.transcript[:60],
    }


PROBE = FtpProbe()
