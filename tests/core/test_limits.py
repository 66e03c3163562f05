"""Concurrency sized from the descriptor limit and memory (scanner.limits), as arithmetic."""

from __future__ import annotations

from scanner.limits import BYTES_PER_PROBE, RESERVED_FDS, available_memory, size_concurrency


def test_default_sweep_uses_the_descriptor_limit() -> None:
    b = size_concurrency(None, 20_000)
    assert b.sweep + b.probes == 20_000 - RESERVED_FDS
    assert b.sweep > 4096


def test_each_forked_sweep_process_has_its_own_table() -> None:
    one = size_concurrency(None, 20_000, processes=1)
    two = size_concurrency(None, 20_000, processes=2)
    assert two.sweep == 2 * (20_000 - RESERVED_FDS)
    assert two.sweep > one.sweep
    assert two.probes == one.probes


def test_memory_caps_and_concurrency_flag_only_lowers() -> None:
    assert size_concurrency(None, 20_000, memory=1000 * BYTES_PER_PROBE).sweep == 1000
    assert size_concurrency(500, 20_000).sweep == 500
    assert size_concurrency(10**9, 20_000).sweep == 20_000 - RESERVED_FDS - 128
    tiny = size_concurrency(None, 100)
    assert tiny.sweep >= 1 and tiny.sweep + tiny.probes <= 100 - RESERVED_FDS


def test_available_memory_reads_proc() -> None:
    mem = available_memory()
    assert mem is None or mem > 0
