"""Headless Chromium (Debian's package) for the HTML report tests: DOM after scripts ran, a
screenshot, a PDF. The browser runs without any network (``unshare -n`` as root) on a file://
page, so nothing can leave the machine; the flags are those the machine notes give."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def _run(args: list[str], profile: Path) -> str:
    chromium = shutil.which("chromium")
    assert chromium, "chromium missing: scripts/setup.sh installs Debian's chromium"
    isolate = ["unshare", "-n"] if os.geteuid() == 0 and shutil.which("unshare") else []
    proc = subprocess.run([*isolate, chromium, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=True)
    return proc.stdout


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 10
    while not (path.exists() and path.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.exists(), f"chromium wrote no {path.name}"


def dump_dom(page: Path, tmp: Path, fragment: str = "") -> str:
    """The DOM after the page's scripts ran (``fragment``: e.g. ``#severity=critical``)."""
    return _run(["--virtual-time-budget=2000", "--dump-dom", page.as_uri() + fragment],
                tmp / "profile-dom")


def screenshot(page: Path, out: Path, tmp: Path, size: str = "1280,1800") -> None:
    _run([f"--screenshot={out}", f"--window-size={size}", page.as_uri()], tmp / "profile-shot")
    _wait_for(out)


def print_pdf(page: Path, out: Path, tmp: Path) -> None:
    _run([f"--print-to-pdf={out}", "--no-pdf-header-footer", page.as_uri()],
         tmp / "profile-pdf")
    _wait_for(out)


def pdf_text(pdf: Path) -> str:
    """The PDF's text (pdftotext from poppler-utils), one space for any run of whitespace."""
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext missing: scripts/setup.sh installs poppler-utils"
    text = subprocess.run([tool, str(pdf), "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    return " ".join(text.split())


def pdf_pages(pdf: Path) -> int:
    tool = shutil.which("pdfinfo")
    assert tool, "pdfinfo missing: scripts/setup.sh installs poppler-utils"
    info = subprocess.run([tool, str(pdf)], capture_output=True, text=True, timeout=60,
                          check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
