"""The lab's NFS (nfs-ganesha + rpcbind) with real clients: the open export lists the
recordings, the krb5p twin is refused, it answers on its own address only."""

from __future__ import annotations

import pytest
from lab_clients import ClientLab

from scanner.lab import content
from scanner.lab.services import nfs, rsync

EXAMPLE = content.RECORDING_EXAMPLE  # 2019/03/<personnummer>_<phone>_<time>.wav
EXAMPLE_NAME = EXAMPLE.rsplit("/", 1)[1]


@pytest.mark.lab
def test_nfs_rpcbind_lists_nfs_and_mount(client_lab: ClientLab) -> None:
    r = client_lab.run(["rpcinfo", "-p", nfs.ADDR])
    assert r.returncode == 0, r.stderr
    progs = {tuple(line.split()[:3]) for line in r.stdout.splitlines()[1:]}
    for vers in ("3", "4"):
        assert ("100003", vers, "tcp") in progs
    assert ("100005", "3", "tcp") in progs


@pytest.mark.lab
def test_nfs_export_list_shows_both_exports(client_lab: ClientLab) -> None:
    r = client_lab.run(["showmount", "-e", nfs.ADDR])
    assert r.returncode == 0, r.stderr
    exports = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[1:]}
    shapes = {pseudo: "(everyone)" for _, pseudo in nfs.SHAPE_EXPORTS.values()}  # crawl shapes
    assert exports == {nfs.OPEN_EXPORT: "(everyone)", nfs.SECURE_EXPORT: "(everyone)", **shapes}


@pytest.mark.parametrize("version", ["3", "4"])
@pytest.mark.lab
def test_nfs_open_export_lists_recordings(client_lab: ClientLab, version: str) -> None:
    r = client_lab.run(["nfs-ls", f"nfs://{nfs.ADDR}{nfs.OPEN_EXPORT}/2019/03?version={version}"])
    assert r.returncode == 0, r.stderr
    assert EXAMPLE_NAME in r.stdout


@pytest.mark.parametrize("version", ["3", "4"])
@pytest.mark.lab
def test_nfs_krb5_export_refused(client_lab: ClientLab, version: str) -> None:
    r = client_lab.run(["nfs-ls", f"nfs://{nfs.ADDR}{nfs.SECURE_EXPORT}?version={version}"])
    assert r.returncode != 0
    assert "payroll" not in r.stdout
    if version == "4":
        assert "NFS4ERR_WRONGSEC" in r.stderr


@pytest.mark.lab
def test_nfs_answers_on_its_address_only(client_lab: ClientLab) -> None:
    """rpcbind and ganesha bind the wildcard; the lab's nft rules keep them to 127.0.10.31."""
    for other in (rsync.ADDR, "127.0.0.1"):
        assert client_lab.run(["rpcinfo", "-p", other]).returncode != 0
        assert client_lab.run(["nfs-ls", f"nfs://{other}{nfs.OPEN_EXPORT}"]).returncode != 0
