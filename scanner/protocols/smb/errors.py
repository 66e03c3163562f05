"""The two ways an SMB exchange fails: the peer broke the protocol, or it said no."""

from __future__ import annotations

from scanner.protocols.smb.constants import status_name


class SmbProtocolError(Exception):
    """The peer sent something that is not the SMB we asked for."""


class SmbStatusError(Exception):
    """The server answered with an NT status error."""

    def __init__(self, command: str, status: int) -> None:
        super().__init__(f"{command}: {status_name(status)}")
        self.command = command
        self.status = status
