"""What a probe sends when it samples files (``--sample-bytes``): a dialer that records every byte
sent (async clients and pysmb's blocking sockets) and the checks shared by the probes' tests."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from scanner.dialer import Connection, Dialer
from scanner.models import Entry, Finding, Kind, Listing, Severity
from scanner.triage import triage_finding

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


# -- recording what the probes send ------------------------------------------------------------
class _SockSpy:
    """A blocking socket that records what pysmb sends on it (everything else passes through)."""

    def __init__(self, sock: socket.socket, log: bytearray) -> None:
        self._sock = sock
        self._log = log

    def send(self, data: bytes) -> int:
        n = self._sock.send(data)
        self._log += bytes(data[:n])
        return n

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)
        self._log += bytes(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class RecordingDialer(Dialer):
    """The normal dialer; every byte sent on every connection is also kept, per connection."""

    def __init__(self) -> None:
        super().__init__(
            LOOPBACK, concurrency=64, per_host=8, connect_timeout=2.0, read_timeout=3.0
        )
        self.streams: list[tuple[int, str, bytearray]] = []
        """(port, "async" for our own clients or "pysmb" for blocking sockets, bytes sent)."""

    @contextlib.asynccontextmanager
    async def tcp(self, host: str, port: int, **kw: Any) -> AsyncIterator[Connection]:
        async with super().tcp(host, port, **kw) as conn:
            log = bytearray()
            self.streams.append((port, "async", log))
            real = conn.send

            async def send(data: bytes) -> None:
                log.extend(data)
                await real(data)

            conn.send = send  # type: ignore[method-assign]
            yield conn

    @contextlib.asynccontextmanager
    async def blocking_socket(
        self, host: str, port: int, *, source_port: int | None = None
    ) -> AsyncIterator[socket.socket]:
        async with super().blocking_socket(host, port, source_port=source_port) as sock:
            log = bytearray()
            self.streams.append((port, "pysmb", log))
            yield _SockSpy(sock, log)  # type: ignore[misc]

    def smb_streams(self, kind: str) -> list[list[bytes]]:
        """The SMB messages sent on each port-445 stream of ``kind`` (direct-TCP frames)."""
        out = []
        for port, k, log in self.streams:
            if port != 445 or k != kind:
                continue
            msgs = []
            pos = 0
            while pos + 4 <= len(log):
                n = int.from_bytes(log[pos + 1 : pos + 4], "big")
                msgs.append(bytes(log[pos + 4 : pos + 4 + n]))
                pos += 4 + n
            out.append(msgs)
        return out

    def smb_messages(self, kind: str = "async") -> list[bytes]:
        return [m for msgs in self.smb_streams(kind) for m in msgs]

    def ftp_commands(self) -> list[str]:
        text = b"".join(bytes(log) for port, _, log in self.streams if port in (21, 2121))
        return [c.decode("utf-8", "replace") for c in text.split(b"\r\n") if c]


@pytest.fixture
async def rec() -> AsyncIterator[RecordingDialer]:
    d = RecordingDialer()
    yield d
    d.shutdown()


def unauth(result: Any, resource: str) -> Finding:
    found = [
        f for f in result.findings
        if f.kind is Kind.UNAUTHENTICATED_ACCESS and f.resource == resource
    ]  # fmt: skip
    assert len(found) == 1, (result.status, result.detail, result.info)
    return found[0]


def assert_reflected_in_triage(f: Finding) -> None:
    """The sniffed WAV makes triage confirm a recording; it alone makes a dull listing critical."""
    t = triage_finding(f)
    assert t.severity == Severity.CRITICAL
    assert t.evidence["confirmed_by_content"].get("recording", 0) >= 1
    dull = Listing(entries=[Entry(path="data/file.bin", size=1000)], truncated=False)
    ev = dict(f.evidence)
    bare = f.model_copy(update={"listing": dull, "resource": "data", "evidence": ev})
    assert triage_finding(bare).severity == Severity.CRITICAL
    no_sniff = {k: v for k, v in ev.items() if k != "sniffed"}
    assert triage_finding(bare.model_copy(update={"evidence": no_sniff})).severity == Severity.HIGH


SAMPLE_KEYS = {"intrusive", "sample_bytes", "sampled_files", "sniffed", "sample_errors"}
