"""A small asyncio SMB2 client for *unauthenticated* sessions (and the operator's user login).

NEGOTIATE, SESSION_SETUP (NTLMSSP in SPNEGO: anonymous, guest with an empty password, or a
user), TREE_CONNECT, CREATE with ``MxAc``, QUERY_DIRECTORY, CLOSE and, only for
``--sample-bytes`` (intrusive), one READ of a file's first bytes. Every read goes through the
dialer's ``Connection`` (its timeout) and no message over ``MAX_MESSAGE`` is buffered.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol, TypedDict

from scanner.protocols.smb.constants import (
    ALL_DIALECTS,
    MAX_MESSAGE,
    MAX_READ_LENGTH,
    SMB2_MAGIC,
    AccessMask,
    Command,
    CreateOptions,
    Dialect,
    HeaderFlags,
    NtStatus,
    ShareAccess,
)
from scanner.protocols.smb.errors import SmbProtocolError
from scanner.protocols.smb.header import frame, parse_frame_header, parse_header
from scanner.protocols.smb.messages import (
    CreateResponse,
    DirEntry,
    NegotiateInfo,
    ReadResponse,
    SessionSetupResponse,
    TreeConnectResponse,
    build_close,
    build_create,
    build_negotiate,
    build_query_directory,
    build_read,
    build_session_setup,
    build_tree_connect,
    parse_create_response,
    parse_negotiate_response,
    parse_query_directory_response,
    parse_read_response,
    parse_session_setup_response,
    parse_tree_connect_response,
)
from scanner.protocols.smb.ntlm import (
    NT_HASH_EMPTY_PASSWORD,
    build_ntlm_authenticate,
    build_ntlm_negotiate,
    nt_hash,
    parse_ntlm_challenge,
    spnego_init,
    spnego_response,
)
from scanner.protocols.smb.smb1 import (
    NO_DIALECT,
    Smb1NegotiateInfo,
    build_smb1_negotiate,
    parse_smb1_negotiate_response,
)


class Stream(Protocol):
    """What the client needs of a connection (the dialer's ``Connection`` has it)."""

    async def send(self, data: bytes) -> None: ...

    async def recv_exactly(self, n: int, timeout: float | None = None) -> bytes: ...


async def read_message(conn: Stream, limit: int = MAX_MESSAGE) -> bytes:
    length = parse_frame_header(await conn.recv_exactly(4), limit)
    return await conn.recv_exactly(length)


async def negotiate(conn: Stream, dialects: tuple[int, ...] = ALL_DIALECTS) -> NegotiateInfo:
    await conn.send(frame(build_negotiate(dialects)))
    return parse_negotiate_response(await read_message(conn))


async def negotiate_smb1(conn: Stream) -> Smb1NegotiateInfo:
    await conn.send(frame(build_smb1_negotiate()))
    msg = await read_message(conn)
    if msg[:4] == SMB2_MAGIC:
        # a server that only speaks SMB2 may answer an SMB1 negotiate with an SMB2 one
        return Smb1NegotiateInfo(NO_DIALECT, 0, 0)
    return parse_smb1_negotiate_response(msg)


READ_ONLY = AccessMask.FILE_READ_DATA | AccessMask.FILE_READ_ATTRIBUTES | AccessMask.SYNCHRONIZE
"""The access ``read_head`` asks for: read, never write."""


CREDIT_REQUEST = 64
"""Credits asked for with every request after NEGOTIATE."""


class Credits(TypedDict):
    credit_charge: int
    credit_request: int


class Smb2Session:
    """An unauthenticated (null or guest) SMB2 session on an already negotiated connection."""

    def __init__(self, conn: Stream, neg: NegotiateInfo) -> None:
        self.conn = conn
        self.neg = neg
        self.mid = 1
        self.session_id = 0
        self.session_flags = 0
        self.requests = 0

    def _credits(self) -> Credits:
        """CreditCharge (1 from SMB 2.1 on, 0 on 2.0.2) and CreditRequest of a request."""
        charge = 1 if self.neg.dialect >= Dialect.SMB_2_1 else 0
        return {"credit_charge": charge, "credit_request": CREDIT_REQUEST}

    async def _call(self, request: bytes, command: int) -> bytes:
        self.mid += 1
        self.requests += 1
        await self.conn.send(frame(request))
        for _ in range(8):  # interim STATUS_PENDING answers, bounded
            msg = await read_message(self.conn)
            hdr = parse_header(msg)
            if hdr.command != command:
                raise SmbProtocolError(f"answer to command {hdr.command}, expected {command}")
            if hdr.status == NtStatus.PENDING and hdr.flags & HeaderFlags.ASYNC:
                continue
            return msg
        raise SmbProtocolError("too many interim responses")

    async def _session_setup(self, token: bytes) -> SessionSetupResponse:
        request = build_session_setup(self.mid, self.session_id, token, **self._credits())
        return parse_session_setup_response(await self._call(request, Command.SESSION_SETUP))

    async def login(
        self, user: str = "", *, password: str | None = None, domain: str = ""
    ) -> SessionSetupResponse:
        """Anonymous (``user=''``) or guest (``user='guest'``, empty password) login; a user's
        with ``password``. Returns the final response; its ``status`` says whether the login
        was accepted.
        """
        self.session_id = 0
        r1 = await self._session_setup(spnego_init(build_ntlm_negotiate()))
        if r1.status != NtStatus.MORE_PROCESSING_REQUIRED:
            return r1
        self.session_id = r1.session_id
        chal = parse_ntlm_challenge(r1.security_blob)
        pw_hash = NT_HASH_EMPTY_PASSWORD if password is None else nt_hash(password)
        auth = build_ntlm_authenticate(chal, user=user, domain=domain, password_hash=pw_hash)
        r2 = await self._session_setup(spnego_response(auth))
        if r2.status == NtStatus.SUCCESS:
            self.session_flags = r2.session_flags
        return r2

    async def tree_connect(self, host: str, share: str) -> TreeConnectResponse:
        unc = f"\\\\{host}\\{share}"
        request = build_tree_connect(self.mid, self.session_id, unc, **self._credits())
        return parse_tree_connect_response(await self._call(request, Command.TREE_CONNECT))

    async def _create(self, tree_id: int, path: str, **how: Any) -> CreateResponse:
        request = build_create(self.mid, self.session_id, tree_id, path, **how, **self._credits())
        return parse_create_response(await self._call(request, Command.CREATE))

    async def open_directory(self, tree_id: int, path: str) -> CreateResponse:
        """Open a directory for listing, asking for the maximal access granted on it."""
        return await self._create(tree_id, path)

    async def file_access(self, tree_id: int, path: str) -> CreateResponse:
        """Open (never create) a file for its attributes only, asking for ``MxAc``: the
        maximal access says whether it *could* be read, without opening it for reading."""
        return await self._create(
            tree_id,
            path,
            desired_access=AccessMask.FILE_READ_ATTRIBUTES | AccessMask.SYNCHRONIZE,
            create_options=CreateOptions.FILE_NON_DIRECTORY_FILE,
            maximal_access=True,
        )

    async def read_head(self, tree_id: int, path: str, n: int) -> ReadResponse:
        """INTRUSIVE: the first ``min(n, MAX_READ_LENGTH)`` bytes of a file.

        CREATE (FILE_OPEN, never creates) with read-only access (FILE_READ_DATA |
        FILE_READ_ATTRIBUTES | SYNCHRONIZE, share access read), one READ at offset 0, CLOSE.
        A failed CREATE comes back as a ``ReadResponse`` with its status and no data.
        """
        length = min(n, MAX_READ_LENGTH, self.neg.max_read or MAX_READ_LENGTH)
        if length <= 0:
            raise ValueError("read_head needs n > 0")
        opened = await self._create(
            tree_id,
            path,
            desired_access=READ_ONLY,
            create_options=CreateOptions.FILE_NON_DIRECTORY_FILE,
            maximal_access=False,
            share_access=ShareAccess.READ,
        )
        if opened.status != NtStatus.SUCCESS:
            return ReadResponse(opened.status, b"")
        try:
            request = build_read(
                self.mid, self.session_id, tree_id, opened.file_id, length, **self._credits()
            )
            result = parse_read_response(await self._call(request, Command.READ), length)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.close(tree_id, opened.file_id)
            raise
        await self.close(tree_id, opened.file_id)
        return result

    async def query_directory_page(
        self, tree_id: int, file_id: bytes, *, restart: bool, output_length: int = 65536
    ) -> tuple[int, list[DirEntry], int]:
        """One QUERY_DIRECTORY: (status, entries, bytes of the answer). The end of a
        directory is ``STATUS_NO_MORE_FILES``."""
        request = build_query_directory(
            self.mid,
            self.session_id,
            tree_id,
            file_id,
            restart=restart,
            output_length=output_length,
            **self._credits(),
        )
        msg = await self._call(request, Command.QUERY_DIRECTORY)
        status, batch = parse_query_directory_response(msg)
        return status, batch, len(msg)

    async def close(self, tree_id: int, file_id: bytes) -> None:
        request = build_close(self.mid, self.session_id, tree_id, file_id, **self._credits())
        parse_header(await self._call(request, Command.CLOSE))
