"""nmap-style port specifications."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.ports import PortSpec, PortSpecError, parse_ports


def test_mixed_list() -> None:
    spec = parse_ports("21,80,8000-8003,T:445,U:69")
    assert spec.tcp == (21, 80, 445, 8000, 8001, 8002, 8003)
    assert spec.udp == (69,)


def test_prefix_applies_to_following_ports() -> None:
    spec = parse_ports("U:53,111,T:21-22,80")
    assert spec.udp == (53, 111)
    assert spec.tcp == (21, 22, 80)


def test_open_ranges_and_duplicates() -> None:
    assert parse_ports("-").tcp == tuple(range(1, 65536))
    assert parse_ports("-3").tcp == (1, 2, 3)
    assert parse_ports("65534-").tcp == (65534, 65535)
    assert parse_ports("80,80,79-80").tcp == (79, 80)


@pytest.mark.parametrize(
    ("spec", "token"),
    [
        ("80,abc", "abc"),
        ("0", "0"),
        ("65536", "65536"),
        ("100-90", "100-90"),
        ("X:80", "X:80"),
        ("U:", "U:"),
        ("80,,81", "80,,81"),
        ("", ""),
    ],
)
def test_bad_specs_name_the_token(spec: str, token: str) -> None:
    with pytest.raises(PortSpecError) as err:
        parse_ports(spec)
    assert err.value.token == token
    assert repr(token) in str(err.value)


@given(
    st.sets(st.integers(1, 65535), max_size=30),
    st.sets(st.integers(1, 65535), max_size=30),
)
def test_round_trip(tcp: set[int], udp: set[int]) -> None:
    spec = PortSpec.of(tcp, udp)
    if not spec:
        return
    assert parse_ports(str(spec)) == spec
