"""SMB probe: dialects, signing, encryption (capable vs required), null/guest sessions, shares.

Which code does what (see the README's "why these libraries"):

- ``scanner.protocols.smb`` (ours, asyncio over ``ctx.dialer.tcp``): SMB2/3 and SMB1 NEGOTIATE,
  null and guest SESSION_SETUP (session flags IS_GUEST / IS_NULL / ENCRYPT_DATA), TREE_CONNECT
  (share flags ENCRYPT_DATA, share type), CREATE with ``MxAc`` (maximal access: write judged
  without writing) and the bounded QUERY_DIRECTORY crawl. The libraries do not expose these
  flags, and they refuse guest sessions when signing is on.
- pysmb through ``scanner.protocols.smb.pysmb_adapter`` (blocking, in
  ``ctx.dialer.run_blocking`` on a socket from ``ctx.dialer.blocking_socket``): SRVSVC
  NetShareEnumAll (over SMB1 or SMB 2.0.2), and the whole share check on SMB1-only servers,
  which our client does not speak past NEGOTIATE.

A share is reported readable only if listing its root succeeds (``map to guest = Bad User`` makes
Samba accept every login, so "the session was accepted" proves nothing; nuclei #7752). Read
access to files is judged from the maximal access (``MxAc``) of one listed file, opened for its
attributes only: without ``--sample-bytes`` no file is ever opened for reading.

Intrusive, only with ``--sample-bytes N`` (``ctx.sample_bytes > 0``) and only on shares already
found listable without credentials: a few files per share (``smb.sample_files``, default 3, at
most ``MAX_SAMPLE_FILES``, chosen by ``scanner.classify.magic.choose_samples``) are opened
read-only (FILE_READ_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE, share access read, FILE_OPEN),
read once at offset 0 for min(N, 64 KiB) bytes and closed (SMB2/3); on SMB1-only servers pysmb's
``retrieveFileFromOffset`` with ``max_length`` (its read size cut to the same bound) fills a
buffer that keeps at most that many bytes. Sniffed into ``evidence["sniffed"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from scanner.classify.magic import choose_samples
from scanner.crawl import Budget, Item, Lister, NotListable, Page, crawl
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Finding,
    Kind,
    Listing,
    ProbeResult,
    ServiceInfo,
    Status,
)
from scanner.probe import ProbeContext, ProbeOption
from scanner.probe_skeleton import Cut, Deadline, Facts, GatherJudgeProbe, Samples
from scanner.protocols.smb import client, pysmb_adapter
from scanner.protocols.smb.constants import (
    ALL_DIALECTS,
    DIALECT_NAMES,
    MAX_READ_LENGTH,
    WRITE_BITS,
    AccessMask,
    FileAttributes,
    NtStatus,
    ShareType,
    cipher_name,
    status_name,
)
from scanner.protocols.smb.errors import SmbProtocolError, SmbStatusError
from scanner.protocols.smb.messages import DirEntry, NegotiateInfo, SessionSetupResponse
from scanner.protocols.smb.pysmb_adapter import DeviceType
from scanner.protocols.smb.smb1 import Smb1NegotiateInfo

PROTOCOL = "smb"

COMMON_SHARES: tuple[str, ...] = (
    "public", "share", "shares", "shared", "data", "files", "backup", "backups", "media",
    "music", "video", "photos", "pictures", "recordings", "home", "homes", "users", "scans",
    "ftp", "web", "www", "docs", "documents", "nas", "storage", "transfer", "temp", "tmp",
    "software", "install", "archive", "C$", "D$", "E$", "ADMIN$", "NETLOGON", "SYSVOL",
)  # fmt: skip
"""Tried when share enumeration is denied: one TREE_CONNECT each; at most
``ctx.bounds.resources`` readable shares are crawled."""

NOT_STORAGE = {"IPC$", "PRINT$"}
MAX_SAMPLE_READ = MAX_READ_LENGTH
"""Bytes read per sampled file: min(--sample-bytes, this); one READ per file."""
MAX_CANDIDATES = 64
"""Shares looked at per server (enumerated or from the built-in list), one TREE_CONNECT each."""


@dataclass
class ShareInfo:
    name: str
    type: int | None = None  # pysmb type (0 disk, 1 printer, 3 IPC) when enumerated
    comment: str = ""

    @property
    def is_storage(self) -> bool:
        if self.name.upper() in NOT_STORAGE:
            return False
        return self.type in (None, DeviceType.DISK)


@dataclass
class ShareResult:
    name: str
    readable: bool = False
    authentication: Authentication | None = None
    access: Access | None = None
    listing: Listing | None = None
    maximal_access: int | None = None
    share_flags: int | None = None
    encrypt_data: bool = False
    detail: str = ""
    samples: Samples = field(default_factory=Samples)
    """``--sample-bytes``: what was read of this share's files."""


@dataclass
class SmbFacts(Facts):
    """What ``gather`` saw; ``judge`` decides from this alone."""

    sampling: Samples = field(default_factory=Samples)
    """``--sample-bytes`` settings (size, files, note); each share gets a copy to fill."""
    smb2_error: str | None = None
    """Why the SMB2 NEGOTIATE got no answer ("timeout", or the exception)."""
    smb1_error: str | None = None
    dialects: list[str] = field(default_factory=list)
    max_dialect: str | None = None
    smb1: bool = False
    smb2: bool = False
    signing_required: bool | None = None
    signing_enabled: bool = False
    encryption_capable: bool = False
    cipher: str | None = None
    null_session: str = "not tried"
    guest_session: str = "not tried"
    session_encrypt_data: bool | None = None
    user_session: str = "no credentials given"
    enumeration: str = "not tried"
    shares: list[ShareInfo] = field(default_factory=list)
    results: list[ShareResult] = field(default_factory=list)

    def new_samples(self) -> Samples:
        return replace(self.sampling, data={}, errors={})


class SmbProbe(GatherJudgeProbe[SmbFacts]):
    name: ClassVar[str] = "smb"
    default_ports: ClassVar[tuple[int, ...]] = (445,)
    description: ClassVar[str] = (
        "SMB: dialects (SMB1), signing, encryption required or not, null/guest sessions, "
        "shares listable without credentials"
    )
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("user", "str", "", "a real user, to see whether encryption is demanded"),
        ProbeOption("password", "str", "", "that user's password (never stored)", secret=True),
        ProbeOption("domain", "str", "", "that user's domain"),
    )
    facts_type: ClassVar[type[Facts]] = SmbFacts
    protocol: ClassVar[str] = PROTOCOL
    timeout_detail: ClassVar[str] = "SMB probe ran out of time"

    async def detect(self, service: ServiceInfo, ctx: ProbeContext) -> bool:
        """One SMB2 NEGOTIATE; if that is not answered, one SMB1 NEGOTIATE (SMB1-only servers)."""
        try:
            async with ctx.dialer.tcp(service.host, service.port) as conn:
                await client.negotiate(conn)
            return True
        except Exception:
            pass
        try:
            async with ctx.dialer.tcp(service.host, service.port) as conn:
                return (await client.negotiate_smb1(conn)).accepted
        except Exception:
            return False

    def new_facts(self, service: ServiceInfo, ctx: ProbeContext) -> SmbFacts:
        sampling = Samples.for_context(ctx, "smb", cap=MAX_SAMPLE_READ)
        return SmbFacts(service=service, sampling=sampling)

    # -- the steps -------------------------------------------------------------------------------
    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: SmbFacts, deadline: Deadline
    ) -> None:
        """NEGOTIATE (SMB2/3, then SMB1), the dialects, the null/guest (and the operator's user)
        sessions, then the shares. A refused connection propagates (``refused``)."""
        host, port = service.host, service.port
        neg: NegotiateInfo | None = None
        try:
            async with ctx.dialer.tcp(host, port) as conn:
                neg = await client.negotiate(conn)
        except TimeoutError:  # before OSError: TimeoutError is one
            facts.smb2_error = "timeout"
        except ConnectionRefusedError:
            raise
        except OSError as exc:
            facts.smb2_error = f"{type(exc).__name__}: {exc}"
        except (SmbProtocolError, SmbStatusError, asyncio.IncompleteReadError) as exc:
            facts.smb2_error = f"{type(exc).__name__}: {exc}"

        smb1: Smb1NegotiateInfo | None = None
        try:
            async with ctx.dialer.tcp(host, port) as conn:
                smb1 = await client.negotiate_smb1(conn)
        except (TimeoutError, OSError) as exc:
            facts.smb1_error = f"{type(exc).__name__}: {exc}"
        except (SmbProtocolError, SmbStatusError, asyncio.IncompleteReadError) as exc:
            facts.smb1_error = f"{type(exc).__name__}: {exc}"

        facts.smb1 = bool(smb1 and smb1.accepted)
        facts.smb2 = neg is not None
        if not facts.smb1 and not facts.smb2:
            return  # judge: not SMB, or no answer

        if neg is not None:
            facts.max_dialect = neg.dialect_name
            facts.signing_required = neg.signing_required
            facts.signing_enabled = neg.signing_enabled
            facts.encryption_capable = neg.encryption_capable
            if neg.cipher:
                facts.cipher = cipher_name(neg.cipher)
            facts.dialects = await self._dialects(host, port, ctx, neg)
        if facts.smb1:
            facts.dialects.insert(0, "NT LM 0.12 (SMB1)")
            if neg is None and smb1 is not None:
                facts.signing_required = smb1.signing_required
                facts.signing_enabled = smb1.signing_enabled

        # sessions and shares
        if neg is not None:
            await self._smb2_shares(host, port, ctx, facts)
        else:
            await self._smb1_shares(host, port, ctx, facts)

    async def _dialects(
        self, host: str, port: int, ctx: ProbeContext, neg: NegotiateInfo
    ) -> list[str]:
        """Which SMB2/3 dialects the server accepts: one NEGOTIATE per lower dialect."""
        accepted = [neg.dialect_name]
        for d in ALL_DIALECTS:
            if d >= neg.dialect:
                continue
            try:
                async with ctx.dialer.tcp(host, port) as conn:
                    info = await client.negotiate(conn, (d,))
                if info.dialect == d:
                    accepted.append(info.dialect_name)
            except Exception:
                continue
        return sorted(accepted, key=lambda n: _DIALECT_ORDER.get(n, 0))

    async def _smb2_login(
        self,
        host: str,
        port: int,
        ctx: ProbeContext,
        user: str,
        password: str | None = None,
        domain: str = "",
    ) -> tuple[str, SessionSetupResponse | None]:
        try:
            async with ctx.dialer.tcp(host, port) as conn:
                neg = await client.negotiate(conn)
                sess = client.Smb2Session(conn, neg)
                r = await sess.login(user, password=password, domain=domain)
        except Exception as exc:
            return f"error: {type(exc).__name__}", None
        if r.status == NtStatus.SUCCESS:
            return "accepted", r
        return f"refused ({status_name(r.status)})", r

    async def _smb2_shares(self, host: str, port: int, ctx: ProbeContext, facts: SmbFacts) -> None:
        facts.null_session, null_r = await self._smb2_login(host, port, ctx, "")
        facts.guest_session, guest_r = await self._smb2_login(host, port, ctx, "guest")
        if guest_r is not None and facts.guest_session == "accepted" and not guest_r.is_guest:
            facts.guest_session = "accepted (not flagged as guest)"
        modes: list[tuple[str, Authentication]] = []
        flags: list[bool] = []
        # guest first: on Samba a null session reaches `guest ok` shares as the guest account,
        # so "guest" names what the server grants; the null session is tried for the rest
        for user, auth, outcome, resp in (
            ("guest", Authentication.GUEST, facts.guest_session, guest_r),
            ("", Authentication.ANONYMOUS, facts.null_session, null_r),
        ):
            if outcome.startswith("accepted") and resp is not None:
                modes.append((user, auth))
                flags.append(resp.encrypt_data)
        # optional credentials (smb.user / smb.password / smb.domain): only the SESSION_SETUP
        # answer is used, to see whether the server demands encryption of a real user's session
        user_opt, pw_opt = self.option(ctx, "user"), self.option(ctx, "password", None)
        if user_opt and pw_opt is not None:
            outcome, user_r = await self._smb2_login(
                host, port, ctx, str(user_opt), str(pw_opt), str(self.option(ctx, "domain"))
            )
            facts.user_session = f"{user_opt}: {outcome}"
            if outcome == "accepted" and user_r is not None:
                flags.append(user_r.encrypt_data)
        if flags:
            # required only if every session the server accepted was told to encrypt
            facts.session_encrypt_data = all(flags)
        if not modes:
            return
        await self._enumerate(host, port, ctx, facts)
        candidates = [s for s in facts.shares if s.is_storage][:MAX_CANDIDATES]
        for user, auth in modes:
            todo = [s for s in candidates if not _readable(facts, s.name)]
            if not todo:
                break
            try:
                async with ctx.dialer.tcp(host, port) as conn:
                    neg = await client.negotiate(conn)
                    sess = client.Smb2Session(conn, neg)
                    r = await sess.login(user)
                    if r.status != NtStatus.SUCCESS:
                        continue
                    for share in todo:
                        if sum(r.readable for r in facts.results) >= ctx.bounds.resources:
                            break
                        res = await self._check_share_smb2(
                            sess, host, share.name, auth, ctx, facts.new_samples()
                        )
                        _merge(facts, res)
            except (SmbProtocolError, SmbStatusError, asyncio.IncompleteReadError,
                    OSError) as exc:  # fmt: skip
                ctx.log.debug("smb %s: share checks as %r ended: %s", host, user, exc)

    async def _check_share_smb2(
        self,
        sess: client.Smb2Session,
        host: str,
        share: str,
        auth: Authentication,
        ctx: ProbeContext,
        samples: Samples,
    ) -> ShareResult:
        res = ShareResult(name=share, samples=samples)
        tc = await sess.tree_connect(host, share)
        if tc.status != NtStatus.SUCCESS:
            res.detail = f"tree connect: {status_name(tc.status)}"
            return res
        res.share_flags = tc.share_flags
        res.encrypt_data = tc.encrypt_data
        if tc.share_type != ShareType.DISK:
            res.detail = f"not a disk share (type {tc.share_type})"
            return res
        root = await sess.open_directory(tc.tree_id, "")
        if root.status != NtStatus.SUCCESS:
            res.detail = f"open root: {status_name(root.status)}"
            return res
        res.maximal_access = root.maximal_access
        result = await crawl(
            self._smb2_lister(sess, tc.tree_id, root.file_id, ctx), ctx.bounds,
            stop_on_error=True, seed=int(ctx.option("seed", 0) or 0),
        )  # fmt: skip
        if not result.dirs_listed:
            res.detail = f"list root: {result.root_refused or '; '.join(result.partial)}"[:200]
            return res
        entries = result.entries
        res.readable = True
        res.authentication = auth
        res.listing = result.listing()
        if root.maximal_access is not None and root.maximal_access & WRITE_BITS:
            res.access = Access.WRITE
        else:
            res.access = Access.LIST
            first_file = next((e for e in entries if not e.is_dir), None)
            if first_file is not None:
                # attributes only + MxAc: whether it could be read, without opening it for reading
                fr = await sess.file_access(tc.tree_id, first_file.path.lstrip("/"))
                if fr.status == NtStatus.SUCCESS:
                    granted = fr.maximal_access or 0
                    if granted & AccessMask.FILE_READ_DATA:
                        res.access = Access.READ
                    with contextlib.suppress(SmbProtocolError):
                        await sess.close(tc.tree_id, fr.file_id)
        if samples.on:
            await self._sample_smb2(sess, tc.tree_id, res)
        return res

    @staticmethod
    async def _sample_smb2(sess: client.Smb2Session, tree_id: int, res: ShareResult) -> None:
        """INTRUSIVE (``--sample-bytes N``): the first bytes of a few files of a share that was
        just listed without credentials. One read-only CREATE, one READ, one CLOSE per file."""
        assert res.listing is not None
        samples = res.samples
        for e in choose_samples(res.listing.entries, samples.files):
            try:
                r = await sess.read_head(tree_id, e.path.lstrip("/"), samples.size)
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                samples.errors[e.path] = f"{type(exc).__name__}: {exc}"[:120]
                break  # the connection is gone or stalled: no more reads on it
            except (SmbProtocolError, ValueError) as exc:
                samples.errors[e.path] = f"{type(exc).__name__}: {exc}"[:120]
                break
            if r.status != NtStatus.SUCCESS:
                samples.errors[e.path] = status_name(r.status)
                continue
            samples.data[e.path] = r.data[: samples.size]

    @staticmethod
    def _smb2_lister(
        sess: client.Smb2Session, tree_id: int, root_id: bytes, ctx: ProbeContext
    ) -> Lister:
        """List one directory: CREATE (the root is already open), QUERY_DIRECTORY pages until
        STATUS_NO_MORE_FILES, CLOSE. The crawler's request budget counts QUERY_DIRECTORY calls:
        it charges the first, each further page is taken from it here."""

        async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
            if path == "/":
                fid = root_id
            else:
                opened = await sess.open_directory(tree_id, path.lstrip("/"))
                if opened.status != NtStatus.SUCCESS:
                    raise NotListable(status_name(opened.status))
                fid = opened.file_id
            items: list[Item] = []
            complete, error, restart = True, None, True
            try:
                while True:
                    if not restart and not budget.take():
                        complete = False
                        break
                    status, batch, n = await sess.query_directory_page(
                        tree_id, fid, restart=restart
                    )
                    restart = False
                    budget.spend(n)
                    if status == NtStatus.NO_MORE_FILES:
                        break
                    if status != NtStatus.SUCCESS:
                        if not items:
                            raise NotListable(status_name(status))
                        error = f"QUERY_DIRECTORY: {status_name(status)}"
                        break
                    items += [_item(e) for e in batch]
                    if len(items) >= ctx.bounds.entries or budget.bytes_left <= 0:
                        complete = False
                        break
            finally:
                with contextlib.suppress(SmbProtocolError):
                    await sess.close(tree_id, fid)
            return Page(items, complete=complete, error=error)

        return list_dir

    async def _enumerate(self, host: str, port: int, ctx: ProbeContext, facts: SmbFacts) -> None:
        """SRVSVC NetShareEnumAll (pysmb): null session, then guest; else the common names."""
        errors = []
        for user, label in (("", "null session"), ("guest", "guest")):
            try:
                async with ctx.dialer.blocking_socket(host, port) as sock:
                    found = await ctx.dialer.run_blocking(
                        pysmb_adapter.list_shares, sock, user, ctx.dialer.read_timeout
                    )
                shares = [ShareInfo(s.name, s.type, s.comment) for s in found]
            except Exception as exc:
                errors.append(f"{label}: {type(exc).__name__}")
                continue
            facts.shares = shares[:MAX_CANDIDATES]
            facts.enumeration = f"NetShareEnumAll ({label})"
            return
        facts.enumeration = "denied (" + "; ".join(errors) + "); tried common share names"
        facts.shares = [ShareInfo(name=n) for n in COMMON_SHARES]

    async def _smb1_shares(self, host: str, port: int, ctx: ProbeContext, facts: SmbFacts) -> None:
        """SMB1-only server: pysmb does the sessions, the enumeration and the listing."""
        sessions: list[tuple[str, Authentication]] = []
        for user, auth in (("guest", Authentication.GUEST), ("", Authentication.ANONYMOUS)):
            try:
                async with ctx.dialer.blocking_socket(host, port) as sock:
                    ok = await ctx.dialer.run_blocking(
                        pysmb_adapter.login, sock, user, ctx.dialer.read_timeout
                    )
            except Exception as exc:
                ok = False
                outcome = f"error: {type(exc).__name__}"
            else:
                outcome = "accepted" if ok else "refused"
            if user:
                facts.guest_session = outcome
            else:
                facts.null_session = outcome
            if ok:
                sessions.append((user, auth))
        if not sessions:
            return
        await self._enumerate(host, port, ctx, facts)
        candidates = [s for s in facts.shares if s.is_storage][: ctx.bounds.resources]
        for user, auth in sessions:
            todo = [s.name for s in candidates if not _readable(facts, s.name)]
            if not todo:
                break
            try:
                async with ctx.dialer.blocking_socket(host, port) as sock:
                    results = await ctx.dialer.run_blocking(
                        _smb1_check_shares,
                        sock,
                        user,
                        todo,
                        ctx.bounds,
                        ctx.dialer.read_timeout,
                        facts.sampling,
                    )
            except Exception as exc:
                ctx.log.debug("smb1 %s: share checks as %r ended: %s", host, user, exc)
                continue
            for res in results:
                if res.listing is not None:
                    res.readable = True
                    res.authentication = auth
                    res.access = Access.LIST
                _merge(facts, res)

    # -- judge -----------------------------------------------------------------------------------
    def judge(self, facts: SmbFacts, cut: Cut | None) -> ProbeResult:
        if cut is not None:
            if cut.status is not Status.TIMEOUT:
                return cut.result()
            # what was proven before the budget ran out stays reported
            proven = (Kind.UNAUTHENTICATED_ACCESS, Kind.LEGACY_PROTOCOL, Kind.SIGNING_NOT_REQUIRED)
            return cut.result(
                protocol=PROTOCOL if (facts.smb1 or facts.smb2) else None,
                findings=[f for f in self.findings(facts) if f.kind in proven],
                info=_info(facts),
            )
        if not facts.smb1 and not facts.smb2:
            errors = f"SMB2: {facts.smb2_error}; SMB1: {facts.smb1_error}"
            if facts.smb2_error == "timeout":
                return ProbeResult(status=Status.TIMEOUT, detail="no SMB NEGOTIATE answer")
            if any("SmbProtocolError" in (e or "") for e in (facts.smb2_error, facts.smb1_error)):
                # it answered, but not with SMB (or broke our bounds)
                return ProbeResult(status=Status.PROTOCOL_ERROR, detail=f"not SMB ({errors})"[:300])
            return ProbeResult(
                status=Status.NOT_APPLICABLE, detail=f"no SMB answer ({errors})"[:300]
            )
        any_session = "accepted" in (facts.null_session, facts.guest_session)
        return ProbeResult(
            status=Status.SUCCESS if any_session else Status.AUTH_REQUIRED,
            protocol=PROTOCOL,
            tls=False,
            findings=self.findings(facts),
            detail=None if any_session else "null and guest sessions refused",
            info=_info(facts),
        )

    def findings(self, facts: SmbFacts) -> list[Finding]:
        out: list[Finding] = []
        if facts.smb1:
            out.append(
                self.finding(
                    facts,
                    Kind.LEGACY_PROTOCOL,
                    "SMB1 (NT LM 0.12) is enabled",
                    encryption=Encryption.NONE,
                    evidence={"dialects": facts.dialects, "smb1_only": not facts.smb2},
                    remediation="Disable SMB1 (Samba: server min protocol = SMB2_10 or higher; "
                    "Windows: remove the SMB1 feature).",
                )
            )
        if facts.signing_required is False:
            signing = "enabled, not required" if facts.signing_enabled else "disabled"
            out.append(
                self.finding(
                    facts,
                    Kind.SIGNING_NOT_REQUIRED,
                    "SMB signing is not required",
                    evidence={"dialect": facts.max_dialect or "NT LM 0.12", "signing": signing},
                    remediation="Require signing (Samba: server signing = mandatory; Windows: "
                    "RequireSecuritySignature = 1).",
                )
            )

        enc = self._encryption(facts)
        if enc in (Encryption.NONE, Encryption.OPTIONAL):
            readable = [r.name for r in facts.results if r.readable]
            out.append(
                self.finding(
                    facts,
                    Kind.CLEARTEXT_TRANSPORT,
                    "SMB traffic is not required to be encrypted"
                    if enc is Encryption.OPTIONAL
                    else "SMB traffic cannot be encrypted",
                    encryption=enc,
                    evidence={
                        "max_dialect": facts.max_dialect or "NT LM 0.12",
                        "encryption_capable": facts.encryption_capable,
                        "cipher": facts.cipher,
                        "session_encrypt_data": facts.session_encrypt_data,
                        "shares_without_encryption": readable[:20],
                    },
                    remediation="Require SMB3 encryption (Samba: smb encrypt = required / server "
                    "min protocol = SMB3; Windows: Set-SmbServerConfiguration -EncryptData $true).",
                )
            )

        for r in facts.results:
            if not r.readable or r.listing is None:
                continue
            evidence: dict[str, Any] = {
                "share": r.name,
                "session": "null session" if r.authentication is Authentication.ANONYMOUS
                else "guest",
            }  # fmt: skip
            if r.maximal_access is not None:
                evidence["maximal_access"] = f"0x{r.maximal_access:08x}"
            if facts.sampling.size > 0:
                evidence.update(r.samples.evidence())
            out.append(
                self.unauthenticated(
                    facts,
                    r.name,
                    f"SMB share '{r.name}' can be listed without credentials",
                    authentication=r.authentication or Authentication.UNKNOWN,
                    encryption=Encryption.REQUIRED if r.encrypt_data else enc,
                    access=r.access,
                    evidence=evidence,
                    listing=r.listing,
                    remediation="Remove guest access from the share (guest ok = no, "
                    "map to guest = Never; restrict anonymous = 2) and grant named users only.",
                )
            )
        return out

    @staticmethod
    def _encryption(facts: SmbFacts) -> Encryption:
        """Does the server require encryption? Capability alone is never 'required'."""
        if not facts.smb2:
            return Encryption.NONE  # SMB1 only: no SMB3 encryption at all
        if facts.session_encrypt_data:
            return Encryption.REQUIRED
        if facts.session_encrypt_data is False:
            # a session was accepted without the ENCRYPT_DATA flag: not required globally
            return Encryption.OPTIONAL if facts.encryption_capable else Encryption.NONE
        if not facts.encryption_capable:
            return Encryption.NONE  # no SMB3 cipher on offer: cannot encrypt at all
        if facts.smb1:
            return Encryption.OPTIONAL  # SMB1 still accepted, and SMB1 is never encrypted
        return Encryption.UNKNOWN  # capable, and no unauthenticated session to tell


_DIALECT_ORDER = {name: i for i, name in enumerate(DIALECT_NAMES.values(), start=1)}


def _readable(facts: SmbFacts, name: str) -> bool:
    return any(r.name == name and r.readable for r in facts.results)


def _merge(facts: SmbFacts, res: ShareResult) -> None:
    for i, old in enumerate(facts.results):
        if old.name == res.name:
            if res.readable or not old.readable:
                facts.results[i] = res
            return
    facts.results.append(res)


def _info(facts: SmbFacts) -> dict[str, Any]:
    return {
        "dialects": facts.dialects,
        "smb1": facts.smb1,
        "signing_required": facts.signing_required,
        "encryption_capable": facts.encryption_capable,
        "cipher": facts.cipher,
        "session_encrypt_data": facts.session_encrypt_data,
        "user_session": facts.user_session,
        "null_session": facts.null_session,
        "guest_session": facts.guest_session,
        "enumeration": facts.enumeration,
        "shares": {
            r.name: ("readable" if r.readable else r.detail or "not readable")
            for r in facts.results
        },
        "share_encrypt_data": {
            r.name: r.encrypt_data for r in facts.results if r.share_flags is not None
        },
    }


# -- SMB1-only servers: pysmb, blocking, in the dialer's worker thread ---------------------------
_REPARSE_POINT = int(FileAttributes.REPARSE_POINT)  # plain int: IntFlag & is slow per entry


def _item(e: DirEntry) -> Item:
    return Item(
        name=e.name,
        is_dir=e.is_dir,
        size=None if e.is_dir else e.size,
        mtime=e.mtime.isoformat() if e.mtime else None,
        link=bool(e.attributes & _REPARSE_POINT),
    )


def _smb1_page(found: tuple[list[DirEntry], int]) -> Page:
    entries, bad = found
    return Page([_item(e) for e in entries], bad=bad)


def _smb1_lister(conn: Any, share: str, timeout: float) -> Lister:
    """SMB1 (pysmb, blocking): one ``listPath`` per directory. Runs inside the worker thread
    that owns the connection, under its own event loop (``asyncio.run``)."""

    async def list_dir(path: str, handle: Any, budget: Budget) -> Page:
        try:
            found = pysmb_adapter.list_path(conn, share, path, timeout)
        except pysmb_adapter.operation_failure() as exc:
            raise NotListable(str(exc)[:100]) from exc
        return _smb1_page(found)

    return list_dir


def _smb1_check_shares(
    sock: socket.socket,
    user: str,
    shares: list[str],
    bounds: Any,
    timeout: float,
    sampling: Samples,
) -> list[ShareResult]:
    """List each share's root (and below, bounded) over SMB1; ``listing`` None = not listable.
    With ``sampling.on`` the first bytes of a few files of each listable share are read."""
    conn = pysmb_adapter.connect(sock, user, timeout)
    if conn is None:
        return [ShareResult(name=s, detail="login refused") for s in shares]
    out: list[ShareResult] = []
    for share in shares:
        try:
            root = _smb1_page(pysmb_adapter.list_path(conn, share, "/", timeout))
        except Exception as exc:
            out.append(ShareResult(name=share, detail=f"list root: {type(exc).__name__}"))
            continue
        result = asyncio.run(crawl(_smb1_lister(conn, share, timeout), bounds, first=root))
        samples = replace(sampling, data={}, errors={})
        res = ShareResult(name=share, listing=result.listing(), samples=samples)
        if samples.on and res.listing is not None:
            paths = [e.path for e in choose_samples(res.listing.entries, samples.files)]
            data, errors = pysmb_adapter.read_heads(conn, share, paths, samples.size, timeout)
            samples.data.update(data)
            samples.errors.update(errors)
        out.append(res)
    with contextlib.suppress(Exception):
        conn.close()
    return out


PROBE = SmbProbe()
