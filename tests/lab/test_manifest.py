"""The lab's expected-results manifest: it loads, checks findings against must / must-not
patterns, refuses bad patterns; every target listens, and each entry matches what real clients
see in the running lab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab_clients import SERVICES, ClientLab, curl, iscsi_login
from lab_fixtures import Lab

from scanner.lab import manifest, netns, supervisor
from scanner.lab.services import iscsi, nfs, rsync, s3
from scanner.models import Access, Authentication, Encryption, Entry, Finding, Kind, Listing


def test_manifest_loads_and_names_are_unique() -> None:
    m = manifest.load()
    names = [t.name for t in m.targets]
    assert len(names) == len(set(names))
    for svc in ("smb", "ftp", "http"):
        assert m.for_services([svc]).targets, svc
    assert m.by_name("http-nginx-443").port == 443
    for t in m.targets:
        assert netns.LAB_NET.overlaps(netns.LAB_NET) and netns.check_address(t.host)


def _finding(**kw: object) -> Finding:
    base: dict[str, object] = {"host": "127.0.10.1", "port": 445, "protocol": "smb", "title": "t"}
    base.update(kw)
    return Finding.model_validate(base)


def test_manifest_check_catches_missing_and_forbidden() -> None:
    m = manifest.load().for_services(["smb"])
    guest = m.by_name("smb-guest")
    good = [
        _finding(kind=Kind.UNAUTHENTICATED_ACCESS, resource="recordings",
                 authentication=Authentication.GUEST, access=Access.LIST,
                 listing=Listing(entries=[Entry(path="2019", is_dir=True)])),
        _finding(kind=Kind.SIGNING_NOT_REQUIRED),
        _finding(kind=Kind.CLEARTEXT_TRANSPORT, encryption=Encryption.NONE),
    ]
    only_guest = manifest.Manifest([guest])
    assert manifest.check(only_guest, good) == []
    # as JSON dicts too (what a report file holds)
    assert manifest.check(only_guest, [json.loads(f.model_dump_json()) for f in good]) == []
    # missing: no signing finding
    assert any("missing" in p for p in manifest.check(only_guest, good[::2]))
    # forbidden: the locked share reported as open
    bad = [*good, _finding(kind=Kind.UNAUTHENTICATED_ACCESS, resource="/locked/",
                           authentication=Authentication.GUEST)]
    problems = manifest.check(only_guest, bad)
    assert len(problems) == 1 and "forbidden" in problems[0] and "locked" in problems[0]
    # a listing that lacks the recordings tree does not satisfy listing_includes
    empty = [_finding(kind=Kind.UNAUTHENTICATED_ACCESS, resource="recordings",
                      authentication=Authentication.GUEST, access=Access.LIST,
                      listing=Listing(entries=[Entry(path="readme.txt")])), *good[1:]]
    assert any("missing" in p for p in manifest.check(only_guest, empty))
    # service detection
    assert manifest.check(only_guest, good, services=[]) == [
        "smb-guest 127.0.10.1:445: service not detected"]
    assert manifest.check(
        only_guest, good, services=[{"host": "127.0.10.1", "port": 445, "protocol": "smb"}]) == []


def test_manifest_rejects_bad_patterns(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"service": "x", "targets": [
        {"name": "a", "host": "127.0.10.99", "port": 1, "must": [{"kind": "nonsense"}]}]}))
    with pytest.raises(ValueError, match="unknown kind"):
        manifest.load(tmp_path)


@pytest.mark.lab
@pytest.mark.parametrize("name", [t.name for t in manifest.load().targets])
def test_manifest_target_is_listening(lab: Lab, name: str) -> None:
    t = manifest.load().by_name(name)
    if t.service not in lab.services:
        pytest.fail(f"{t.service} not brought up (NASSCAN_LAB_ONLY={lab.services})")
    check = (supervisor.Ready.udp if t.transport == "udp" else supervisor.Ready.tcp)(t.host, t.port)
    assert supervisor._check_once(check), f"{name}: nothing on {check.label()}"


def _resources(client_lab: ClientLab) -> dict[str, set[str]]:
    """What really exists at each of this part's manifest targets, asked with real clients."""
    exports = {line.split()[0]
               for line in client_lab.run(["showmount", "-e", nfs.ADDR]).stdout.splitlines()[1:]}
    modules = {line.split()[0] for line in client_lab.run(
        ["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/"]).stdout.splitlines() if line}
    if client_lab.run(["rsync", "--contimeout=5", f"rsync://{rsync.ADDR}/hidden/"]).returncode == 0:
        modules.add("hidden")
    _, buckets = curl(client_lab, f"http://{s3.OPEN_ADDR}:{s3.PORT}/")
    targets = {t for t, auth in ((iscsi.OPEN_IQN, "None"), (iscsi.CHAP_IQN, "CHAP,None"))
               if iscsi_login(client_lab, t, auth)["class"] == 0}
    return {
        "nfs": exports,
        "rsync": modules,
        "s3-open": {b for b in s3.BUCKETS if f"<Name>{b}</Name>" in buckets},
        "s3-twin": set(),
        "iscsi": targets,
        "tftp": set(),
    }


def _example_finding(pattern: dict[str, object]) -> dict[str, object]:
    """A concrete finding satisfying a manifest pattern (first choice of every list)."""
    return {k: (v[0] if isinstance(v, list) else v) for k, v in pattern.items()
            if k != "listing_includes"}


@pytest.mark.lab
def test_manifest_entries_match_the_running_lab(client_lab: ClientLab) -> None:
    m = manifest.load().for_services(SERVICES)
    assert {t.name for t in m.targets} == {"nfs", "rsync", "s3-open", "s3-twin", "iscsi", "tftp"}
    real = _resources(client_lab)
    assert real["rsync"] == {"recordings", "private", "hidden"}
    assert real["iscsi"] == {iscsi.OPEN_IQN, iscsi.CHAP_IQN}
    for t in m.targets:
        # the port answers (TCP connect / a TFTP error packet for a missing file)
        if t.transport == "tcp":
            r = client_lab.run(["bash", "-c", f"exec 3<>/dev/tcp/{t.host}/{t.port}"], timeout=10)
            assert r.returncode == 0, (t.name, r.stderr)
        else:
            r = client_lab.run(["tftp", t.host, "-c", "get", "no-such-file", "/dev/null"],
                               timeout=10)
            assert "File not found" in r.stdout + r.stderr
        # every resource the manifest names (must or must_not) really exists there
        for p in [*t.must, *t.must_not]:
            if "resource" in p:
                assert p["resource"] in real[t.name], (t.name, p)
        # no must_not pattern forbids what a must pattern requires
        for good in t.must:
            example = _example_finding(good)
            assert manifest.matches(good, example)
            assert not any(manifest.matches(bad, example) for bad in t.must_not), (t.name, good)
