"""The lab's tgtd with real iSCSI logins and nmap: the open target logs in without CHAP, the
CHAP target refuses, an unknown target is not found."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_clients import ClientLab, iscsi_login

from scanner.lab.services import iscsi


@pytest.mark.lab
def test_iscsi_tgtadm_shows_targets(client_lab: ClientLab) -> None:
    # tgtd's control socket lives in the lab's private /run: bind its tgtd dir for tgtadm.
    tgtd_dir = client_lab.ctx.state / "iscsi" / "run" / "tgtd"
    script = (f'mount --bind "{tgtd_dir}" /run/tgtd && exec tgtadm -C {iscsi.CONTROL_PORT} '
              "--lld iscsi --op show --mode target")
    Path("/run/tgtd").mkdir(exist_ok=True)
    r = client_lab.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    assert r.returncode == 0, r.stderr
    assert f": {iscsi.OPEN_IQN}" in r.stdout and f": {iscsi.CHAP_IQN}" in r.stdout
    chap_part = r.stdout.split(f": {iscsi.CHAP_IQN}", 1)[1]
    open_part = r.stdout.split(f": {iscsi.OPEN_IQN}", 1)[1].split("Target ", 1)[0]
    assert iscsi.CHAP_USER in chap_part.split("ACL information")[0]
    assert iscsi.CHAP_USER not in open_part


@pytest.mark.lab
def test_iscsi_open_target_login_without_chap(client_lab: ClientLab) -> None:
    out = iscsi_login(client_lab, iscsi.OPEN_IQN, "None")
    assert (out["class"], out["detail"]) == (0, 0)
    assert out["keys"] == {"TargetPortalGroupTag": "1", "AuthMethod": "None"}


@pytest.mark.lab
def test_iscsi_chap_target_refuses_no_auth(client_lab: ClientLab) -> None:
    out = iscsi_login(client_lab, iscsi.CHAP_IQN, "None")
    assert (out["class"], out["detail"]) == (2, 1)  # initiator error: authentication failure
    offered = iscsi_login(client_lab, iscsi.CHAP_IQN, "CHAP,None")
    assert offered["class"] == 0
    assert offered["keys"]["AuthMethod"] == "CHAP"  # type: ignore[index]


@pytest.mark.lab
def test_iscsi_unknown_target_not_found(client_lab: ClientLab) -> None:
    out = iscsi_login(client_lab, "iqn.2026-01.client_lab.nasscan:nosuch", "None")
    assert (out["class"], out["detail"]) == (2, 3)  # target not found


@pytest.mark.lab
def test_iscsi_nmap_sees_both_targets(client_lab: ClientLab) -> None:
    r = client_lab.run(["nmap", "-n", "-Pn", "-p", str(iscsi.PORT), "--script", "iscsi-info",
                 iscsi.ADDR], timeout=60)
    assert r.returncode == 0, r.stderr
    assert iscsi.OPEN_IQN in r.stdout and iscsi.CHAP_IQN in r.stdout
