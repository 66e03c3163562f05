"""SMB wire plumbing of our own: the parts the libraries hide (layout: docs/architecture.md).

- ``constants``: MS-SMB2 numbers as enums (commands, dialects, NT status, flags, access masks).
- ``structure``: fixed layouts declared by field name (``Structure``, ``U16``...).
- ``header``: direct-TCP framing and the SMB2 header.
- ``messages``: NEGOTIATE, SESSION_SETUP, TREE_CONNECT, CREATE (``MxAc``), QUERY_DIRECTORY,
  CLOSE, READ: request builders and response parsers.
- ``smb1``: SMB1 NEGOTIATE (is SMB1 on, does it require signing).
- ``ntlm``: NTLMSSP in SPNEGO for null, guest and (operator-given) user logins.
- ``client``: the asyncio session client over the dialer's connection.
- ``pysmb_adapter``: pysmb (blocking, on the dialer's socket) for SRVSVC share enumeration and
  SMB1-only servers.

"The server can encrypt" is *capability* (NEGOTIATE); whether it *requires* encryption only
shows after SESSION_SETUP (session flag ENCRYPT_DATA) and TREE_CONNECT (share flag
ENCRYPT_DATA). Everything is bounded: a message larger than ``MAX_MESSAGE`` is a protocol error,
every read has the dialer's timeout.
"""
