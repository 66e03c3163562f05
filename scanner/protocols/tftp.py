"""TFTP (RFC 1350) packets and a read-only, first-block-only client over the dialer.

A read request goes to port 69; the server answers from a fresh port (its transfer id), so the
client uses an unconnected socket (``dialer.udp_reply_from``), sends every datagram through the
scope-checked ``dialer.send_udp`` and accepts replies only from the target host. That socket has
``IP_RECVERR`` set: a host without a TFTP server answers with an ICMP port unreachable, which
ends the attempt at once (``ConnectionRefusedError``) instead of waiting out the timeout. After
the first DATA block the transfer is aborted with an ERROR packet: nothing more is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanner.dialer import Dialer

RRQ = 1
WRQ = 2
DATA = 3
ACK = 4
ERROR = 5
OACK = 6

BLOCK = 512
MAX_PACKET = BLOCK + 4
MAX_FILENAME = 255
MAX_STRAY = 8

ERROR_CODES = {
    0: "not defined",
    1: "file not found",
    2: "access violation",
    3: "disk full",
    4: "illegal operation",
    5: "unknown transfer id",
    6: "file exists",
    7: "no such user",
    8: "option negotiation failed",
}


class TFTPProtocolError(ValueError):
    """Bytes that are not a TFTP packet we can accept."""


@dataclass(frozen=True)
class Data:
    block: int
    data: bytes


@dataclass(frozen=True)
class Error:
    code: int
    message: str


@dataclass(frozen=True)
class Ack:
    block: int


Packet = Data | Error | Ack


def rrq(filename: str, mode: str = "octet") -> bytes:
    name = filename.encode()
    if not name or len(name) > MAX_FILENAME or b"\0" in name:
        raise ValueError("bad TFTP file name")
    return struct.pack(">H", RRQ) + name + b"\0" + mode.encode() + b"\0"


def ack(block: int) -> bytes:
    return struct.pack(">HH", ACK, block & 0xFFFF)


def error(code: int, message: str) -> bytes:
    return struct.pack(">HH", ERROR, code) + message.encode()[:200] + b"\0"


def data(block: int, payload: bytes) -> bytes:
    return struct.pack(">HH", DATA, block & 0xFFFF) + payload


def parse(packet: bytes) -> Packet:
    """Parse a server packet (DATA, ERROR or ACK); anything else is a protocol error."""
    if len(packet) < 4:
        raise TFTPProtocolError(f"TFTP packet of {len(packet)} bytes is too short")
    if len(packet) > MAX_PACKET:
        raise TFTPProtocolError(f"TFTP packet of {len(packet)} bytes exceeds {MAX_PACKET}")
    op, arg = struct.unpack(">HH", packet[:4])
    if op == DATA:
        return Data(arg, packet[4:])
    if op == ERROR:
        msg, _, _ = packet[4:].partition(b"\0")
        return Error(arg, msg.decode("utf-8", "replace")[:200])
    if op == ACK:
        if len(packet) != 4:
            raise TFTPProtocolError("ACK packet with trailing bytes")
        return Ack(arg)
    raise TFTPProtocolError(f"unexpected TFTP opcode {op}")


@dataclass
class ReadResult:
    name: str
    exists: bool
    first_block: bytes = b""
    error: Error | None = None

    @property
    def size_known(self) -> bool:
        """A first block shorter than 512 bytes is the whole file."""
        return self.exists and len(self.first_block) < BLOCK


async def read_first_block(
    dialer: Dialer, host: str, name: str, *, port: int = 69, timeout: float = 3.0
) -> ReadResult:
    """Request ``name``, keep at most the first block, abort the transfer.

    Raises ``TimeoutError`` when the host never answers, ``ConnectionRefusedError`` when it
    refuses (ICMP port unreachable) and ``TFTPProtocolError`` on garbage from the host.
    """
    sock = await dialer.udp_reply_from(host, port)
    try:
        await dialer.send_udp(sock, rrq(name), host, port)
        deadline = time.monotonic() + timeout
        stray = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no TFTP answer from {host} for {name!r}")
            payload, (src_host, src_port) = await asyncio.wait_for(sock.recv(), remaining)
            if src_host != host:
                stray += 1  # only the target host may answer; ignore anyone else
                if stray > MAX_STRAY:
                    raise TFTPProtocolError("too many datagrams from other hosts")
                continue
            pkt = parse(bytes(payload))
            if isinstance(pkt, Error):
                return ReadResult(name, False, error=pkt)
            if isinstance(pkt, Data):
                if pkt.block != 1:
                    raise TFTPProtocolError(f"first DATA block numbered {pkt.block}")
                # abort: tell the server's transfer port we stop here (no ACK, no more data)
                with contextlib.suppress(OSError):
                    await dialer.send_udp(sock, error(0, "transfer aborted"), host, src_port)
                return ReadResult(name, True, first_block=pkt.data)
            raise TFTPProtocolError("unexpected ACK in a read transfer")
    finally:
        sock.close()
