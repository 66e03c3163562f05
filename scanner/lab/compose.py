"""The docker-compose lab checked against the lab manifest (``scripts/compose-lab-test.sh``).

The compose services carry the manifest's target names (``smb-guest``, ``http-webdav``, ...) and
listen on the manifest's ports inside their containers. What the engine reports about the
running containers (``docker inspect`` of the project's containers: the compose service label,
the published ports, the addresses on the compose network) maps each carried manifest target
to where a scan finds it:

- ``published``: 127.0.0.1 and the host port published for the target's container port
  (a scan from the host namespace, ``nasscan scan 127.0.0.1 -p ...``);
- ``network``: the container's address on the compose network and the target's own port
  (the ``scan`` service, scanning the service names from a container).

Then ``scanner.lab.manifest.check`` judges the scan as it judges the namespace lab's:
every ``must`` holds, no ``must_not`` (the secured twins) matches, every service is detected.

    python -m scanner.lab.compose ports INSPECT.json
    python -m scanner.lab.compose check published|network INSPECT.json SCAN.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scanner.lab import manifest as lab_manifest

SERVICE_LABEL = "com.docker.compose.service"
NAMESPACE_ONLY = frozenset({"crawl"})
"""Manifest services the compose file does not carry (the crawl shapes run in the namespace lab)."""


NAMESPACE_ONLY_RESOURCES = {
    "nfs": frozenset({"export/deep", "export/wide", "export/flat"}),
}
"""Resources of carried targets that only the namespace lab serves (the crawl shapes' extra
NFS exports): their patterns are left out of the compose check."""

PUBLISHED_UNREACHABLE = {
    "tftp": "a TFTP server answers from a new port (6900-6909), which Docker's UDP proxy of "
            "the published port 69 does not relay: checked on the compose network only",
}
"""Carried targets a scan of the published ports cannot reach, and why."""


class ComposeLabError(ValueError):
    """The running compose lab does not carry what the manifest says it should."""


@dataclass
class Container:
    service: str
    published: dict[tuple[int, str], tuple[str, int]] = field(default_factory=dict)
    """(container port, transport) -> (host address, host port)"""
    addresses: list[str] = field(default_factory=list)


def containers(inspect: Iterable[Mapping[str, Any]]) -> dict[str, Container]:
    """The compose services of ``docker inspect`` output, by service name."""
    out: dict[str, Container] = {}
    for c in inspect:
        service = ((c.get("Config") or {}).get("Labels") or {}).get(SERVICE_LABEL)
        if not service:
            continue
        if service in out:
            raise ComposeLabError(f"two containers for compose service {service}")
        box = Container(service)
        settings = c.get("NetworkSettings") or {}
        for key, bindings in (settings.get("Ports") or {}).items():
            port, _, transport = key.partition("/")
            for b in bindings or []:
                box.published[(int(port), transport or "tcp")] = (b["HostIp"], int(b["HostPort"]))
        for net in (settings.get("Networks") or {}).values():
            if net.get("IPAddress"):
                box.addresses.append(net["IPAddress"])
        out[service] = box
    return out


def carried(
    manifest: lab_manifest.Manifest, running: Mapping[str, Container]
) -> lab_manifest.Manifest:
    """The manifest targets the compose lab runs; a target of any other service missing is an
    error (only ``NAMESPACE_ONLY`` services may be absent)."""
    missing = [t.name for t in manifest.targets
               if t.name not in running and t.service not in NAMESPACE_ONLY]
    if missing:
        raise ComposeLabError(f"manifest targets with no running compose service: {missing}")
    kept = []
    for t in manifest.targets:
        if t.name not in running:
            continue
        skip = NAMESPACE_ONLY_RESOURCES.get(t.name, frozenset())
        kept.append(replace(t, must=[p for p in t.must if _resource(p) not in skip],
                            must_not=[p for p in t.must_not if _resource(p) not in skip]))
    return lab_manifest.Manifest(kept)


def _resource(pattern: Mapping[str, Any]) -> str:
    return str(pattern.get("resource", "")).strip("/")


def published(
    manifest: lab_manifest.Manifest, running: Mapping[str, Container]
) -> lab_manifest.Manifest:
    """Each carried target moved to its published address and port (but those in
    ``PUBLISHED_UNREACHABLE``)."""
    moved = []
    for t in carried(manifest, running).targets:
        if t.name in PUBLISHED_UNREACHABLE:
            continue
        binding = running[t.name].published.get((t.port, t.transport))
        if binding is None:
            raise ComposeLabError(f"{t.name}: {t.port}/{t.transport} is not published")
        host, port = binding
        if host != "127.0.0.1":
            raise ComposeLabError(f"{t.name}: {t.port}/{t.transport} published on {host}")
        moved.append(replace(t, host=host, port=port))
    return lab_manifest.Manifest(moved)


def network(
    manifest: lab_manifest.Manifest, running: Mapping[str, Container]
) -> lab_manifest.Manifest:
    """Each carried target moved to its container's address on the compose network."""
    moved = []
    for t in carried(manifest, running).targets:
        addresses = running[t.name].addresses
        if len(addresses) != 1:
            raise ComposeLabError(f"{t.name}: expected one network address, got {addresses}")
        moved.append(replace(t, host=addresses[0]))
    return lab_manifest.Manifest(moved)


def scan_ports(
    manifest: lab_manifest.Manifest, running: Mapping[str, Container],
    default_ports: Mapping[str, set[int]],
) -> str:
    """``-p`` for a scan of 127.0.0.1: the published ports of the carried containers whose
    container port a probe listens on by default (what a scan of the container itself would
    try), so FTP passive and TFTP data ranges are left out. ``default_ports`` maps a transport
    to the probes' default ports."""
    tcp: set[int] = set()
    udp: set[int] = set()
    for t in carried(manifest, running).targets:
        for (port, transport), (host, host_port) in running[t.name].published.items():
            if host == "127.0.0.1" and port in default_ports.get(transport, set()):
                (udp if transport == "udp" else tcp).add(host_port)
    parts = [f"T:{p}" for p in sorted(tcp)] + [f"U:{p}" for p in sorted(udp)]
    return ",".join(parts)


def probe_default_ports() -> dict[str, set[int]]:
    from scanner.registry import load_probes

    out: dict[str, set[int]] = {}
    for probe in load_probes().values():
        out.setdefault(str(probe.transport.value), set()).update(probe.default_ports)
    return out


def _load(path: str) -> Any:
    return json.loads(Path(path).read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scanner.lab.compose", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports", help="the -p argument for a scan of the published ports")
    p.add_argument("inspect")
    c = sub.add_parser("check", help="judge a scan's JSON report against the manifest")
    c.add_argument("via", choices=["published", "network"])
    c.add_argument("inspect")
    c.add_argument("scan")
    args = ap.parse_args(argv)
    running = containers(_load(args.inspect))
    full = lab_manifest.load()
    try:
        if args.cmd == "ports":
            print(scan_ports(full, running, probe_default_ports()))
            return 0
        moved = (published if args.via == "published" else network)(full, running)
    except ComposeLabError as e:
        print(f"compose lab: {e}", file=sys.stderr)
        return 1
    report = _load(args.scan)
    problems = lab_manifest.check(moved, report["findings"], report["services"])
    left_out = sorted({t.service for t in full.targets} - {t.service for t in moved.targets})
    musts = sum(len(t.must) for t in moved.targets)
    must_nots = sum(len(t.must_not) for t in moved.targets)
    print(f"compose lab ({args.via}): {len(moved.targets)} of {len(full.targets)} manifest "
          f"targets checked ({musts} must, {must_nots} must-not patterns; namespace lab only: "
          f"{', '.join(left_out) or 'none'}); {len(report['findings'])} findings on "
          f"{len(report['services'])} services: {len(problems)} problems")
    for name, resources in sorted(NAMESPACE_ONLY_RESOURCES.items()):
        print(f"  not checked here: {name}: {', '.join(sorted(resources))} (namespace lab only)")
    if args.via == "published":
        for name, why in sorted(PUBLISHED_UNREACHABLE.items()):
            print(f"  not checked here: {name}: {why}")
    for line in problems:
        print(f"  {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
