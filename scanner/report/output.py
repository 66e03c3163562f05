"""Report files: owner-only (0600), checked before the scan starts, never half-written.

- Stream outputs (JSONL) are opened at start, in append mode when a scan is resumed, and written
  as findings come; ``jsonl_resume_ids`` gives the ids already in the file so none is repeated.
- Whole-file outputs (JSON, CSV, SARIF, HTML, console to a file) are written to a temporary file
  in the same directory, created at start (so an unwritable destination fails before the scan),
  and renamed over the destination at the end: a killed scan leaves the previous file intact.

Every file nasscan creates is mode 0600 whatever the umask; ``chmod`` it to share a report.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import TextIO

FILE_MODE = 0o600
DIR_MODE = 0o700


def open_private(path: str | Path, *, append: bool = False) -> TextIO:
    """Open ``path`` for writing, created (or made) 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # never chmod /dev/stdout, a FIFO, /dev/null
            os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "a" if append else "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def is_special(path: str | Path) -> bool:
    """An existing destination that is no regular file (``/dev/stdout``, a FIFO): written in
    place, never renamed over or chmod-ed."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def write_private(path: str | Path, text: str) -> None:
    """The whole of ``text`` to ``path`` (0600) through a rename: never a half file."""
    if is_special(path):
        with open_private(path) as stream:
            stream.write(text)
        return
    out = AtomicOutput(path)
    try:
        out.stream.write(text)
        out.commit()
    finally:
        out.discard()


class AtomicOutput:
    """A whole-file report: written to ``<dir>/.<name>.<random>.tmp``, renamed on ``commit``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()  # through a symlink: the file it points to is replaced
        directory = self.path.parent
        if self.path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(self.path))
        for _ in range(100):
            tmp = directory / f".{self.path.name}.{os.urandom(4).hex()}.tmp"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise FileExistsError(17, "no free temporary name", str(directory))
        os.fchmod(fd, FILE_MODE)
        self.tmp = tmp
        self.stream: TextIO = os.fdopen(fd, "w", encoding="utf-8")
        self._done = False

    def commit(self) -> None:
        self.stream.flush()
        os.fsync(self.stream.fileno())
        self.stream.close()
        os.replace(self.tmp, self.path)
        self._done = True

    def discard(self) -> None:
        """Remove the temporary file unless committed (idempotent)."""
        if not self._done:
            self._done = True
            with contextlib.suppress(OSError):
                self.stream.close()
            with contextlib.suppress(OSError):
                self.tmp.unlink()


def jsonl_resume_ids(path: str | Path) -> set[str]:
    """Ids of the findings already in a JSONL file; a line cut by a kill is removed first, so
    the resumed scan writes that finding again, whole."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return set()
    end = data.rfind(b"\n") + 1
    if end < len(data):  # the last line was cut: drop it
        with open(p, "r+b") as f:
            f.truncate(end)
        data = data[:end]
    ids: set[str] = set()
    for line in data.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            ids.add(item["id"])
    return ids
