"""Port specifications at their edges: one-port ranges, the ends of 1-65535, prefixes, empty
parts, and the exact text of every refusal and of the compact form."""

from __future__ import annotations

import pytest

from scanner.ports import MAX_PORT, PortSpec, PortSpecError, parse_ports

ROWS = [
    ("80-80", (80,), ()),
    ("1", (1,), ()),
    ("65535", (65535,), ()),
    ("1-1", (1,), ()),
    ("65535-65535", (65535,), ()),
    ("65535-", (65535,), ()),
    ("-1", (1,), ()),
    ("-2", (1, 2), ()),
    ("65533-", (65533, 65534, 65535), ()),
    (" 22 , 21 ", (21, 22), ()),
    ("080", (80,), ()),
    ("t:21", (21,), ()),
    ("u:69", (), (69,)),
    ("U:69,80", (), (69, 80)),
    ("U:69,T:80", (80,), (69,)),
    ("T: 21-22 ,U:68-69", (21, 22), (68, 69)),
    ("U:-2", (), (1, 2)),
    ("U:65534-", (), (65534, 65535)),
]


@pytest.mark.parametrize(("spec", "tcp", "udp"), ROWS)
def test_rows(spec: str, tcp: tuple[int, ...], udp: tuple[int, ...]) -> None:
    assert parse_ports(spec) == PortSpec(tcp, udp)


def test_every_port() -> None:
    assert MAX_PORT == 65535
    spec = parse_ports("U:-")
    assert spec.tcp == () and len(spec.udp) == 65535
    assert (spec.udp[0], spec.udp[-1]) == (1, 65535)
    assert parse_ports("1-65535") == parse_ports("-")


REFUSED = [
    ("0", "0", "port out of range 1-65535"),
    ("65536", "65536", "port out of range 1-65535"),
    ("0-5", "0-5", "port out of range 1-65535"),
    ("5-65536", "5-65536", "port out of range 1-65535"),
    ("U:0", "U:0", "port out of range 1-65535"),
    ("abc", "abc", "not a port number"),
    ("+80", "+80", "not a port number"),
    ("8 0", "8 0", "not a port number"),
    ("\u0668\u0660", "\u0668\u0660", "not a port number"),  # Arabic-Indic 80
    ("1-2-3", "1-2-3", "not a port number"),
    ("81-80", "81-80", "range ends before it starts"),
    ("X:80", "X:80", "unknown protocol prefix (use T: or U:)"),
    ("TU:80", "TU:80", "unknown protocol prefix (use T: or U:)"),
    ("T:U:80", "T:U:80", "not a port number"),
    ("T:", "T:", "prefix without ports"),
    ("u: ", "u:", "prefix without ports"),
    ("", "", "empty port list"),
    ("  ", "  ", "empty port list"),
    ("80,", "80,", "empty element"),
    (",80", ",80", "empty element"),
    ("80, ,81", "80, ,81", "empty element"),
]


@pytest.mark.parametrize(("spec", "token", "reason"), REFUSED)
def test_refusals(spec: str, token: str, reason: str) -> None:
    with pytest.raises(PortSpecError) as err:
        parse_ports(spec)
    assert err.value.token == token
    assert str(err.value) == f"bad port spec {token!r}: {reason}"


@pytest.mark.parametrize(
    ("tcp", "udp", "text"),
    [
        ((), (), ""),
        ((80,), (), "T:80"),
        ((), (69,), "U:69"),
        ((21, 22), (), "T:21-22"),
        ((21, 23), (), "T:21,23"),
        ((21, 22, 23, 80), (68, 69), "T:21-23,80,U:68-69"),
        ((1, 3, 4, 5, 7), (), "T:1,3-5,7"),
        ((65534, 65535), (1,), "T:65534-65535,U:1"),
    ],
)
def test_compact_text(tcp: tuple[int, ...], udp: tuple[int, ...], text: str) -> None:
    spec = PortSpec(tcp, udp)
    assert str(spec) == text
    if text:
        assert parse_ports(text) == spec


def test_truth_and_of() -> None:
    assert not PortSpec()
    assert PortSpec(tcp=(1,))
    assert PortSpec(udp=(1,))
    assert PortSpec.of([80, 21, 80], [69, 53, 69]) == PortSpec((21, 80), (53, 69))
    assert PortSpec.of() == PortSpec((), ())
