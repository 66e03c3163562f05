"""The options the DLNA and NFS probes read are declared, so ``--probe-option`` accepts them."""

from __future__ import annotations

import pytest

from probes.dlna import PROBE as DLNA
from probes.nfs import PROBE as NFS
from scanner.probe import Probe, ProbeOptionError, parse_probe_options

PROBES: dict[str, Probe] = {"dlna": DLNA, "nfs": NFS}


def test_dlna_ssdp_options_parse_typed() -> None:
    got = parse_probe_options({"dlna.ssdp": "off", "dlna.ssdp_port": "1901",
                               "dlna.ssdp_timeout": "0.5"}, PROBES)
    assert got == {"dlna.ssdp": False, "dlna.ssdp_port": 1901, "dlna.ssdp_timeout": 0.5}
    with pytest.raises(ProbeOptionError):
        parse_probe_options({"dlna.ssdp_port": "0"}, PROBES)


def test_nfs_exports_is_a_list() -> None:
    got = parse_probe_options({"nfs.exports": "/export/open,/srv"}, PROBES)
    assert got == {"nfs.exports": ["/export/open", "/srv"]}
