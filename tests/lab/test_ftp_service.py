"""The lab's vsftpd servers with ftplib: anonymous on 21 and 2121, no anonymous on the twins, a
local user in plaintext, FTPS that requires TLS."""

from __future__ import annotations

import ftplib
import ssl
from pathlib import Path

import pytest
from lab_fixtures import Lab

from scanner.lab import content
from scanner.lab.service import LAB_PASSWORD, LAB_USER


def _anon_list(host: str, port: int) -> list[str]:
    f = ftplib.FTP()
    f.connect(host, port, timeout=5)
    try:
        f.login()
        return f.nlst("2019/03")
    finally:
        f.close()


@pytest.mark.lab
@pytest.mark.parametrize("port", [21, 2121])
def test_ftp_anonymous(lab: Lab, port: int) -> None:
    names = _anon_list("127.0.10.11", port)
    assert any(n.endswith(Path(content.RECORDING_EXAMPLE).name) for n in names)


@pytest.mark.lab
@pytest.mark.parametrize("host", ["127.0.10.12", "127.0.10.13"])
def test_ftp_no_anonymous_on_twins(lab: Lab, host: str) -> None:
    with pytest.raises(ftplib.error_perm, match="530"):
        _anon_list(host, 21)


@pytest.mark.lab
def test_ftp_local_user_plaintext(lab: Lab) -> None:
    f = ftplib.FTP()
    f.connect("127.0.10.12", 21, timeout=5)
    f.login(LAB_USER, LAB_PASSWORD)
    assert "2019" in f.nlst()
    f.close()
    f = ftplib.FTP()
    f.connect("127.0.10.12", 21, timeout=5)
    with pytest.raises(ftplib.error_perm, match="530"):
        f.login(LAB_USER, "wrong")
    f.close()


@pytest.mark.lab
def test_ftps_requires_tls(lab: Lab) -> None:
    f = ftplib.FTP()
    f.connect("127.0.10.13", 21, timeout=5)
    with pytest.raises(ftplib.error_perm, match="530 Non-anonymous sessions must use encryption"):
        f.login(LAB_USER, LAB_PASSWORD)
    f.close()
    t = ftplib.FTP_TLS(context=ssl._create_unverified_context())
    t.connect("127.0.10.13", 21, timeout=5)
    t.auth()
    t.login(LAB_USER, LAB_PASSWORD)
    t.prot_p()
    assert "2019" in t.nlst()
    t.close()
