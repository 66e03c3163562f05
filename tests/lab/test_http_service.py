"""The lab's HTTP servers with curl: listings of every server family and style, open WebDAV,
Basic-auth twins and the "Index of" trap."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lab_fixtures import Lab

from scanner.lab import content
from scanner.lab.service import LAB_PASSWORD, LAB_USER


def run(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def curl(*args: str) -> tuple[int, str]:
    r = run(["curl", "-sk", "--max-time", "5", "-w", "\n%{http_code}", *args])
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


EXAMPLE = Path(content.RECORDING_EXAMPLE).name


@pytest.mark.lab
@pytest.mark.parametrize(
    "url,title",
    [
        ("http://127.0.10.21:443/2019/03/", "Index of /2019/03/"),
        ("http://127.0.10.22/2019/03/", "Index of /2019/03"),
        ("http://127.0.10.22/fancy/2019/03/", "Index of /fancy/2019/03"),
        ("http://127.0.10.23/2019/03/", "Index of /2019/03/"),
        ("http://127.0.10.24:8080/2019/03/", "Directory listing for /2019/03/"),
        ("http://127.0.10.25/2019/03/", "Index of /2019/03/"),
        ("http://127.0.10.25/dav/2019/03/", "Index of /dav/2019/03/"),
    ],
)
def test_http_listings(lab: Lab, url: str, title: str) -> None:
    code, body = curl(url)
    assert code == 200
    assert f"<title>{title}</title>" in body
    assert f'href="{EXAMPLE}"' in body


@pytest.mark.lab
def test_http_listing_styles(lab: Lab) -> None:
    assert "<ul><li>" in curl("http://127.0.10.22/")[1]  # apache plain <ul>
    assert "<table>" in curl("http://127.0.10.22/fancy/")[1]  # apache fancy table
    assert "<pre>" in curl("http://127.0.10.21:443/")[1]  # nginx autoindex
    # the 1177 server really is plain HTTP on 443: TLS fails
    r = run(["curl", "-sk", "--max-time", "5", "https://127.0.10.21/"])
    assert r.returncode != 0


@pytest.mark.lab
@pytest.mark.parametrize("path", ["/", "/dav/"])
def test_webdav_propfind_open(lab: Lab, path: str) -> None:
    code, body = curl("-X", "PROPFIND", "-H", "Depth: 1", f"http://127.0.10.25{path}")
    assert code == 207
    assert "<D:multistatus" in body and f"{path}2019/" in body


@pytest.mark.lab
def test_http_auth_twins(lab: Lab) -> None:
    assert curl("http://127.0.10.26/")[0] == 401
    assert curl("-u", f"{LAB_USER}:wrong", "http://127.0.10.26/")[0] == 401
    code, body = curl("-u", f"{LAB_USER}:{LAB_PASSWORD}", "http://127.0.10.26/")
    assert code == 200 and "2019/" in body
    assert curl("https://127.0.10.27/")[0] == 401
    code, body = curl("-u", f"{LAB_USER}:{LAB_PASSWORD}", "https://127.0.10.27/2019/03/")
    assert code == 200 and EXAMPLE in body
    # and no plain HTTP there
    assert run(["curl", "-s", "--max-time", "5", "http://127.0.10.27:443/"]).stdout.find(
        "Index of") == -1


@pytest.mark.lab
def test_http_index_of_trap(lab: Lab) -> None:
    root_code, root = curl("http://127.0.10.28/")
    code, other = curl("http://127.0.10.28/backups/db_backup_2019.sql.gz")
    assert root_code == code == 200
    assert root == other and "<title>Index of /</title>" in root
    assert "2019" not in root and ".wav" not in root
