"""Crawl shapes for the lab (issue 12): a DEEP, a WIDE and a FLAT tree, generated at ``lab up``.

- ``deep``: recordings only at depth 7 (``/callcenter/site-a/inbound/2019/03/14/<call>.wav``),
  named as the lab's recordings are (fake personal identity number, phone number, time), with a
  dull ``readme.txt`` at the top: a crawl that stops at depth 3 sees only the readme.
- ``wide``: 50 groups x 100 directories (5,050 directories), two dull reports in each leaf and
  one recording in only five of them: ``WIDE_FILES`` files in all.
- ``flat``: one directory of ``FLAT_FILES`` empty files.

Files are sparse (``truncate``), so the trees cost inodes, not disk. Generation is idempotent
(a stamp file names the layout version) and deterministic.
"""

from __future__ import annotations

import os
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path

from scanner.lab.content import personnummer, phone

VERSION = "1"
SEED = 1212
SITES = ("site-a", "site-b")
DIRECTIONS = ("inbound", "outbound")
YEARS = ("2019", "2020")
MONTHS = tuple(f"{m:02d}" for m in range(1, 13))
DAYS = tuple(f"{d:02d}" for d in range(1, 29))
PER_DAY = 2
RECORDING_SIZE = 48_000
"""Sparse size of a recording (a few seconds of 8 kHz audio)."""

WIDE_GROUPS = 50
WIDE_DIRS = 100
WIDE_REPORTS = 2
WIDE_RECORDINGS = ("g07/d013", "g19/d077", "g23/d002", "g38/d050", "g44/d099")
WIDE_DIRECTORIES = WIDE_GROUPS + WIDE_GROUPS * WIDE_DIRS
WIDE_FILES = WIDE_GROUPS * WIDE_DIRS * WIDE_REPORTS + len(WIDE_RECORDINGS)

FLAT_FILES = 100_000

DEEP_LEAF_DIRS = len(SITES) * len(DIRECTIONS) * len(YEARS) * len(MONTHS) * len(DAYS)
DEEP_FILES = DEEP_LEAF_DIRS * PER_DAY + 1
DEEP_RECORDING_DEPTH = 7
"""Path components of every deep recording: callcenter/site/direction/year/month/day/file."""


def deep_files() -> list[tuple[str, int]]:
    """(relative path, size) of every file of the deep tree."""
    rng = random.Random(SEED)
    out = [("readme.txt", 60)]
    for site in SITES:
        for direction in DIRECTIONS:
            for year in YEARS:
                for month in MONTHS:
                    for day in DAYS:
                        for _ in range(PER_DAY):
                            at = datetime(
                                int(year), int(month), int(day), 8 + rng.randrange(9),
                                rng.randrange(60), tzinfo=UTC,
                            )  # fmt: skip
                            name = f"{personnummer(rng)}_{phone(rng)}_{at:%Y%m%dT%H%M%S}.wav"
                            path = f"callcenter/{site}/{direction}/{year}/{month}/{day}/{name}"
                            out.append((path, RECORDING_SIZE))
    return out


def wide_files() -> list[tuple[str, int]]:
    rng = random.Random(SEED + 1)
    out: list[tuple[str, int]] = []
    for g in range(WIDE_GROUPS):
        for d in range(WIDE_DIRS):
            rel = f"g{g:02d}/d{d:03d}"
            out += [(f"{rel}/report-{i}.txt", 1000) for i in range(1, WIDE_REPORTS + 1)]
            if rel in WIDE_RECORDINGS:
                name = f"{personnummer(rng)}_{phone(rng)}_20200101T101500.wav"
                out.append((f"{rel}/{name}", RECORDING_SIZE))
    return out


def flat_files() -> list[tuple[str, int]]:
    return [(f"f{i:06d}.dat", 0) for i in range(FLAT_FILES)]


SHAPES = {"deep": deep_files, "wide": wide_files, "flat": flat_files}


def _write(root: Path, files: list[tuple[str, int]]) -> None:
    made: set[Path] = set()
    for rel, size in files:
        p = root / rel
        parent = p.parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if size:
                os.ftruncate(fd, size)
        finally:
            os.close(fd)


def generate(root: Path) -> dict[str, Path]:
    """Write ``root/{deep,wide,flat}`` (idempotent: a stamp file marks a finished shape)."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    out: dict[str, Path] = {}
    for name, files in SHAPES.items():
        top = root / name
        stamp = root / f".{name}.done"
        if not (stamp.exists() and stamp.read_text() == VERSION and top.is_dir()):
            if top.exists():
                shutil.rmtree(top)
            top.mkdir()
            _write(top, files())
            for dirpath, _dirs, _files in os.walk(top):
                os.chmod(dirpath, 0o755)
            stamp.write_text(VERSION)
        out[name] = top
    return out
