"""TFTP packets: layout, captured tftpd-hpa answers, and the reply-source rule."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from repo_paths import CAPTURES

from scanner.dialer import Dialer
from scanner.protocols import tftp

LOOP = ipaddress.ip_network("127.0.0.0/8")


def test_rrq_layout() -> None:
    assert tftp.rrq("startup-config") == b"\x00\x01startup-config\x00octet\x00"
    assert tftp.ack(1) == b"\x00\x04\x00\x01"
    assert tftp.error(0, "stop") == b"\x00\x05\x00\x00stop\x00"
    for bad in ("", "a\0b", "x" * 300):
        with pytest.raises(ValueError):
            tftp.rrq(bad)


def test_captured_packets() -> None:
    data = tftp.parse((CAPTURES / "tftp_data_startup_config.bin").read_bytes())
    assert isinstance(data, tftp.Data) and data.block == 1 and data.data
    err = tftp.parse((CAPTURES / "tftp_error_not_found.bin").read_bytes())
    assert isinstance(err, tftp.Error) and err.code == 1 and "not found" in err.message.lower()


def test_parse_rejects_malformed() -> None:
    for bad in (b"", b"\x00\x03\x00", b"\x00\x09\x00\x01", b"\x00\x03\x00\x01" + b"x" * 513,
                b"\x00\x04\x00\x01extra"):
        with pytest.raises(tftp.TFTPProtocolError):
            tftp.parse(bad)


@given(st.integers(0, 0xFFFF), st.binary(max_size=512))
def test_data_round_trip(block: int, payload: bytes) -> None:
    pkt = tftp.parse(tftp.data(block, payload))
    assert pkt == tftp.Data(block, payload)


@given(st.integers(0, 7), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                                  max_size=100))
def test_error_round_trip(code: int, message: str) -> None:
    assert tftp.parse(tftp.error(code, message)) == tftp.Error(code, message)


@given(st.binary(max_size=600))
def test_garbage_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(tftp.TFTPProtocolError):
        tftp.parse(data)


async def test_replies_from_other_hosts_are_ignored(dialer: Dialer) -> None:
    """A DATA packet from another address must not count; the target's own answer does."""
    loop = asyncio.get_running_loop()
    seen: list[bytes] = []
    tasks: list[asyncio.Task[None]] = []

    class Server(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            seen.append(data)
            if data[:2] != b"\x00\x01":
                return
            # an impostor on another loopback address answers first, then the real server
            # answers from a fresh transfer port on the target address
            tasks.append(loop.create_task(answer(addr)))

    async def answer(addr: tuple[str, int]) -> None:
        imp, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.2", 0))
        imp.sendto(tftp.data(1, b"impostor"), addr)
        await asyncio.sleep(0.05)
        real, _ = await loop.create_datagram_endpoint(
            lambda: Server(), local_addr=("127.0.0.1", 0))
        real.sendto(tftp.data(1, b"genuine"), addr)
        await asyncio.sleep(0.3)
        imp.close()
        real.close()

    listener, _ = await loop.create_datagram_endpoint(Server, local_addr=("127.0.0.1", 0))
    port = listener.get_extra_info("sockname")[1]
    try:
        res = await tftp.read_first_block(dialer, "127.0.0.1", "startup-config", port=port,
                                          timeout=2.0)
        await asyncio.gather(*tasks)
    finally:
        listener.close()
    assert res.exists and res.first_block == b"genuine"
    # the transfer was aborted with an ERROR packet, never ACKed
    assert any(p[:2] == b"\x00\x05" for p in seen)
    assert not any(p[:2] == b"\x00\x04" for p in seen)


async def test_silence_is_a_timeout(dialer: Dialer) -> None:
    loop = asyncio.get_running_loop()
    sink, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    port = sink.get_extra_info("sockname")[1]
    try:
        with pytest.raises(TimeoutError):
            await tftp.read_first_block(dialer, "127.0.0.1", "x", port=port, timeout=0.5)
    finally:
        sink.close()


# -- an ICMP port unreachable ends the attempt (IP_RECVERR), silence still times out ----------


def _closed_udp_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


async def test_refusal_ends_the_read_at_once_not_its_timeout() -> None:
    host = "127.0.66.9"
    port = _closed_udp_port(host)
    d = Dialer(LOOP, read_timeout=30.0)
    try:
        # a 30 s timeout: had the refusal been missed, the outer 20 s bound would fire instead
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(
                tftp.read_first_block(d, host, "x.bin", port=port, timeout=30.0), 20.0
            )
    finally:
        d.shutdown()


async def test_silent_udp_port_still_times_out() -> None:
    import socket

    host = "127.0.66.10"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((host, 0))  # bound, never answers: no ICMP either
        d = Dialer(LOOP)
        try:
            with pytest.raises(TimeoutError):
                await tftp.read_first_block(
                    d, host, "x.bin", port=silent.getsockname()[1], timeout=0.3
                )
        finally:
            d.shutdown()


async def test_connected_dialer_udp_sees_the_refusal() -> None:
    host = "127.0.66.11"
    port = _closed_udp_port(host)
    d = Dialer(LOOP)
    try:
        async with d.udp(host, port) as stream:
            await stream.send(b"ping")
            with pytest.raises(ConnectionRefusedError):
                await asyncio.wait_for(stream.recv(), 20.0)
    finally:
        d.shutdown()
