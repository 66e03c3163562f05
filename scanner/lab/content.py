"""Synthetic lab content: fake call recordings, backups and dull files (deterministic).

All personal data is FAKE: personal identity numbers are generated (Luhn-valid, so detectors
that check the checksum fire) and phone numbers are random 070-numbers. The same tree is served
by every lab service (SMB ``recordings``, anonymous FTP, HTTP listings, NFS, rsync, S3, ...).

Layout (``files()`` returns it; ``generate(root)`` writes it)::

    readme.txt  logo.png
    backups/db_backup_2019.sql.gz  backups/config_backup_2020.tar.gz
    2019/03/19790312-2393_0701234567_20190314T101500.wav   (real small WAV)
    2019/03/...mp3                                          (MP3-named: ID3 header + frames)
    ...
"""

from __future__ import annotations

import gzip
import io
import os
import random
import struct
import wave
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 1177
MONTHS = ("2019/03", "2019/04", "2019/05", "2020/01", "2020/02", "2021/11")
PER_MONTH = 6


def luhn_digit(digits: str) -> int:
    """The Luhn check digit of ``digits`` (weights 2,1,2,1... from the left, as personnummer)."""
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    """Is a personal identity number (YYYYMMDD-NNNC, YYMMDD-NNNC, with or without '-') valid?"""
    d = number.replace("-", "").replace("+", "")
    if len(d) == 12:
        d = d[2:]
    return len(d) == 10 and d.isdigit() and luhn_digit(d[:9]) == int(d[9])


def personnummer(rng: random.Random) -> str:
    """A fake, checksum-valid Swedish personal identity number ``YYYYMMDD-NNNC``."""
    birth = datetime(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
    serial = f"{rng.randrange(0, 1000):03d}"
    ten = birth.strftime("%y%m%d") + serial
    return f"{birth:%Y%m%d}-{serial}{luhn_digit(ten)}"


def phone(rng: random.Random) -> str:
    return "070" + f"{rng.randrange(0, 10**7):07d}"


def wav_bytes(rng: random.Random, seconds: float = 0.05, rate: int = 8000) -> bytes:
    """A small valid PCM WAV (mono, 16 bit, 8 kHz) with a quiet square-ish tone."""
    n = int(seconds * rate)
    period = rng.randrange(8, 40)
    frames = b"".join(struct.pack("<h", 800 if (i // period) % 2 else -800) for i in range(n))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def mp3_bytes(rng: random.Random, frames: int = 4) -> bytes:
    """MP3-named bytes: an ID3v2.3 tag then MPEG-1 Layer III frame headers with zero payload."""
    title = b"call"
    tit2 = b"TIT2" + struct.pack(">I", len(title) + 1) + b"\x00\x00" + b"\x00" + title
    size = len(tit2)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    id3 = b"ID3\x03\x00\x00" + syncsafe + tit2
    # 0xFFFB: MPEG-1 Layer III no CRC; 0x90: 128 kbit/s, 44.1 kHz; frame length 417 bytes
    frame = b"\xff\xfb\x90\x64" + bytes(413)
    return id3 + frame * frames


def png_bytes() -> bytes:
    """A valid 1x1 PNG (the dull ``logo.png``)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\x20\x40\x80")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@dataclass(frozen=True)
class File:
    path: str
    """Relative POSIX path in the tree."""
    data: bytes
    mtime: float


RECORDING_EXAMPLE = "2019/03/19790312-2393_0701234567_20190314T101500.wav"


def files() -> list[File]:
    """The whole tree, deterministic (same bytes and mtimes every time)."""
    rng = random.Random(SEED)
    base = datetime(2021, 12, 1, tzinfo=UTC).timestamp()
    out = [
        File("readme.txt", b"Call recording archive. Internal use only.\n", base),
        File("logo.png", png_bytes(), base),
        File(RECORDING_EXAMPLE, wav_bytes(rng), datetime(
            2019, 3, 14, 10, 15, tzinfo=UTC).timestamp()),
    ]
    for month in MONTHS:
        year, mon = (int(x) for x in month.split("/"))
        for i in range(PER_MONTH):
            day = 1 + rng.randrange(0, 28)
            at = datetime(year, mon, day, 8 + rng.randrange(0, 9), rng.randrange(0, 60),
                          tzinfo=UTC)
            stem = f"{personnummer(rng)}_{phone(rng)}_{at:%Y%m%dT%H%M%S}"
            if i % 3 == 2:
                out.append(File(f"{month}/{stem}.mp3", mp3_bytes(rng), at.timestamp()))
            else:
                out.append(File(f"{month}/{stem}.wav", wav_bytes(rng), at.timestamp()))
    sql = b"".join(
        f"INSERT INTO calls VALUES ('{personnummer(rng)}','{phone(rng)}');\n".encode()
        for _ in range(20)
    )
    out.append(File("backups/db_backup_2019.sql.gz", _gz(b"-- dump\n" + sql), base))
    out.append(File("backups/config_backup_2020.tar.gz", _gz(bytes(512)), base))
    return out


def generate(root: Path) -> list[Path]:
    """Write the tree under ``root`` (dirs 0755, files 0644, fixed mtimes); idempotent."""
    written: list[Path] = []
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for f in files():
        p = root / f.path
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_bytes() != f.data:
            p.write_bytes(f.data)
        p.chmod(0o644)
        os.utime(p, (f.mtime, f.mtime))
        written.append(p)
    base = files()[0].mtime
    for d in sorted({p.parent for p in written}, key=lambda x: len(x.parts), reverse=True):
        d.chmod(0o755)
        os.utime(d, (base, base))
    return written
