"""The scope is exactly what was written: every accepted form with its addresses worked out by
hand (as integers), every form that cannot be represented exactly refused, and the edges of
the scope's size, membership, order and shards.

Nothing here sends a packet (addresses are parsed, never dialled; names resolved: localhost).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from scanner.targets import (
    GUARD_MAX_HOSTS,
    MAX_PAIRS,
    Interval,
    Permutation,
    Scope,
    TargetError,
    TargetSpace,
    _merge,
    _subtract,
    build_scope,
    parse_literal,
    parse_shard,
    read_target_file,
    split_specs,
)

# 10.0.0.0 = 10 * 2**24; fd00:: = 0xfd00 * 2**112
TEN = 10 * 2**24
FD = 0xFD00 * 2**112

ACCEPTED = [
    ("10.0.0.7", (4, TEN + 7, TEN + 7)),
    (" 10.0.0.7\t", (4, TEN + 7, TEN + 7)),
    ("10.0.0.0/24", (4, TEN, TEN + 255)),
    ("10.0.0.5/24", (4, TEN, TEN + 255)),  # host bits: the whole /24, as nmap
    ("10.0.0.9/32", (4, TEN + 9, TEN + 9)),
    ("10.0.0.9/31", (4, TEN + 8, TEN + 9)),
    ("0.0.0.0/0", (4, 0, 2**32 - 1)),
    ("255.255.255.255/32", (4, 2**32 - 1, 2**32 - 1)),
    ("10.0.0.1-255", (4, TEN + 1, TEN + 255)),
    ("10.0.0.1-1", (4, TEN + 1, TEN + 1)),
    ("10.0.0.0-0", (4, TEN, TEN)),
    ("10.0.0.1-50", (4, TEN + 1, TEN + 50)),
    ("10.0.0.250-10.0.1.4", (4, TEN + 250, TEN + 256 + 4)),
    ("10.0.0.3-10.0.0.3", (4, TEN + 3, TEN + 3)),
    ("::1", (6, 1, 1)),
    ("::/0", (6, 0, 2**128 - 1)),
    ("fd00::/64", (6, FD, FD + 2**64 - 1)),
    ("fd00::5/126", (6, FD + 4, FD + 7)),
    ("[fd00::1]", (6, FD + 1, FD + 1)),
    ("[fd00::]/120", (6, FD, FD + 255)),
    ("fd00::1-fd00::20", (6, FD + 1, FD + 0x20)),
    ("[fd00::1]-[fd00::5]", (6, FD + 1, FD + 5)),
]


@pytest.mark.parametrize(("token", "expected"), ACCEPTED)
def test_accepted_forms_are_exactly_what_is_written(
    token: str, expected: tuple[int, int, int]
) -> None:
    assert parse_literal(token) == Interval(*expected)


REFUSED = [
    # a last octet past 255 is not carried into the next /24 (10.0.0.1-256 is not 10.0.0.1-10.0.1.0)
    ("10.0.0.1-256", "malformed range (a last-octet range ends at 0-255)"),
    ("10.0.0.0-999", "malformed range (a last-octet range ends at 0-255)"),
    ("10.0.0.1-050", "malformed range (a leading zero: octal or decimal?)"),
    ("10.0.0.1-00", "malformed range (a leading zero: octal or decimal?)"),
    ("10.0.0.1-1000", "malformed range (a last-octet range ends at 0-255)"),
    ("10.0.0.9-8", "range ends before it starts"),
    ("10.0.0.9-10.0.0.8", "range ends before it starts"),
    ("fd00::9-fd00::8", "range ends before it starts"),
    ("10.0.0.1-", "malformed range"),
    ("fd00::1-", "malformed range"),
    ("-10.0.0.1", "malformed address"),
    ("10.0.0-5.1", "malformed address"),  # nmap's octet ranges: not supported, never guessed
    ("10.0.0.1-2-3", "malformed address"),
    ("fd00::1-20", "malformed range (an IPv6 range names both ends in full)"),
    ("fd00::1-10.0.0.5", "range mixes IPv4 and IPv6"),
    ("10.0.0.1-fd00::5", "range mixes IPv4 and IPv6"),
    # masks and padded prefixes: one spelling, one meaning
    ("10.0.0.0/255.255.255.0", "malformed CIDR (the prefix is a length like /24)"),
    ("10.0.0.0/0.0.0.255", "malformed CIDR (the prefix is a length like /24)"),
    ("10.0.0.0/024", "malformed CIDR (the prefix is a length like /24)"),
    ("10.0.0.0/", "malformed CIDR (the prefix is a length like /24)"),
    ("10.0.0.0/2x", "malformed CIDR (the prefix is a length like /24)"),
    ("10.0.0.0/1000", "malformed CIDR (the prefix is a length like /24)"),
    ("10.0.0.0/33", "malformed CIDR"),
    ("fd00::/129", "malformed CIDR"),
    ("10.0.0/8", "malformed address"),
    ("10.0.0.0/24/8", "malformed CIDR (the prefix is a length like /24)"),
    # an IPv6 zone cannot be kept in an interval of integers
    ("fe80::1%eth0", "IPv6 zone index (%) not supported in a scope"),
    ("fe80::%eth0/64", "IPv6 zone index (%) not supported in a scope"),
    ("fe80::1%1-fe80::5%1", "IPv6 zone index (%) not supported in a scope"),
    ("[10.0.0.1]", "malformed target"),
    ("[10.0.0.1]-[10.0.0.3]", "malformed target"),
    ("[fd00::1", "malformed address"),
    ("fd00::1]", "malformed address"),
    ("[10.0.0.1]-[::1]", "brackets only around an IPv6 address"),
    ("10.0.0.300", "malformed address"),
    ("10.1", "malformed address"),
    ("167772161", "malformed address"),
    ("   ", "empty target"),
    ("bad_host!", "malformed target"),
    ("-", "malformed target"),
]


@pytest.mark.parametrize(("token", "reason"), REFUSED)
def test_forms_that_are_not_exact_are_refused(token: str, reason: str) -> None:
    with pytest.raises(TargetError) as err:
        parse_literal(token)
    assert err.value.reason == reason
    assert err.value.token == token
    assert repr(token) in str(err.value)


@pytest.mark.parametrize("token", ["nas", "nas.example.org", "my-nas.lan.", "a_b", "x1"])
def test_names_are_not_literals(token: str) -> None:
    assert parse_literal(token) is None


async def test_a_refused_range_refuses_the_whole_scope() -> None:
    with pytest.raises(TargetError, match="0-255"):
        await build_scope(["127.0.0.1", "127.0.0.1-256"])
    with pytest.raises(TargetError, match="0-255"):
        await build_scope(["127.0.0.0/24"], ["127.0.0.1-256"])  # exclusions alike


# -- the scope's size limit (MAX_PAIRS = 2**48 host-port pairs) ---------------------------------


def test_size_limit_refuses_an_ipv6_slash_64() -> None:
    assert MAX_PAIRS == 2**48
    scope = Scope([Interval(6, FD, FD + 2**64 - 1)])
    assert scope.size == 2**64
    with pytest.raises(TargetError) as err:
        TargetSpace(scope, [445])
    assert f"scope too large ({2**64} host-port pairs)" in str(err.value)
    assert err.value.token == f"{ipaddress.IPv6Address(FD)}-{ipaddress.IPv6Address(FD + 2**64 - 1)}"


def test_size_limit_names_the_first_three_parts() -> None:
    parts = [Interval(4, TEN, TEN), Interval(4, TEN + 2, TEN + 2), Interval(4, TEN + 4, TEN + 4),
             Interval(6, FD, FD + 2**64 - 1)]  # fmt: skip
    with pytest.raises(TargetError) as err:
        TargetSpace(Scope(parts), [1])
    assert err.value.token == "10.0.0.0,10.0.0.2,10.0.0.4"


def test_size_limit_edge() -> None:
    slash80 = Scope([Interval(6, FD, FD + 2**48 - 1)])
    assert len(TargetSpace(slash80, [80])) == 2**48  # exactly the limit: allowed
    with pytest.raises(TargetError, match="scope too large"):
        TargetSpace(slash80, [80, 443])  # 2**49
    with pytest.raises(TargetError, match="scope too large"):
        TargetSpace(Scope([Interval(6, FD, FD + 2**48)]), [80])  # one pair more


# -- shards: 1/1 is everything -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [("1/1", (0, 1)), (" 2 / 3 ", (1, 3)), ("10/10", (9, 10))]
)
def test_shard_forms(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0/1", "shard out of range (I/N with 1 <= I <= N)"),
        ("2/1", "shard out of range (I/N with 1 <= I <= N)"),
        ("0/0", "shard out of range (I/N with 1 <= I <= N)"),
        ("1/0", "shard out of range (I/N with 1 <= I <= N)"),
        ("1/", "malformed shard (use I/N, e.g. 1/4)"),
        ("-1/2", "malformed shard (use I/N, e.g. 1/4)"),
        ("1/2/3", "malformed shard (use I/N, e.g. 1/4)"),
    ],
)
def test_shard_refusals(text: str, reason: str) -> None:
    with pytest.raises(TargetError) as err:
        parse_shard(text)
    assert err.value.reason == reason and err.value.token == text


def test_shard_one_of_one_is_the_whole_space_in_order() -> None:
    space = TargetSpace(Scope([Interval(4, TEN, TEN + 9)]), [21, 445])
    whole = list(space.iter_indices(7, parse_shard("1/1")))
    assert sorted(whole) == list(range(20))
    assert whole == list(space.iter_indices(7))
    with pytest.raises(ValueError, match="bad shard"):
        list(space.iter_indices(7, (1, 1)))
    with pytest.raises(ValueError, match="bad shard"):
        list(space.iter_indices(7, (0, 0)))
    with pytest.raises(ValueError, match="bad shard"):
        list(space.iter_indices(7, (-1, 2)))


# -- the order is part of the format: resume and fleet workers on other machines rely on it ------


def test_permutation_order_is_stable_across_versions() -> None:
    assert list(Permutation(10, 7).iter()) == [0, 1, 3, 2, 4, 8, 7, 6, 9, 5]
    assert list(Permutation(1, 7).iter()) == [0]
    assert list(Permutation(0, 7).iter()) == []
    p = Permutation(300, 12345)
    assert list(p.iter())[:12] == [88, 28, 166, 186, 138, 80, 154, 71, 264, 31, 74, 134]
    assert list(p.iter(1, 3))[:5] == [28, 138, 71, 74, 13]
    big = Permutation(1 << 40, 7)  # beyond 2**32: the computed round function, no tables
    assert big.tables is None
    assert [big(i) for i in range(4)] == [768792244854, 623036107245, 246153341155, 232487623642]
    assert list(big.iter(0, 1 << 38))[:4] == [big(0), big(1 << 38), big(2 << 38), big(3 << 38)]


@pytest.mark.parametrize(("n", "half"), [(0, 1), (1, 1), (4, 1), (5, 2), (16, 2), (17, 3)])
def test_permutation_domain(n: int, half: int) -> None:
    p = Permutation(n, 1)
    assert (p.half, p.mask) == (half, 2**half - 1)
    assert sorted(p.iter()) == list(range(n))
    assert p.tables is not None and [len(t) for t in p.tables] == [2**half] * 3


def test_tables_up_to_sixteen_bits_per_half() -> None:
    assert Permutation(2**32, 3).tables is not None
    assert Permutation(2**32 + 1, 3).tables is None


# -- membership, hosts, describe ---------------------------------------------------------------


def test_membership_edges() -> None:
    scope = Scope([Interval(4, TEN + 10, TEN + 20), Interval(6, 5, 9)])
    assert "10.0.0.10" in scope and "10.0.0.20" in scope
    assert "10.0.0.9" not in scope and "10.0.0.21" not in scope
    assert "::5" in scope and "::9" in scope and "::4" not in scope and "::a" not in scope
    # the same integer in the other version is not in scope
    assert Scope([Interval(4, 5, 9)]).__contains__("::5") is False
    assert "0.0.0.5" not in Scope([Interval(6, 5, 9)])
    assert "0.0.0.0" not in scope and "::" not in scope
    assert ipaddress.ip_address("10.0.0.15") in scope
    assert None not in scope and b"10.0.0.15" not in scope and "10.0.0.15x" not in scope


def test_hosts_and_their_index() -> None:
    scope = Scope([Interval(6, FD + 1, FD + 2), Interval(4, TEN + 254, TEN + 257)])
    assert scope.size == 6
    hosts = ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1", "fd00::1", "fd00::2"]
    assert list(scope.hosts()) == hosts
    assert [scope.host_at(i) for i in range(6)] == hosts
    for bad in (-1, 6):
        with pytest.raises(IndexError) as err:
            scope.host_at(bad)
        assert err.value.args == (bad,)
    assert scope.describe() == ["10.0.0.254-10.0.1.1", "fd00::1-fd00::2"]
    assert Scope([Interval(4, TEN, TEN)]).describe() == ["10.0.0.0"]


def test_space_pairs_index_and_order() -> None:
    scope = Scope([Interval(4, TEN, TEN + 2), Interval(6, 1, 1)])
    space = TargetSpace(scope, (21, 80))
    assert len(space) == 8
    expected = [
        ("10.0.0.0", 21), ("10.0.0.1", 21), ("10.0.0.2", 21), ("::1", 21),
        ("10.0.0.0", 80), ("10.0.0.1", 80), ("10.0.0.2", 80), ("::1", 80),
    ]  # fmt: skip
    assert [space[i] for i in range(8)] == expected
    assert space[-1] == ("::1", 80) and space[-8] == ("10.0.0.0", 21)
    for bad in (8, -9):
        with pytest.raises(IndexError) as err:
            space[bad]
        assert err.value.args == (bad if bad >= 0 else bad + 8,)
    order = list(space.iter_pairs(3))
    assert order == [expected[i] for i in Permutation(8, 3).iter()]
    one = TargetSpace(Scope([Interval(4, TEN, TEN + 2)]), (21, 80))  # the one-interval path
    assert list(one.iter_pairs(3, (1, 2))) == [
        one[i] for i in list(Permutation(6, 3).iter())[1::2]
    ]
    assert list(TargetSpace(scope, ()).iter_pairs(3)) == []


# -- guard rails ---------------------------------------------------------------------------------


def test_more_than_a_slash_16_needs_yes_but_a_slash_16_does_not() -> None:
    assert GUARD_MAX_HOSTS == 65536
    assert Scope([Interval(4, TEN, TEN + 65535)]).needs_confirmation() is None
    why = Scope([Interval(4, TEN, TEN + 65536)]).needs_confirmation()
    assert why == "scope has 65537 addresses (more than a /16); check the targets, then add --yes"


@pytest.mark.parametrize(
    ("first", "last", "public"),
    [
        ("10.0.0.0", "10.255.255.255", None),
        ("9.255.255.255", "10.0.0.0", "9.255.255.255"),
        ("10.255.255.255", "11.0.0.0", "11.0.0.0"),
        ("172.16.0.0", "172.31.255.255", None),
        ("172.15.255.255", "172.16.0.0", "172.15.255.255"),
        ("172.31.255.255", "172.32.0.0", "172.32.0.0"),
        ("192.168.0.0", "192.168.255.255", None),
        ("192.168.255.255", "192.169.0.0", "192.169.0.0"),
        ("192.167.255.255", "192.168.0.0", "192.167.255.255"),
        ("127.0.0.0", "127.255.255.255", None),
        ("127.255.255.255", "128.0.0.0", "128.0.0.0"),
        ("169.254.0.0", "169.254.255.255", None),
        ("169.253.255.255", "169.254.0.0", "169.253.255.255"),
        ("169.254.255.255", "169.255.0.0", "169.255.0.0"),
        ("::1", "::1", None),
        ("::", "::1", "::"),
        ("::1", "::2", "::2"),
        ("fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fc00::", "fbff:" + "ffff:" * 6 + "ffff"),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::", "fe00::"),
        ("fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::", "fec0::"),
    ],
)  # fmt: skip
def test_public_edges(first: str, last: str, public: str | None) -> None:
    a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
    scope = Scope([Interval(a.version, int(a), int(b))])
    why = scope.needs_confirmation()
    if public is None:
        assert scope.public_intervals() == []
        assert why is None or "public" not in why
    else:
        assert why == (
            f"scope includes public addresses (e.g. {public}); "
            "scan only networks you are authorised to test, then add --yes"
        )
        p = ipaddress.ip_address(public)
        assert scope.public_intervals() == [Interval(p.version, int(p), int(p))]


# -- intervals ------------------------------------------------------------------------------------


def test_merge_joins_touching_intervals_of_one_version_only() -> None:
    assert _merge([Interval(4, 5, 9), Interval(4, 10, 12)]) == [Interval(4, 5, 12)]
    assert _merge([Interval(4, 5, 9), Interval(4, 11, 12)]) == [
        Interval(4, 5, 9),
        Interval(4, 11, 12),
    ]
    assert _merge([Interval(4, 5, 20), Interval(4, 6, 7)]) == [Interval(4, 5, 20)]
    assert _merge([Interval(4, 5, 9), Interval(6, 10, 12)]) == [
        Interval(4, 5, 9),
        Interval(6, 10, 12),
    ]
    assert _merge([Interval(6, 1, 3), Interval(4, 2, 9)]) == [Interval(4, 2, 9), Interval(6, 1, 3)]


@pytest.mark.parametrize(
    ("include", "exclude", "left"),
    [
        ([(4, 10, 20)], [(4, 10, 10)], [(4, 11, 20)]),
        ([(4, 10, 20)], [(4, 20, 20)], [(4, 10, 19)]),
        ([(4, 10, 20)], [(4, 9, 9)], [(4, 10, 20)]),
        ([(4, 10, 20)], [(4, 21, 30)], [(4, 10, 20)]),
        ([(4, 10, 20)], [(4, 12, 13), (4, 15, 15)], [(4, 10, 11), (4, 14, 14), (4, 16, 20)]),
        ([(4, 10, 20), (4, 30, 40)], [(4, 15, 35)], [(4, 10, 14), (4, 36, 40)]),
        ([(4, 10, 20)], [(6, 10, 20)], [(4, 10, 20)]),
        ([(6, 10, 20)], [(4, 10, 20)], [(6, 10, 20)]),
        ([(4, 10, 20)], [(4, 0, 100)], []),
    ],
)
def test_subtract_rows(
    include: list[tuple[int, int, int]],
    exclude: list[tuple[int, int, int]],
    left: list[tuple[int, int, int]],
) -> None:
    got = _subtract([Interval(*i) for i in include], [Interval(*e) for e in exclude])
    assert got == [Interval(*x) for x in left]


# -- target lists ---------------------------------------------------------------------------------


def test_split_specs_rows(tmp_path: Path) -> None:
    assert split_specs([]) == []
    assert split_specs([""]) == []
    assert split_specs(["a,,b\t c"]) == ["a", "b", "c"]
    assert split_specs(["# all comment\n  \nx # y, z\n"]) == ["x"]
    assert split_specs(["a", "b,c"]) == ["a", "b", "c"]
    assert split_specs(["a # b # c", "d#e#f"]) == ["a", "d"]
    f = tmp_path / "t.txt"
    f.write_bytes(b"127.0.0.1\n127.0.0.2 # two\n\xff\n")
    assert read_target_file(str(f)) == ["127.0.0.1", "127.0.0.2", "\ufffd"]
    assert read_target_file("-", None) == []
    with pytest.raises(TargetError) as err:
        read_target_file(str(tmp_path / "missing"))
    assert err.value.reason == "cannot read target file (No such file or directory)"


async def test_build_scope_rows() -> None:
    with pytest.raises(TargetError) as err:
        await build_scope([])
    assert (err.value.token, err.value.reason) == ("", "no targets given")
    many = [f"127.0.0.{i}" for i in range(1, 20)]
    with pytest.raises(TargetError) as err:
        await build_scope(many, ["127.0.0.0/24"])
    assert err.value.token == " ".join(many)[:80] and len(err.value.token) == 80
    scope = await build_scope(["127.0.0.1-3", "127.0.0.2-5"], ["127.0.0.4"])
    assert scope.intervals == [Interval(4, 127 * 2**24 + 1, 127 * 2**24 + 3),
                               Interval(4, 127 * 2**24 + 5, 127 * 2**24 + 5)]  # fmt: skip
    assert (scope.targets, scope.exclusions, scope.unresolved) == (
        ["127.0.0.1-3", "127.0.0.2-5"], ["127.0.0.4"], [],
    )  # fmt: skip
    with pytest.raises(TargetError) as err:
        await build_scope(["127.0.0.1", "127.0.0.2"], ["127.0.0.0/30"])
    assert (err.value.token, err.value.reason) == (
        "127.0.0.1 127.0.0.2", "scope is empty after exclusions",
    )  # fmt: skip


async def test_a_name_keeps_its_address_only_while_in_scope() -> None:
    scope = await build_scope(["localhost", "127.0.0.9"])
    assert scope.hostname_for("127.0.0.1") == "localhost"
    assert scope.hostname_for("127.0.0.9") is None
    excluded = await build_scope(["localhost", "127.0.0.9"], ["127.0.0.1"])
    assert excluded.hostname_for("127.0.0.1") is None and "127.0.0.1" not in excluded


# -- names that do not resolve (a zero timeout: nothing is asked of any resolver in time) --------


async def test_a_target_name_that_does_not_resolve_is_skipped() -> None:
    scope = await build_scope(["localhost", "127.0.0.5"], resolve_timeout=0)
    assert scope.unresolved == ["localhost"]
    assert scope.intervals == [Interval(4, 127 * 2**24 + 5, 127 * 2**24 + 5)]
    assert scope.hostnames == {}
    with pytest.raises(TargetError) as err:
        await build_scope(["localhost"], resolve_timeout=0)
    assert (err.value.token, err.value.reason) == ("localhost", "cannot resolve hostname")


async def test_an_exclusion_that_does_not_resolve_is_an_error() -> None:
    with pytest.raises(TargetError) as err:
        await build_scope(["127.0.0.0/30"], ["localhost"], resolve_timeout=0)
    assert (err.value.token, err.value.reason) == ("localhost", "cannot resolve hostname")
    scope = await build_scope(["127.0.0.0/30"], ["localhost"], resolve_timeout=30)
    assert "127.0.0.1" not in scope and scope.size == 3
