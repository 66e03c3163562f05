"""iSCSI PDUs: byte layout, captured tgtd answers, and bounded handling of hostile targets."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from repo_paths import CAPTURES

from probes.iscsi import PROBE
from scanner.dialer import Dialer
from scanner.models import ServiceInfo, Status
from scanner.probe import ProbeContext
from scanner.protocols import iscsi


def pdu(name: str) -> iscsi.PDU:
    raw = (CAPTURES / f"iscsi_{name}.bin").read_bytes()
    _, dlen = iscsi.parse_bhs(raw[:48])
    return iscsi.PDU(raw[:48], raw[48 : 48 + dlen])


def test_login_request_layout() -> None:
    raw = iscsi.login_request(
        isid=b"\x80\x01\x02\x03\x00\x00", tsih=0, itt=7, cid=1, cmd_sn=1, exp_stat_sn=0,
        csg=0, nsg=1, transit=True, keys=[("AuthMethod", "None")],
    )
    assert raw[0] == 0x43  # immediate + Login Request
    assert raw[1] == 0x81  # T=1, CSG=0, NSG=1
    assert int.from_bytes(raw[5:8], "big") == len(b"AuthMethod=None\0")
    assert raw[8:14] == b"\x80\x01\x02\x03\x00\x00"
    assert struct.unpack(">I", raw[16:20])[0] == 7
    assert raw[48:].rstrip(b"\0") == b"AuthMethod=None"
    assert len(raw) % 4 == 0


def test_captured_discovery_login() -> None:
    rsp = iscsi.parse_login_response(pdu("login_discovery_security"))
    assert rsp.status == 0 and rsp.transit and rsp.nsg == iscsi.STAGE_OPERATIONAL
    assert dict(rsp.keys)["AuthMethod"] == "None"
    rsp2 = iscsi.parse_login_response(pdu("login_discovery_operational"))
    assert rsp2.transit and rsp2.nsg == iscsi.STAGE_FULL_FEATURE and rsp2.tsih != 0


def test_captured_send_targets() -> None:
    p = pdu("text_sendtargets")
    assert p.opcode == iscsi.OP_TEXT_RSP and p.flags & iscsi.FLAG_FINAL
    targets = iscsi.parse_send_targets(iscsi.decode_kv(p.data))
    assert sorted(t.name for t in targets) == [
        "iqn.2026-01.lab.nasscan:chap",
        "iqn.2026-01.lab.nasscan:open",
    ]
    assert all(t.addresses and t.addresses[0].startswith("127.0.10.61:3260") for t in targets)


def test_captured_chap_target_refuses_authmethod_none() -> None:
    rsp = iscsi.parse_login_response(pdu("login_chap_target_rejected"))
    assert rsp.status == 0x0201 and rsp.status_text == "authentication failure"
    assert rsp.status in iscsi.AUTH_STATUSES


def test_captured_logout() -> None:
    p = pdu("logout")
    assert p.opcode == iscsi.OP_LOGOUT_RSP and p.bhs[2] == 0


def test_bounds() -> None:
    bhs = bytearray(48)
    bhs[0] = iscsi.OP_LOGIN_RSP
    bhs[5:8] = b"\xff\xff\xff"
    with pytest.raises(iscsi.ISCSIProtocolError, match="limit"):
        iscsi.parse_bhs(bytes(bhs))
    with pytest.raises(iscsi.ISCSIProtocolError):
        iscsi.decode_kv(b"novalue\0")
    with pytest.raises(iscsi.ISCSIProtocolError):
        iscsi.decode_kv(b"a=b\0" * 600)
    with pytest.raises(iscsi.ISCSIProtocolError, match="Reject"):
        iscsi.parse_login_response(iscsi.PDU(bytes([iscsi.OP_REJECT]) + b"\0" * 47))


def test_scsi_metadata_parsers() -> None:
    assert iscsi.encode_lun(1) == b"\x00\x01" + bytes(6)
    assert iscsi.encode_lun(300)[:2] == b"\x41\x2c"
    report = (16).to_bytes(4, "big") + bytes(4) + iscsi.encode_lun(0) + iscsi.encode_lun(300)
    assert iscsi.parse_report_luns(report) == [0, 300]
    # a list length claiming 2^32/8 LUNs is cut to what is present and to the bound
    huge = b"\xff\xff\xff\xf8" + bytes(4) + iscsi.encode_lun(5) * 40
    assert iscsi.parse_report_luns(huge) == [5] * iscsi.MAX_LUNS
    info = iscsi.LunInfo(1)
    iscsi.parse_inquiry(info, bytes([0]) + bytes(7) + b"IET     " + b"VIRTUAL-DISK    ")
    iscsi.parse_read_capacity10(info, (8191).to_bytes(4, "big") + (512).to_bytes(4, "big"))
    iscsi.parse_mode_sense6(info, bytes([3, 0, 0x80, 0]))
    assert (info.device_type, info.vendor, info.product) == (0, "IET", "VIRTUAL-DISK")
    assert info.size_bytes == 4 * 1024 * 1024 and info.write_protected is True
    iscsi.parse_mode_sense6(info, bytes([3, 0, 0x00, 0]))
    assert info.write_protected is False
    for parser in (iscsi.parse_read_capacity10, iscsi.parse_mode_sense6):
        with pytest.raises(iscsi.ISCSIProtocolError):
            parser(info, b"\x00")
    with pytest.raises(iscsi.ISCSIProtocolError):
        iscsi.parse_report_luns(b"\x00\x00")


def test_scsi_cdbs_are_read_only() -> None:
    # INQUIRY, REPORT LUNS, READ CAPACITY(10), MODE SENSE(6): no write-type opcode is ever built
    ops = {iscsi.cdb_inquiry()[0], iscsi.cdb_report_luns()[0], iscsi.cdb_read_capacity10()[0],
           iscsi.cdb_mode_sense6()[0]}
    assert ops == {0x12, 0xA0, 0x25, 0x1A}


keys = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="="),
               min_size=1, max_size=20)
values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@given(st.lists(st.tuples(keys, values), max_size=30))
def test_kv_round_trip(pairs: list[tuple[str, str]]) -> None:
    assert iscsi.decode_kv(iscsi.encode_kv(pairs)) == pairs


@given(st.binary(max_size=300))
def test_kv_garbage_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(iscsi.ISCSIProtocolError):
        iscsi.decode_kv(data)


# -- hostile targets over TCP -----------------------------------------------------------------

Behaviour = Callable[[bytes], bytes]


@pytest.fixture
async def target() -> AsyncIterator[Callable[[Behaviour], asyncio.Future[int]]]:
    servers: list[asyncio.Server] = []

    async def start(behaviour: Behaviour) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                req = await reader.readexactly(48)
                dlen = int.from_bytes(req[5:8], "big")
                await reader.readexactly(dlen + (4 - dlen % 4) % 4)
                writer.write(behaviour(req))
                await writer.drain()
                await asyncio.sleep(0.2)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            writer.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(srv)
        return int(srv.sockets[0].getsockname()[1])

    yield start  # type: ignore[misc]
    for s in servers:
        s.close()
        await s.wait_closed()


def _rsp(opcode: int, dlen: int = 0, body: bytes = b"") -> bytes:
    bhs = bytearray(48)
    bhs[0] = opcode
    bhs[5:8] = dlen.to_bytes(3, "big")
    return bytes(bhs) + body


HOSTILE: dict[str, Behaviour] = {
    "absurd-data-length": lambda req: _rsp(iscsi.OP_LOGIN_RSP, 0xFFFFFF),
    "truncated": lambda req: _rsp(iscsi.OP_LOGIN_RSP, 100, b"AuthMethod=None\0"),
    "wrong-opcode": lambda req: _rsp(0x21),
    "not-iscsi": lambda req: b"SSH-2.0-OpenSSH_9.2\r\n" + b"x" * 40,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_targets_end_in_protocol_error(
    name: str, target: Callable[[Behaviour], asyncio.Future[int]], dialer: Dialer
) -> None:
    port = await target(HOSTILE[name])
    res = await PROBE.run(ServiceInfo(host="127.0.0.1", port=port), ProbeContext(dialer=dialer))
    assert res.status == Status.PROTOCOL_ERROR, (name, res.detail)
    assert not res.findings
