"""scanner.pacing against hand-computed RFC 6298 arithmetic and liveness thresholds."""

from __future__ import annotations

import pytest

from scanner.pacing import (
    DEFAULT_FLOOR,
    JUDGE_AFTER,
    Liveness,
    RttEstimate,
    RttTimeouts,
    net_key,
)


def test_defaults() -> None:
    assert DEFAULT_FLOOR == 0.1 and JUDGE_AFTER == 3
    t = RttTimeouts(ceiling=2.0)
    assert t.floor == 0.1 and t.ceiling == 2.0
    live = Liveness()
    assert live.enabled is True and live.judge_after == 3 and live.max_tracked == 4_000_000


@pytest.mark.parametrize(
    ("ip", "key"),
    [("192.0.2.17", "192.0.2"), ("10.1.2.3", "10.1.2"), ("127.0.0.1", "127.0.0"),
     ("fd00::1", "v6"), ("::ffff:1.2.3.4", "v6")],
)
def test_net_key_rows(ip: str, key: str) -> None:
    assert net_key(ip) == key


def test_three_samples_by_hand() -> None:
    e = RttEstimate()
    assert (e.srtt, e.rttvar, e.n) == (0.0, 0.0, 0)
    e.add(0.2)  # first: SRTT = R = 0.2, RTTVAR = R/2 = 0.1
    assert (e.srtt, e.rttvar, e.n) == (pytest.approx(0.2), pytest.approx(0.1), 1)
    assert e.rto() == pytest.approx(0.6)
    e.add(0.6)  # RTTVAR = 0.1 + (|0.2-0.6| - 0.1)/4 = 0.175; SRTT = 0.2 + 0.4/8 = 0.25
    assert (e.srtt, e.rttvar, e.n) == (pytest.approx(0.25), pytest.approx(0.175), 2)
    e.add(0.05)  # RTTVAR = 0.175 + (0.2 - 0.175)/4 = 0.18125; SRTT = 0.25 - 0.2/8 = 0.225
    assert (e.srtt, e.rttvar, e.n) == (pytest.approx(0.225), pytest.approx(0.18125), 3)
    assert e.rto() == pytest.approx(0.225 + 0.725)


def test_negative_sample_counts_as_zero() -> None:
    e = RttEstimate()
    e.add(-1.0)
    assert (e.srtt, e.rttvar, e.n) == (0.0, 0.0, 1)
    e.add(0.8)  # RTTVAR = 0 + 0.8/4 = 0.2; SRTT = 0.8/8 = 0.1
    assert e.rttvar == pytest.approx(0.2) and e.srtt == pytest.approx(0.1)


def test_per_network_and_scan_wide_estimates_by_hand() -> None:
    t = RttTimeouts(ceiling=10.0, floor=0.01)
    assert t.measured is False and t.timeout("10.0.0.1") == 10.0
    t.sample("10.0.1.5", 0.2)
    assert t.measured is True
    t.sample("10.0.2.5", 0.4)
    # per /24: first sample each, RTO = R + 4 * R/2 = 3R
    assert t.timeout("10.0.1.99") == pytest.approx(0.6)
    assert t.timeout("10.0.2.1") == pytest.approx(1.2)
    # scan-wide: 0.2 then 0.4 -> RTTVAR 0.1 + (0.2-0.1)/4 = 0.125, SRTT 0.225, RTO 0.725
    assert t.overall.n == 2
    assert t.timeout("10.0.3.1") == pytest.approx(0.725)
    assert t.nets["10.0.1"].n == 1 and t.nets["10.0.2"].n == 1 and "10.0.3" not in t.nets
    # back-off: doubles per try (2**tries), capped by the ceiling
    assert t.timeout("10.0.1.1", tries=1) == pytest.approx(1.2)
    assert t.timeout("10.0.1.1", tries=2) == pytest.approx(2.4)
    assert t.timeout("10.0.1.1", tries=3) == pytest.approx(4.8)
    assert t.timeout("10.0.1.1", tries=4) == pytest.approx(9.6)
    assert t.timeout("10.0.1.1", tries=5) == 10.0
    assert t.timeout("10.0.3.1", tries=3) == pytest.approx(5.8)
    # a second sample in the same /24 updates that /24 only
    t.sample("10.0.1.7", 0.2)  # RTTVAR 0.1 + (0 - 0.1)/4 = 0.075, SRTT 0.2: RTO 0.5
    assert t.timeout("10.0.1.1") == pytest.approx(0.5)
    assert t.timeout("10.0.2.1") == pytest.approx(1.2)


def test_scan_wide_estimate_is_clamped_too() -> None:
    t = RttTimeouts(ceiling=1.0, floor=0.5)
    t.sample("10.0.1.1", 0.01)
    assert t.timeout("10.0.9.9") == 0.5  # RTO 0.03, raised to the floor
    t2 = RttTimeouts(ceiling=1.0, floor=0.1)
    t2.sample("10.0.1.1", 2.0)
    assert t2.timeout("10.0.9.9") == 1.0  # RTO 6, lowered to the ceiling
    assert t2.timeout("10.0.9.9", tries=1) == 1.0


def test_clamp_arithmetic() -> None:
    t = RttTimeouts(ceiling=1.0, floor=0.2)
    t.sample("10.0.0.1", 0.1)  # RTO 0.3: inside the clamp
    assert t.timeout("10.0.0.2") == pytest.approx(0.3)
    t.sample("10.0.5.1", 0.05)  # RTO 0.15: the floor
    assert t.timeout("10.0.5.2") == 0.2
    assert t.timeout("10.0.5.2", tries=2) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("ceiling", "floor", "want_ceiling", "want_floor"),
    [(0, 0.1, 0.001, 0.001), (-5, 0.1, 0.001, 0.001), (2, -1, 2.0, 0.0), (2, 0, 2.0, 0.0),
     (0.05, 0.1, 0.05, 0.05), ("3", "0.25", 3.0, 0.25)],
)
def test_ceiling_and_floor_are_sane(
    ceiling: float, floor: float, want_ceiling: float, want_floor: float
) -> None:
    t = RttTimeouts(ceiling=ceiling, floor=floor)
    assert t.ceiling == want_ceiling and t.floor == want_floor
    assert t.timeout("10.0.0.1") == want_ceiling


def test_zero_floor_lets_a_zero_rtt_through() -> None:
    t = RttTimeouts(ceiling=1.0, floor=0.0)
    t.sample("10.0.0.1", 0.0)
    assert t.timeout("10.0.0.1") == 0.0


def test_judge_after_is_at_least_one() -> None:
    for value in (0, -3):
        live = Liveness(judge_after=value)
        assert live.judge_after == 1
        assert live.unanswered("10.0.0.1", 0) is True
        assert live.silent("10.0.0.1")
        assert live.unanswered("10.0.0.1", 0) is False


def test_liveness_threshold_rows() -> None:
    live = Liveness(judge_after=2)
    ip = "10.0.0.1"
    assert not live.silent(ip) and not live.is_alive(ip)
    assert live.unanswered(ip, 0) is True and live.state[ip] == 1 and not live.silent(ip)
    assert live.unanswered(ip, 0) is True and live.state[ip] == 2 and live.silent(ip)
    assert live.unanswered(ip, 0) is False and live.state[ip] == 2  # not counted further
    assert live.unanswered(ip, 1) is True and live.unanswered(ip, 2) is True
    assert live.state[ip] == 2  # retries are not counted
    assert live.alive_count == 0 and live.alive_hosts() == []


def test_retries_do_not_count_towards_the_judgement() -> None:
    live = Liveness(judge_after=1)
    assert live.unanswered("10.0.0.1", 1) is True
    assert live.unanswered("10.0.0.1", 3) is True
    assert "10.0.0.1" not in live.state and not live.silent("10.0.0.1")


def test_answers_count_hosts_once() -> None:
    live = Liveness(judge_after=3)
    live.unanswered("10.0.0.2", 0)
    assert live.answered("10.0.0.1") is True
    assert live.answered("10.0.0.2") is True  # a host with unanswered pairs becomes alive
    assert live.answered("10.0.0.1") is False
    assert live.alive_count == 2
    assert sorted(live.alive_hosts()) == ["10.0.0.1", "10.0.0.2"]
    assert live.is_alive("10.0.0.2") and not live.is_alive("10.0.0.3")
    live.unanswered("10.0.0.3", 0)
    assert sorted(live.alive_hosts()) == ["10.0.0.1", "10.0.0.2"]


def test_a_tracked_host_keeps_counting_when_the_table_is_full() -> None:
    live = Liveness(judge_after=2, max_tracked=1)
    assert live.unanswered("10.0.0.1", 0) is True  # tracked (the one slot)
    assert live.unanswered("10.0.0.2", 0) is True  # not tracked: table full
    assert "10.0.0.2" not in live.state
    assert live.unanswered("10.0.0.1", 0) is True  # already tracked: counts on
    assert live.silent("10.0.0.1") and live.unanswered("10.0.0.1", 0) is False
    assert live.unanswered("10.0.0.2", 0) is True and not live.silent("10.0.0.2")


def test_disabled_liveness_still_records_answers() -> None:
    live = Liveness(enabled=False, judge_after=1)
    assert live.unanswered("10.0.0.1", 0) is True
    assert "10.0.0.1" not in live.state
    assert live.answered("10.0.0.1") is True and live.is_alive("10.0.0.1")
