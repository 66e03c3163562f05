"""Targets, exclusions, scope, the permuted (host, port) space and shards.

Parsing tests may mention any address; nothing here sends a packet (hostname tests resolve
``localhost`` only).
"""

from __future__ import annotations

import ipaddress
import itertools
import subprocess
import sys
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.targets import (
    Permutation,
    Scope,
    TargetError,
    TargetSpace,
    build_scope,
    compose_shard,
    parse_literal,
    parse_shard,
    read_target_file,
    split_specs,
)


def test_literals() -> None:
    iv = parse_literal("10.0.0.0/30")
    assert iv is not None and (iv.size, iv.version) == (4, 4)
    iv = parse_literal("10.0.0.5/24")  # host bits allowed, as in nmap
    assert iv is not None and iv.start == int(ipaddress.ip_address("10.0.0.0")) and iv.size == 256
    iv = parse_literal("10.0.0.1-50")
    assert iv is not None and iv.size == 50
    iv = parse_literal("10.0.0.250-10.0.1.4")
    assert iv is not None and iv.size == 11
    iv = parse_literal("fd00::1-fd00::20")
    assert iv is not None and (iv.version, iv.size) == (6, 32)
    iv = parse_literal("::1")
    assert iv is not None and iv.size == 1
    assert parse_literal("nas.example.org") is None
    assert parse_literal("my-nas") is None


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("10.0.0.0/33", "malformed CIDR"),
        ("10.0.0/8x", "malformed CIDR"),
        ("10.0.0.300", "malformed address"),
        ("10.0.0.50-10.0.0.1", "range ends before it starts"),
        ("10.0.0.50-1", "range ends before it starts"),
        ("10.0.0.1-300", "malformed range"),
        ("10.0.0.1-", "malformed range"),
        ("10.0.0.1-::5", "range mixes IPv4 and IPv6"),
        ("bad_host!", "malformed target"),
    ],
)
def test_bad_literals(token: str, reason: str) -> None:
    with pytest.raises(TargetError) as err:
        parse_literal(token)
    assert err.value.token == token
    assert err.value.reason.startswith(reason)


def test_split_specs_and_files(tmp_path: object) -> None:
    assert split_specs(["10.0.0.1,10.0.0.2 10.0.0.3\n# comment\n10.0.0.4 # tail"]) == [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
    ]
    assert read_target_file("-", "127.0.0.1\n127.0.0.2\n") == ["127.0.0.1", "127.0.0.2"]
    with pytest.raises(TargetError) as err:
        read_target_file("/nonexistent/targets.txt")
    assert err.value.token == "/nonexistent/targets.txt"


async def test_exclusions_win_and_empty_scope() -> None:
    scope = await build_scope(["10.0.0.0/24"], ["10.0.0.0/25", "10.0.0.200-10.0.0.255"])
    assert scope.size == 200 - 128
    assert "10.0.0.128" in scope and "10.0.0.199" in scope
    assert "10.0.0.127" not in scope and "10.0.0.200" not in scope
    assert ipaddress.ip_address("10.0.0.150") in scope
    assert "not-an-ip" not in scope and 42 not in scope
    with pytest.raises(TargetError, match="empty after exclusions"):
        await build_scope(["10.0.0.0/24"], ["10.0.0.0/23"])


async def test_hostnames_resolve_and_keep_their_name() -> None:
    scope = await build_scope(["localhost"])
    assert "127.0.0.1" in scope
    assert scope.hostname_for("127.0.0.1") == "localhost"


def test_unresolvable_hostname_names_the_token() -> None:
    """Resolved in a fresh network namespace (``unshare -n``): the DNS query cannot leave."""
    code = (
        "import asyncio\n"
        "from scanner.targets import TargetError, build_scope\n"
        "try:\n"
        "    asyncio.run(build_scope(['no-such-host.invalid']))\n"
        "except TargetError as e:\n"
        "    print(e.token, '|', e.reason)\n"
    )
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert proc.stdout.strip() == "no-such-host.invalid | cannot resolve hostname"


async def test_guard_rails() -> None:
    assert (await build_scope(["127.0.0.0/16"])).needs_confirmation() is None
    assert (await build_scope(["10.0.0.0/24", "fd00::/120"])).needs_confirmation() is None
    big = await build_scope(["10.0.0.0/15"])
    assert "more than a /16" in (big.needs_confirmation() or "")
    public = await build_scope(["8.8.8.8"])
    assert "public" in (public.needs_confirmation() or "")
    # a range straddling the edge of a private block is partly public
    edge = await build_scope(["10.255.255.250-11.0.0.1"])
    assert "11.0.0.0" in (edge.needs_confirmation() or "")


def test_shard_parsing_and_composition() -> None:
    assert parse_shard("1/4") == (0, 4)
    assert parse_shard("4/4") == (3, 4)
    for bad in ("0/4", "5/4", "1/0", "a/b", "1-4"):
        with pytest.raises(TargetError):
            parse_shard(bad)
    assert compose_shard((1, 3), (1, 2)) == (4, 6)


def _scope(*cidrs: str) -> Scope:
    from scanner.targets import _merge

    ivs = []
    for c in cidrs:
        iv = parse_literal(c)
        assert iv is not None
        ivs.append(iv)
    return Scope(_merge(ivs))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 2**32))
def test_permutation_is_a_bijection(n: int, seed: int) -> None:
    perm = Permutation(n, seed)
    out = list(perm.iter())
    assert sorted(out) == list(range(n))
    assert [perm(p) for p in range(n)] == out


def test_permutation_large_domain_without_tables() -> None:
    perm = Permutation(1 << 40, 7)
    assert perm.tables is None
    sample = [perm(p) for p in range(2000)]
    assert len(set(sample)) == 2000 and all(0 <= x < 1 << 40 for x in sample)
    small = Permutation(5000, 7)
    small.tables = None  # force the computed round function
    assert sorted(small.iter()) == list(range(5000))


def test_order_is_reproducible_and_seeded() -> None:
    space = TargetSpace(_scope("10.1.0.0/24"), [21, 80])
    a = list(space.iter_pairs(1))
    assert a == list(space.iter_pairs(1))
    assert a != list(space.iter_pairs(2))
    # no subnet hammered: the first 64 probes spread over many hosts
    assert len({h for h, _ in a[:64]}) > 40


_cidr = st.builds(
    lambda a, p: f"{ipaddress.IPv4Address(a)}/{p}",
    st.integers(0, 2**32 - 1),
    st.integers(22, 32),
)
_range6 = st.builds(
    lambda a, n: (
        f"{ipaddress.IPv6Address(0xFD00 << 112 | a)}-{ipaddress.IPv6Address(0xFD00 << 112 | a + n)}"
    ),
    st.integers(0, 0xFFFF),
    st.integers(0, 300),
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(_cidr, _range6), min_size=1, max_size=4),
    st.lists(st.one_of(_cidr, _range6), max_size=4),
    st.lists(st.integers(1, 65535), min_size=1, max_size=3, unique=True),
    st.integers(0, 2**31),
    st.integers(1, 5),
)
async def test_space_properties(
    targets: list[str], excludes: list[str], ports: list[int], seed: int, nshards: int
) -> None:
    try:
        scope = await build_scope(targets, excludes)
    except TargetError as exc:
        assert "empty after exclusions" in str(exc)
        return
    excluded = [parse_literal(e) for e in excludes]
    included = [parse_literal(t) for t in targets]
    space = TargetSpace(scope, ports)
    seen: list[tuple[str, int]] = []
    per_shard: list[set[tuple[str, int]]] = []
    for i in range(nshards):
        part = list(space.iter_pairs(seed, (i, nshards)))
        per_shard.append(set(part))
        seen.extend(part)
    # every pair exactly once across all shards: disjoint and complete
    assert len(seen) == len(set(seen)) == len(space)
    assert set(seen) == {space[i] for i in range(len(space))}
    for host, port in seen:
        addr = ipaddress.ip_address(host)
        value = int(addr)
        assert port in ports
        assert host in scope
        assert any(
            iv is not None and iv.version == addr.version and iv.start <= value <= iv.end
            for iv in included
        )
        assert not any(
            iv is not None and iv.version == addr.version and iv.start <= value <= iv.end
            for iv in excluded
        )


def test_sub_shards_compose() -> None:
    space = TargetSpace(_scope("10.2.0.0/26"), [21, 445, 2049])
    whole = list(space.iter_indices(5, (1, 3)))
    halves = [list(space.iter_indices(5, compose_shard((1, 3), (j, 2)))) for j in range(2)]
    assert sorted(halves[0] + halves[1]) == sorted(whole)
    assert not set(halves[0]) & set(halves[1])


def test_slash8_times_12_ports_in_flat_memory() -> None:
    scope = _scope("10.0.0.0/8")
    ports = [21, 80, 111, 139, 443, 445, 548, 873, 2049, 3260, 8080, 9000]
    tracemalloc.start()
    space = TargetSpace(scope, ports)
    assert len(space) == (1 << 24) * 12
    it = space.iter_pairs(3, (0, 1))
    first = [next(it) for _ in range(20000)]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak
    assert len(set(first)) == 20000
    assert all(h.startswith("10.") for h, _ in first)
    assert space[len(space) - 1] == ("10.255.255.255", 9000)


_small = st.lists(
    st.tuples(st.sampled_from([4, 6]), st.integers(0, 200), st.integers(0, 30)), max_size=12
)


@settings(max_examples=200, deadline=None)
@given(_small, _small)
def test_interval_subtraction_matches_set_arithmetic(
    inc: list[tuple[int, int, int]], exc: list[tuple[int, int, int]]
) -> None:
    from scanner.targets import Interval, _merge, _subtract

    def ivs(raw: list[tuple[int, int, int]]) -> list[Interval]:
        return _merge(Interval(v, a, a + n) for v, a, n in raw)

    def points(raw: list[tuple[int, int, int]]) -> set[tuple[int, int]]:
        return {(v, x) for v, a, n in raw for x in range(a, a + n + 1)}

    result = _subtract(ivs(inc), ivs(exc))
    got = {(iv.version, x) for iv in result for x in range(iv.start, iv.end + 1)}
    assert got == points(inc) - points(exc)
    assert all(a.end < b.start or a.version < b.version for a, b in itertools.pairwise(result))
