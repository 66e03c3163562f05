"""The lab's synthetic content (no lab needed): deterministic, synthetic identity numbers (Luhn),
the generated tree."""

from __future__ import annotations

import gzip
import io
import re
import wave
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from scanner.lab import content


def test_content_is_deterministic_and_synthetic() -> None:
    a, b = content.files(), content.files()
    assert [(f.path, f.data, f.mtime) for f in a] == [(f.path, f.data, f.mtime) for f in b]
    paths = [f.path for f in a]
    assert content.RECORDING_EXAMPLE in paths
    assert "backups/db_backup_2019.sql.gz" in paths and "readme.txt" in paths
    assert "logo.png" in paths
    recs = [f for f in a if re.match(r"^\d{4}/\d{2}/", f.path)]
    assert len(recs) >= 30
    assert any(f.path.endswith(".mp3") for f in recs) and any(f.path.endswith(".wav") for f in recs)
    for f in recs:
        pnr, phone, stamp = Path(f.path).stem.split("_")
        assert content.luhn_valid(pnr), pnr
        assert re.fullmatch(r"07\d{8}", phone)
        assert f.path.startswith(f"{stamp[:4]}/{stamp[4:6]}/")
        if f.path.endswith(".wav"):
            with wave.open(io.BytesIO(f.data)) as w:
                assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
                assert w.getnframes() > 0
        else:
            assert f.data.startswith(b"ID3") and b"\xff\xfb" in f.data
    sql = gzip.decompress(next(f for f in a if f.path.endswith(".sql.gz")).data)
    assert sql.startswith(b"-- dump") and b"INSERT INTO calls" in sql
    assert next(f for f in a if f.path == "logo.png").data.startswith(b"\x89PNG\r\n\x1a\n")


def test_luhn() -> None:
    assert content.luhn_valid("19790312-2393")
    assert content.luhn_valid("790312-2393")
    assert not content.luhn_valid("19790312-2391")
    assert not content.luhn_valid("1979031-2393")


@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.integers(0, 9),
       st.integers(1, 9))
def test_luhn_property(nine: str, pos: int, delta: int) -> None:
    number = nine + str(content.luhn_digit(nine))
    assert content.luhn_valid(number)
    # any single-digit change is detected (the point of the checksum)
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1:]
    assert not content.luhn_valid(changed)


def test_generate_writes_tree(tmp_path: Path) -> None:
    written = content.generate(tmp_path / "c")
    again = content.generate(tmp_path / "c")
    assert written == again
    f = tmp_path / "c" / content.RECORDING_EXAMPLE
    assert f.is_file() and (f.stat().st_mode & 0o777) == 0o644
    assert sorted(p.relative_to(tmp_path / "c").as_posix() for p in written) == sorted(
        x.path for x in content.files()
    )
