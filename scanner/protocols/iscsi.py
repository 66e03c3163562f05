"""iSCSI (RFC 7143) initiator side, just enough to test who may log in.

Login PDUs (security + operational stages, AuthMethod=None only), a Text request for
SendTargets=All in a discovery session, and Logout. Every PDU read is bounded: the data segment
length is checked against a limit before anything is read.
"""

from __future__ import annotations

import asyncio
import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanner.dialer import Connection

OP_SCSI_CMD = 0x01
OP_SCSI_RSP = 0x21
OP_DATA_IN = 0x25
OP_R2T = 0x31
OP_NOP_IN = 0x20
OP_LOGIN_REQ = 0x03
OP_LOGIN_RSP = 0x23
OP_TEXT_REQ = 0x04
OP_TEXT_RSP = 0x24
OP_LOGOUT_REQ = 0x06
OP_LOGOUT_RSP = 0x26
OP_ASYNC = 0x32
OP_REJECT = 0x3F
IMMEDIATE = 0x40

FLAG_TRANSIT = 0x80
FLAG_CONTINUE = 0x40
FLAG_FINAL = 0x80

STAGE_SECURITY = 0
STAGE_OPERATIONAL = 1
STAGE_FULL_FEATURE = 3

BHS_LEN = 48
MAX_DATA = 1 << 18
"""Largest data segment accepted in one PDU."""
MAX_KEYS = 512
MAX_TEXT_ROUNDS = 8
MAX_LOGIN_ROUNDS = 6
MAX_SKIPPED_PDUS = 4

STATUS = {
    0x0000: "success",
    0x0101: "target moved temporarily",
    0x0102: "target moved permanently",
    0x0200: "initiator error",
    0x0201: "authentication failure",
    0x0202: "authorization failure",
    0x0203: "not found",
    0x0204: "target removed",
    0x0205: "unsupported version",
    0x0206: "too many connections",
    0x0207: "missing parameter",
    0x0208: "can't include in session",
    0x0209: "session type not supported",
    0x020A: "session does not exist",
    0x020B: "invalid during login",
    0x0300: "target error",
    0x0301: "service unavailable",
    0x0302: "out of resources",
}
AUTH_STATUSES = {0x0201, 0x0202}

DEFAULT_INITIATOR = "iqn.2026-01.io.nasscan:scanner"


SCSI_GOOD = 0x00
SCSI_CHECK_CONDITION = 0x02
MAX_SCSI_IN = 4096
"""Largest SCSI data-in we ask for (metadata only: LUN list, capacity, mode header)."""
MAX_DATA_IN_PDUS = 16
MAX_LUNS = 16

# read-only CDBs (SPC/SBC): nothing here can change a LUN
CDB_TEST_UNIT_READY = bytes(6)


def cdb_inquiry(alloc: int = 96) -> bytes:
    return bytes([0x12, 0, 0, 0, alloc, 0])


def cdb_report_luns(alloc: int = 512) -> bytes:
    return bytes([0xA0, 0, 0, 0, 0, 0]) + alloc.to_bytes(4, "big") + bytes(2)


def cdb_read_capacity10() -> bytes:
    return bytes([0x25]) + bytes(9)


def cdb_mode_sense6(alloc: int = 64) -> bytes:
    return bytes([0x1A, 0x08, 0x3F, 0, alloc, 0])  # DBD, all pages: we read the header only


class ISCSIProtocolError(Exception):
    """The peer did not answer as an iSCSI target."""


@dataclass
class PDU:
    bhs: bytes
    data: bytes = b""

    @property
    def opcode(self) -> int:
        return self.bhs[0] & 0x3F

    @property
    def flags(self) -> int:
        return self.bhs[1]

    def u32(self, offset: int) -> int:
        return int(struct.unpack_from(">I", self.bhs, offset)[0])


def encode_kv(pairs: list[tuple[str, str]]) -> bytes:
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs)


def decode_kv(data: bytes, max_keys: int = MAX_KEYS) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in data.split(b"\0"):
        if not item:
            continue
        if len(out) >= max_keys:
            raise ISCSIProtocolError(f"more than {max_keys} text keys")
        key, sep, value = item.partition(b"=")
        if not sep:
            raise ISCSIProtocolError(f"text key without '=': {item[:40]!r}")
        out.append((key.decode("utf-8", "replace"), value.decode("utf-8", "replace")))
    return out


def encode_pdu(bhs: bytearray, data: bytes = b"") -> bytes:
    if len(bhs) != BHS_LEN:
        raise ValueError("BHS must be 48 bytes")
    bhs[4] = 0
    bhs[5:8] = len(data).to_bytes(3, "big")
    return bytes(bhs) + data + b"\0" * ((4 - len(data) % 4) % 4)


def parse_bhs(bhs: bytes, max_data: int = MAX_DATA) -> tuple[int, int]:
    """(AHS bytes, data segment length) of a basic header segment, bounded."""
    if len(bhs) != BHS_LEN:
        raise ISCSIProtocolError("short iSCSI header")
    ahs = bhs[4] * 4
    dlen = int.from_bytes(bhs[5:8], "big")
    if dlen > max_data:
        raise ISCSIProtocolError(f"data segment of {dlen} bytes exceeds the limit {max_data}")
    return ahs, dlen


async def read_pdu(conn: Connection, max_data: int = MAX_DATA) -> PDU:
    try:
        bhs = await conn.recv_exactly(BHS_LEN)
        ahs, dlen = parse_bhs(bhs, max_data)
        if ahs:
            await conn.recv_exactly(ahs)
        data = await conn.recv_exactly(dlen + (4 - dlen % 4) % 4) if dlen else b""
    except asyncio.IncompleteReadError as exc:
        raise ISCSIProtocolError("connection closed inside an iSCSI PDU") from exc
    return PDU(bhs, data[:dlen])


def login_request(
    *,
    isid: bytes,
    tsih: int,
    itt: int,
    cid: int,
    cmd_sn: int,
    exp_stat_sn: int,
    csg: int,
    nsg: int,
    transit: bool,
    keys: list[tuple[str, str]],
) -> bytes:
    bhs = bytearray(BHS_LEN)
    bhs[0] = IMMEDIATE | OP_LOGIN_REQ
    bhs[1] = (FLAG_TRANSIT if transit else 0) | (csg << 2) | (nsg if transit else 0)
    bhs[2] = 0  # version-max
    bhs[3] = 0  # version-min
    bhs[8:14] = isid
    struct.pack_into(">HIH", bhs, 14, tsih, itt, cid)
    struct.pack_into(">II", bhs, 24, cmd_sn, exp_stat_sn)
    return encode_pdu(bhs, encode_kv(keys))


@dataclass
class LoginResponse:
    transit: bool
    csg: int
    nsg: int
    tsih: int
    itt: int
    stat_sn: int
    status: int
    keys: list[tuple[str, str]]

    @property
    def status_text(self) -> str:
        return STATUS.get(self.status, f"status {self.status:#06x}")


def parse_login_response(pdu: PDU) -> LoginResponse:
    if pdu.opcode == OP_REJECT:
        raise ISCSIProtocolError("target sent a Reject PDU")
    if pdu.opcode != OP_LOGIN_RSP:
        raise ISCSIProtocolError(f"expected a Login response, got opcode {pdu.opcode:#04x}")
    f = pdu.flags
    tsih = int(struct.unpack_from(">H", pdu.bhs, 14)[0])
    status = (pdu.bhs[36] << 8) | pdu.bhs[37]
    return LoginResponse(
        transit=bool(f & FLAG_TRANSIT),
        csg=(f >> 2) & 3,
        nsg=f & 3,
        tsih=tsih,
        itt=pdu.u32(16),
        stat_sn=pdu.u32(24),
        status=status,
        keys=decode_kv(pdu.data) if status == 0 else [],
    )


@dataclass
class LoginOutcome:
    ok: bool
    status: int = 0
    auth_required: bool = False
    detail: str = ""
    target_keys: dict[str, str] = field(default_factory=dict)


@dataclass
class LunInfo:
    lun: int
    device_type: int | None = None
    vendor: str = ""
    product: str = ""
    blocks: int | None = None
    block_size: int | None = None
    write_protected: bool | None = None

    @property
    def size_bytes(self) -> int | None:
        if self.blocks is None or self.block_size is None:
            return None
        return self.blocks * self.block_size


def encode_lun(lun: int) -> bytes:
    """SAM LUN field: peripheral device addressing for LUNs below 256, else flat space."""
    if lun < 256:
        return bytes([0, lun]) + bytes(6)
    return bytes([0x40 | ((lun >> 8) & 0x3F), lun & 0xFF]) + bytes(6)


def parse_report_luns(data: bytes, max_luns: int = MAX_LUNS) -> list[int]:
    if len(data) < 8:
        raise ISCSIProtocolError("short REPORT LUNS answer")
    n = int.from_bytes(data[:4], "big") // 8
    out: list[int] = []
    for i in range(min(n, max_luns, (len(data) - 8) // 8)):
        b = data[8 + 8 * i : 16 + 8 * i]
        out.append(((b[0] & 0x3F) << 8 | b[1]) if b[0] & 0xC0 == 0x40 else b[1])
    return out


def parse_inquiry(info: LunInfo, data: bytes) -> None:
    if len(data) >= 1:
        info.device_type = data[0] & 0x1F
    if len(data) >= 32:
        info.vendor = data[8:16].decode("ascii", "replace").strip()
        info.product = data[16:32].decode("ascii", "replace").strip()


def parse_read_capacity10(info: LunInfo, data: bytes) -> None:
    if len(data) < 8:
        raise ISCSIProtocolError("short READ CAPACITY answer")
    info.blocks = int.from_bytes(data[:4], "big") + 1
    info.block_size = int.from_bytes(data[4:8], "big")


def parse_mode_sense6(info: LunInfo, data: bytes) -> None:
    if len(data) < 4:
        raise ISCSIProtocolError("short MODE SENSE answer")
    info.write_protected = bool(data[2] & 0x80)


@dataclass
class SendTarget:
    name: str
    addresses: list[str] = field(default_factory=list)


def parse_send_targets(pairs: list[tuple[str, str]], max_targets: int = 256) -> list[SendTarget]:
    out: list[SendTarget] = []
    for k, v in pairs:
        if k == "TargetName":
            if len(out) >= max_targets:
                break
            out.append(SendTarget(v))
        elif k == "TargetAddress" and out and len(out[-1].addresses) < 16:
            out[-1].addresses.append(v)
    return out


class Session:
    """One iSCSI connection/session (discovery or normal), initiator side."""

    def __init__(
        self, conn: Connection, *, initiator: str = DEFAULT_INITIATOR, max_data: int = MAX_DATA
    ) -> None:
        self.conn = conn
        self.initiator = initiator
        self.max_data = max_data
        self.isid = bytes([0x80]) + os.urandom(3) + b"\0\0"
        self.tsih = 0
        self.itt = int.from_bytes(os.urandom(2), "big")
        self.cid = 1
        self.cmd_sn = 1
        self.exp_stat_sn = 0
        self.logged_in = False

    def _next_itt(self) -> int:
        self.itt = (self.itt + 1) & 0xFFFFFFFE  # never the reserved 0xffffffff
        return self.itt

    async def _read(self, *expected: int) -> PDU:
        for _ in range(MAX_SKIPPED_PDUS):
            pdu = await read_pdu(self.conn, self.max_data)
            if pdu.opcode in (OP_NOP_IN, OP_ASYNC):
                continue
            if pdu.opcode not in (*expected, OP_REJECT):
                raise ISCSIProtocolError(f"unexpected iSCSI opcode {pdu.opcode:#04x}")
            return pdu
        raise ISCSIProtocolError("too many unsolicited PDUs")

    async def login(self, target: str | None = None) -> LoginOutcome:
        """Log in with AuthMethod=None: a discovery session when ``target`` is None."""
        security: list[tuple[str, str]] = [("InitiatorName", self.initiator)]
        if target is None:
            security.append(("SessionType", "Discovery"))
        else:
            security += [("SessionType", "Normal"), ("TargetName", target)]
        security.append(("AuthMethod", "None"))
        operational = [
            ("HeaderDigest", "None"),
            ("DataDigest", "None"),
            ("MaxRecvDataSegmentLength", str(min(self.max_data, 65536))),
        ]
        if target is not None:
            operational += [("InitialR2T", "Yes"), ("ImmediateData", "No"),
                            ("ErrorRecoveryLevel", "0"), ("MaxConnections", "1")]
        stage, keys = STAGE_SECURITY, security
        seen: dict[str, str] = {}
        itt = self._next_itt()
        for _ in range(MAX_LOGIN_ROUNDS):
            nsg = STAGE_OPERATIONAL if stage == STAGE_SECURITY else STAGE_FULL_FEATURE
            await self.conn.send(login_request(
                isid=self.isid, tsih=self.tsih, itt=itt, cid=self.cid, cmd_sn=self.cmd_sn,
                exp_stat_sn=self.exp_stat_sn, csg=stage, nsg=nsg, transit=True, keys=keys,
            ))
            rsp = parse_login_response(await self._read(OP_LOGIN_RSP))
            self.exp_stat_sn = (rsp.stat_sn + 1) & 0xFFFFFFFF
            if rsp.status != 0:
                return LoginOutcome(False, rsp.status, rsp.status in AUTH_STATUSES,
                                    rsp.status_text)
            seen.update(rsp.keys)
            method = dict(rsp.keys).get("AuthMethod")
            if stage == STAGE_SECURITY and method is not None and method != "None":
                # the target wants CHAP (or Reject-ed our None): authentication required
                return LoginOutcome(False, 0, True, f"target demands AuthMethod={method}", seen)
            if rsp.transit and rsp.nsg == STAGE_FULL_FEATURE:
                self.tsih = rsp.tsih
                self.logged_in = True
                return LoginOutcome(True, 0, False, "logged in", seen)
            if rsp.transit and rsp.nsg == STAGE_OPERATIONAL:
                stage, keys = STAGE_OPERATIONAL, operational
            else:
                keys = []  # the target is not ready to move on: keep negotiating this stage
        raise ISCSIProtocolError("login did not complete in a bounded number of rounds")

    async def send_targets(self, max_bytes: int = MAX_DATA) -> list[SendTarget]:
        data = b""
        ttt = 0xFFFFFFFF
        itt = self._next_itt()
        payload = encode_kv([("SendTargets", "All")])
        for _ in range(MAX_TEXT_ROUNDS):
            bhs = bytearray(BHS_LEN)
            bhs[0] = IMMEDIATE | OP_TEXT_REQ
            bhs[1] = FLAG_FINAL
            struct.pack_into(">II", bhs, 16, itt, ttt)
            struct.pack_into(">II", bhs, 24, self.cmd_sn, self.exp_stat_sn)
            await self.conn.send(encode_pdu(bhs, payload))
            pdu = await self._read(OP_TEXT_RSP)
            if pdu.opcode == OP_REJECT:
                raise ISCSIProtocolError("target rejected the Text request")
            self.exp_stat_sn = (pdu.u32(24) + 1) & 0xFFFFFFFF
            data += pdu.data
            if len(data) > max_bytes:
                raise ISCSIProtocolError("SendTargets answer exceeds the limit")
            if pdu.flags & FLAG_FINAL and not pdu.flags & FLAG_CONTINUE:
                return parse_send_targets(decode_kv(data))
            ttt = pdu.u32(20)
            payload = b""
        raise ISCSIProtocolError("SendTargets answer did not end in a bounded number of PDUs")

    async def scsi_read(self, lun: int, cdb: bytes, alloc: int) -> tuple[int, bytes]:
        """Run one read-type (data-in) SCSI command; returns (SCSI status, data)."""
        if len(cdb) > 16 or alloc > MAX_SCSI_IN:
            raise ValueError("CDB too long or allocation too large")
        itt = self._next_itt()
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_SCSI_CMD
        bhs[1] = FLAG_FINAL | 0x40 | 0x01  # final, read, simple task attribute
        bhs[8:16] = encode_lun(lun)
        struct.pack_into(">III", bhs, 16, itt, alloc, self.cmd_sn)
        struct.pack_into(">I", bhs, 28, self.exp_stat_sn)
        bhs[32 : 32 + len(cdb)] = cdb
        self.cmd_sn = (self.cmd_sn + 1) & 0xFFFFFFFF
        await self.conn.send(encode_pdu(bhs))
        data = b""
        for _ in range(MAX_DATA_IN_PDUS):
            pdu = await self._read(OP_DATA_IN, OP_SCSI_RSP)
            if pdu.opcode == OP_REJECT:
                raise ISCSIProtocolError("target rejected the SCSI command")
            if pdu.u32(16) != itt:
                raise ISCSIProtocolError("SCSI answer for another task")
            if pdu.opcode == OP_DATA_IN:
                data += pdu.data
                if len(data) > alloc:
                    raise ISCSIProtocolError("more data-in than requested")
                if pdu.flags & 0x01:  # S: status carried here
                    self.exp_stat_sn = (pdu.u32(24) + 1) & 0xFFFFFFFF
                    return pdu.bhs[3], data
                continue
            self.exp_stat_sn = (pdu.u32(24) + 1) & 0xFFFFFFFF
            if pdu.bhs[2] != 0:
                raise ISCSIProtocolError(f"SCSI command failed: response {pdu.bhs[2]:#04x}")
            return pdu.bhs[3], data
        raise ISCSIProtocolError("SCSI answer did not end in a bounded number of PDUs")

    async def _scsi_good(self, lun: int, cdb: bytes, alloc: int) -> bytes | None:
        """Retry once after CHECK CONDITION (a unit attention right after login is normal)."""
        for _ in range(2):
            status, data = await self.scsi_read(lun, cdb, alloc)
            if status == SCSI_GOOD:
                return data
            if status != SCSI_CHECK_CONDITION:
                return None
        return None

    async def describe_luns(self, max_luns: int = MAX_LUNS) -> list[LunInfo]:
        """LUN list, type, size and write protection: metadata only, no block is read."""
        raw = await self._scsi_good(0, cdb_report_luns(512), 512)
        luns = parse_report_luns(raw, max_luns) if raw is not None else [0]
        out: list[LunInfo] = []
        for lun in luns[:max_luns]:
            info = LunInfo(lun)
            inq = await self._scsi_good(lun, cdb_inquiry(96), 96)
            if inq is not None:
                parse_inquiry(info, inq)
            if info.device_type == 0:  # direct-access block device (a disk)
                cap = await self._scsi_good(lun, cdb_read_capacity10(), 8)
                if cap is not None:
                    parse_read_capacity10(info, cap)
                mode = await self._scsi_good(lun, cdb_mode_sense6(64), 64)
                if mode is not None:
                    parse_mode_sense6(info, mode)
            out.append(info)
        return out

    async def logout(self) -> bool:
        """Close the session; True when the target confirmed."""
        bhs = bytearray(BHS_LEN)
        bhs[0] = IMMEDIATE | OP_LOGOUT_REQ
        bhs[1] = FLAG_FINAL | 0  # reason: close the session
        struct.pack_into(">I", bhs, 16, self._next_itt())
        struct.pack_into(">H", bhs, 20, self.cid)
        struct.pack_into(">II", bhs, 24, self.cmd_sn, self.exp_stat_sn)
        await self.conn.send(encode_pdu(bhs))
        pdu = await self._read(OP_LOGOUT_RSP)
        self.logged_in = False
        return pdu.opcode == OP_LOGOUT_RSP and pdu.bhs[2] == 0
