#!/usr/bin/env python3
"""Long mutation run over every parser in scanner/protocols/ (the targets of tests/parser_targets).

Seeds come from tests/captures/ and tests/listing_corpus/ (plus a few hostile shapes: deep
nesting, huge numbers, odd digits); each input is a mutated seed (bit flips, interesting integers,
chunk insert/delete/duplicate, splices) or a fresh random string. A finding is any exception other
than the target's declared error types, or an input that takes longer than --slow seconds. Findings
are deduplicated by (target, exception type, innermost scanner frame) and their inputs saved.

    .venv/bin/python bench/fuzz.py --seconds 600 [--seed N] [--out bench/fuzz_findings]

Prints one JSON summary line (inputs, seconds, findings) and exits 1 when something was found.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from parser_targets import TARGETS, Target, check, seeds  # noqa: E402

INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF]
HOSTILE = [
    b"[" * 5000, b'{"a":' * 3000, b"<a>" * 5000, b"9" * 5000, b"1e999999", b"-0", b"NaN",
    b"\x00" * 64, b"\xff" * 64, b"220-" * 100, b"@RSYNCD: 99999999999999999999.1\n",
    b"227 Entering Passive Mode (999,999,999,999,999,999)",
    b"229 Entering Extended Passive Mode (|||99999999999999|)",
    "١٢٣".encode(), b"HTTP/1.1 99999999999999999999 OK\r\n\r\n",
    b"<?xml version='1.0'?><list>" + b"<file>x</file>" * 50 + b"</list>",
]


_DIGITS = re.compile(rb"\d+")


class Slow(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Slow()


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 5, 8))):
        op = rng.randrange(10)
        n = len(buf)
        if op == 0 and n:  # bit flip
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # random byte
            buf[rng.randrange(n)] = rng.randrange(256)
        elif op == 2 and n >= 4:  # interesting integer, 1/2/4/8 bytes, either order
            width = rng.choice((1, 2, 4, 8))
            i = rng.randrange(max(1, n - width + 1))
            value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
            buf[i:i + width] = value.to_bytes(width, rng.choice(("big", "little")))
        elif op == 3 and n:  # delete a chunk
            i = rng.randrange(n)
            del buf[i:i + rng.randrange(1, 64)]
        elif op == 4:  # insert random bytes
            i = rng.randrange(n + 1)
            buf[i:i] = rng.randbytes(rng.randrange(1, 32))
        elif op == 5 and n:  # duplicate a chunk (repetition, nesting)
            i = rng.randrange(n)
            chunk = buf[i:i + rng.randrange(1, 128)]
            buf[i:i] = chunk * rng.randrange(1, 64)
        elif op == 6 and pool:  # splice another seed
            other = rng.choice(pool)
            if other:
                j = rng.randrange(len(other))
                i = rng.randrange(n + 1)
                buf[i:] = other[j:j + rng.randrange(1, 4096)]
        elif op == 7:  # digits: odd Unicode digits, huge numbers
            i = rng.randrange(n + 1)
            buf[i:i] = rng.choice((b"9" * rng.randrange(1, 400), "²³".encode(), "٣".encode(),
                                   b"-1", b"1e400", b"0x1F"))
        elif op == 8 and n:  # truncate
            del buf[rng.randrange(n):]
        elif op == 9:  # a number of the input made absurd: huge, superscript, negative, float
            runs = [m.span() for m in _DIGITS.finditer(buf)]
            if runs:
                a, b = rng.choice(runs)
                buf[a:b] = rng.choice((b"9" * rng.choice((21, 400, 4301, 5000)), "²".encode(),
                                       b"-1", b"1e999", b"0" * 64, b"18446744073709551616"))
    return bytes(buf[:1 << 20])


def _where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/scanner/" in f.filename]
    if not frames:
        return "?"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno}"


def run(seconds: float, seed: int, out: Path, slow: float) -> dict[str, object]:
    rng = random.Random(seed)
    pools: dict[str, list[bytes]] = {t.name: seeds(t) for t in TARGETS}
    every = [s for pool in pools.values() for s in pool][:400]
    signal.signal(signal.SIGALRM, _alarm)
    found: dict[tuple[str, str, str], bytes] = {}
    counts = dict.fromkeys(pools, 0)
    start = time.monotonic()
    deadline = start + seconds
    inputs = 0
    while time.monotonic() < deadline:
        for target in TARGETS:
            pool = pools[target.name] or every
            for _ in range(50):
                r = rng.random()
                if r < 0.05:
                    data = rng.choice(HOSTILE)
                elif r < 0.15:
                    data = rng.randbytes(rng.randrange(0, 512))
                else:
                    base = rng.choice(pool) if pool else b""
                    data = mutate(rng, base, every)
                inputs += 1
                counts[target.name] += 1
                _one(target, data, slow, found)
    signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.monotonic() - start
    if found:
        out.mkdir(parents=True, exist_ok=True)
        for i, ((name, kind, _where), data) in enumerate(sorted(found.items())):
            (out / f"{i:03d}-{name}-{kind}.bin").write_bytes(data)
    return {
        "inputs": inputs,
        "seconds": round(elapsed, 1),
        "targets": len(TARGETS),
        "per_target_min": min(counts.values()),
        "findings": len(found),
        "distinct": [f"{n}: {k} at {w}" for n, k, w in sorted(found)],
        "seed": seed,
    }


def _one(target: Target, data: bytes, slow: float,
         found: dict[tuple[str, str, str], bytes]) -> None:
    signal.setitimer(signal.ITIMER_REAL, slow)
    try:
        exc = check(target, data)
    except Slow:
        exc = TimeoutError(f"slower than {slow}s")
    except RecursionError as err:  # raised outside check's net only if the target recursed
        exc = err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if isinstance(exc, Slow):
        exc = TimeoutError(f"slower than {slow}s")
    if exc is not None:
        key = (target.name, type(exc).__name__, _where(exc))
        if key not in found or len(data) < len(found[key]):
            found[key] = data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slow", type=float, default=2.0, help="seconds per input before a finding")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "fuzz_findings")
    args = ap.parse_args()
    summary = run(args.seconds, args.seed, args.out, args.slow)
    print(json.dumps(summary))
    return 1 if summary["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
