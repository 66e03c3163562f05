"""RTT timeouts and host liveness (scanner.pacing) as arithmetic: no sockets, no clocks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.pacing import Liveness, RttEstimate, RttTimeouts, net_key


def test_rfc6298_first_sample_and_update() -> None:
    e = RttEstimate()
    e.add(0.1)
    assert e.srtt == pytest.approx(0.1) and e.rttvar == pytest.approx(0.05)
    assert e.rto() == pytest.approx(0.3)
    e.add(0.3)
    # RTTVAR = 3/4 * 0.05 + 1/4 * |0.1 - 0.3| = 0.0875, then SRTT = 7/8 * 0.1 + 1/8 * 0.3 = 0.125
    assert e.rttvar == pytest.approx(0.0875)
    assert e.srtt == pytest.approx(0.125)
    assert e.rto() == pytest.approx(0.125 + 4 * 0.0875)


def test_timeouts_are_per_24_clamped_and_back_off() -> None:
    t = RttTimeouts(ceiling=1.0, floor=0.1)
    assert t.timeout("10.0.0.1") == 1.0  # nothing measured: the ceiling
    t.sample("10.0.0.7", 0.001)
    assert t.timeout("10.0.0.200") == 0.1  # same /24: the floor (RTO 3 ms is below it)
    t.sample("10.0.5.1", 0.1)
    assert t.timeout("10.0.5.9") == pytest.approx(0.3)  # SRTT 0.1 + 4 * RTTVAR 0.05
    assert t.timeout("10.0.5.9", tries=1) == pytest.approx(0.6)  # back-off doubles
    assert t.timeout("10.0.5.9", tries=2) == 1.0  # never above the ceiling
    t.sample("10.0.9.1", 5.0)
    assert t.timeout("10.0.9.1") == 1.0
    # an unmeasured /24 uses the scan-wide estimate, clamped
    assert 0.1 <= t.timeout("10.1.0.1") <= 1.0
    assert t.timeout("10.1.0.1") != 1.0 or t.overall.rto() >= 1.0


def test_floor_never_above_ceiling() -> None:
    t = RttTimeouts(ceiling=0.05, floor=0.1)
    t.sample("127.0.0.1", 0.0)
    assert t.timeout("127.0.0.1") == 0.05


def test_net_key() -> None:
    assert net_key("192.0.2.17") == "192.0.2"
    assert net_key("fd00::1") == net_key("2001:db8::1") == "v6"


@given(st.lists(st.floats(min_value=0, max_value=10), min_size=1, max_size=50),
       st.floats(min_value=0.01, max_value=5), st.integers(min_value=0, max_value=5))
def test_timeout_always_within_bounds(samples: list[float], ceiling: float, tries: int) -> None:
    t = RttTimeouts(ceiling=ceiling, floor=0.1)
    for s in samples:
        t.sample("198.51.100.1", s)
    got = t.timeout("198.51.100.2", tries)
    assert min(0.1, ceiling) <= got <= ceiling


def test_silent_host_is_judged_after_its_first_pairs() -> None:
    live = Liveness(judge_after=3)
    # the first three unanswered pairs keep their retries
    assert [live.unanswered("10.0.0.9", 0) for _ in range(3)] == [True, True, True]
    assert live.silent("10.0.0.9")
    # later pairs: one attempt, no retry
    assert live.unanswered("10.0.0.9", 0) is False
    # a retry of one of the judging pairs is still allowed to time out normally
    assert live.unanswered("10.0.0.9", 1) is True


def test_an_answer_makes_a_host_alive_for_good() -> None:
    live = Liveness(judge_after=2)
    live.unanswered("10.0.0.5", 0)
    live.unanswered("10.0.0.5", 0)
    assert live.silent("10.0.0.5")
    assert live.answered("10.0.0.5") is True
    assert live.answered("10.0.0.5") is False  # only the first answer is news
    assert not live.silent("10.0.0.5") and live.is_alive("10.0.0.5")
    assert all(live.unanswered("10.0.0.5", 0) for _ in range(10))  # alive: always retried
    assert live.alive_hosts() == ["10.0.0.5"]


def test_disabled_liveness_retries_everything() -> None:
    live = Liveness(enabled=False, judge_after=1)
    assert all(live.unanswered("10.0.0.1", 0) for _ in range(10))
    assert not live.silent("10.0.0.1")


def test_tracking_is_bounded_and_untracked_hosts_keep_retries() -> None:
    live = Liveness(judge_after=1, max_tracked=2)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        live.unanswered(ip, 0)
    assert len(live.state) == 2
    assert live.silent("10.0.0.1") and not live.silent("10.0.0.3")
    assert live.unanswered("10.0.0.3", 0) is True


async def test_pair_slices_cover_the_shard_once_also_in_sub_shards() -> None:
    from scanner.sweep import PairSlice
    from scanner.targets import TargetSpace, build_scope

    space = TargetSpace(await build_scope(["192.0.2.0/26"]), [1, 2, 3])
    for base in [(0, 1), (1, 3)]:
        whole = list(space.iter_pairs(5, base))
        head, tail = PairSlice(space, base, 0, 17), PairSlice(space, base, 17)
        assert list(head.iter_pairs(5, base)) == whole[:17]
        assert list(tail.iter_pairs(5, base)) == whole[17:]
        i, n = base
        for k in (2, 3):  # the sweep's k processes take sub-shards (i + n*j, n*k)
            got_head = [p for j in range(k) for p in head.iter_pairs(5, (i + n * j, n * k))]
            got_tail = [p for j in range(k) for p in tail.iter_pairs(5, (i + n * j, n * k))]
            assert sorted(got_head) == sorted(whole[:17])
            assert sorted(got_tail) == sorted(whole[17:])
