"""The declarative structure helper and every structure of scanner.protocols.smb: sizes as the
specifications give them, exact bytes, captured Samba bytes, and a hypothesis round trip."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.protocols.smb import header, messages, ntlm, smb1
from scanner.protocols.smb.constants import Command, HeaderFlags, NtStatus, status_name
from scanner.protocols.smb.structure import U8, U16, U32, U64, Bytes4, Structure

CAPTURES = Path(__file__).resolve().parents[2] / "captures" / "smb"

# Fixed sizes from MS-SMB2 2.2 / MS-CIFS 2.2 / MS-NLMP 2.2 (StructureSize minus the variable
# byte where the spec counts one).
SIZES: dict[type[Structure], int] = {
    header.Smb2HeaderLayout: 64,
    messages.NegotiateRequestBody: 36,
    messages.NegotiateContextHeader: 8,
    messages.NegotiateResponseBody: 64,
    messages.SessionSetupRequestBody: 24,
    messages.SessionSetupResponseBody: 8,
    messages.TreeConnectRequestBody: 8,
    messages.TreeConnectResponseBody: 16,
    messages.CreateRequestBody: 56,
    messages.CreateContextHeader: 16,
    messages.CreateResponseBody: 88,
    messages.MaximalAccessResponse: 8,
    messages.QueryDirectoryRequestBody: 32,
    messages.QueryDirectoryResponseBody: 8,
    messages.FileDirectoryInformation: 64,
    messages.CloseRequestBody: 24,
    messages.ReadRequestBody: 49,
    messages.ReadResponseBody: 16,
    smb1.Smb1Header: 33,
    smb1.Smb1NegotiateResponseWords: 34,
    ntlm.SecurityBuffer: 8,
    ntlm.NtlmNegotiateMessage: 32,
    ntlm.NtlmChallengeFixed: 48,
    ntlm.NtlmAuthenticateHead: 12,
}


def _every_structure() -> set[type[Structure]]:
    found: set[type[Structure]] = set()
    for module in (header, messages, ntlm, smb1):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Structure) and value is not Structure:
                found.add(value)
    return found


def test_every_structure_has_its_specified_size() -> None:
    assert _every_structure() == set(SIZES), "a structure without a size check (or a stale one)"
    for cls, size in SIZES.items():
        assert cls.size() == size, cls.__name__


@dataclass(frozen=True)
class Sample(Structure):
    tag: Bytes4
    small: U8
    word: U16
    dword: U32
    qword: U64


def test_fields_are_packed_in_declaration_order_little_endian() -> None:
    s = Sample(b"ABCD", 0x01, 0x0302, 0x07060504, 0x0F0E0D0C0B0A0908)
    assert Sample.size() == 4 + 1 + 2 + 4 + 8
    assert Sample.field_names() == ("tag", "small", "word", "dword", "qword")
    assert s.pack() == b"ABCD" + bytes(range(1, 16))
    assert Sample.unpack_from(b"xx" + s.pack(), 2) == s


def test_a_field_without_a_wire_type_is_refused() -> None:
    @dataclass(frozen=True)
    class Broken(Structure):
        fine: U16
        oops: int

    with pytest.raises(TypeError, match="oops"):
        Broken.size()


def test_short_input_raises_struct_error() -> None:
    with pytest.raises(struct.error):
        Sample.unpack_from(b"ABCD\x01")


def test_header_bytes_built_by_hand() -> None:
    built = header.build_header(
        Command.CREATE, 7, session_id=0x1122334455667788, tree_id=9, credit_charge=1,
        credit_request=64,
    )  # fmt: skip
    by_hand = (
        b"\xfeSMB" + b"\x40\x00" + b"\x01\x00" + b"\x00" * 4 + b"\x05\x00" + b"\x40\x00"
        + b"\x00" * 4 + b"\x00" * 4 + (7).to_bytes(8, "little") + b"\xff\xfe\x00\x00"
        + b"\x09\x00\x00\x00" + bytes.fromhex("8877665544332211") + b"\x00" * 16
    )  # fmt: skip
    assert built == by_hand
    layout = header.Smb2HeaderLayout.unpack_from(built)
    assert (layout.command, layout.message_id, layout.tree_id) == (Command.CREATE, 7, 9)
    assert layout.session_id == 0x1122334455667788 and layout.credits == 64


def test_captured_samba_negotiate_by_field_name() -> None:
    msg = (CAPTURES / "negotiate_guest_server.bin").read_bytes()
    h = header.Smb2HeaderLayout.unpack_from(msg)
    assert h.protocol_id == b"\xfeSMB" and h.structure_size == 64
    assert h.command == Command.NEGOTIATE and h.flags & HeaderFlags.RESPONSE
    assert h.status == NtStatus.SUCCESS
    body = messages.NegotiateResponseBody.unpack_from(msg, 64)
    assert body.structure_size == 65 and body.dialect == 0x0311
    assert body.security_buffer_offset + body.security_buffer_length <= len(msg)
    assert body.max_read_size >= 65536


def test_captured_samba_create_by_field_name() -> None:
    msg = (CAPTURES / "create_root_mxac.bin").read_bytes()
    body = messages.CreateResponseBody.unpack_from(msg, 64)
    assert body.structure_size == 89
    assert body.file_attributes & 0x10  # the share's root is a directory
    assert body.contexts_offset >= 64 + 88
    assert body.contexts_offset + body.contexts_length <= len(msg)
    ctx = messages.CreateContextHeader.unpack_from(msg, body.contexts_offset)
    name = msg[body.contexts_offset + ctx.name_offset :][: ctx.name_length]
    assert name == b"MxAc"


def test_captured_smb1_negotiate_words() -> None:
    msg = (CAPTURES / "smb1_negotiate_nt1_server.bin").read_bytes()
    h = smb1.Smb1Header.unpack_from(msg)
    assert h.protocol == b"\xffSMB" and h.command == smb1.Smb1Command.NEGOTIATE
    assert h.word_count == 17
    words = smb1.Smb1NegotiateResponseWords.unpack_from(msg, 33)
    assert words.dialect_index == 0 and words.challenge_length in (0, 8)


def test_directory_entry_field_order_the_parser_relies_on() -> None:
    # parse_directory_information unpacks the raw tuple of this layout in this order
    assert messages.FileDirectoryInformation.field_names() == (
        "next_entry_offset", "file_index", "creation_time", "last_access_time",
        "last_write_time", "change_time", "end_of_file", "allocation_size", "file_attributes",
        "file_name_length",
    )  # fmt: skip


def test_status_names() -> None:
    assert status_name(0xC0000022) == "STATUS_ACCESS_DENIED"
    assert status_name(NtStatus.NO_MORE_FILES) == "STATUS_NO_MORE_FILES"
    assert status_name(0xC0DEC0DE) == "0xC0DEC0DE"


# -- hypothesis: any bytes of the right length unpack and pack back to themselves ---------------
_INT_BITS = {"B": 8, "H": 16, "I": 32, "Q": 64}


def _values(cls: type[Structure]) -> st.SearchStrategy[Structure]:
    codes = cls.layout().format[1:]  # without the "<"
    parts: list[st.SearchStrategy[object]] = []
    i = 0
    while i < len(codes):
        j = i
        while codes[j].isdigit():
            j += 1
        count, kind = int(codes[i:j] or 1), codes[j]
        if kind == "s":
            parts.append(st.binary(min_size=count, max_size=count))
        else:
            parts.extend(st.integers(0, (1 << _INT_BITS[kind]) - 1) for _ in range(count))
        i = j + 1
    return st.tuples(*parts).map(lambda values: cls(*values))


ALL = sorted(SIZES, key=lambda c: c.__name__)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("cls", ALL, ids=[c.__name__ for c in ALL])
def test_round_trip_from_bytes(cls: type[Structure], data: st.DataObject) -> None:
    raw = data.draw(st.binary(min_size=cls.size(), max_size=cls.size()))
    assert cls.unpack_from(raw).pack() == raw


@settings(max_examples=40, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("cls", ALL, ids=[c.__name__ for c in ALL])
def test_round_trip_from_values(cls: type[Structure], data: st.DataObject) -> None:
    value = data.draw(_values(cls))
    packed = value.pack()
    assert len(packed) == cls.size()
    assert cls.unpack_from(packed) == value
