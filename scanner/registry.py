"""Finds the installed probes through the entry-point group ``nasscan.probes``."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from scanner.probe import Probe

GROUP = "nasscan.probes"
log = logging.getLogger("nasscan.registry")


class UnknownProbeError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown probe: {name!r} (see `nasscan probes`)")
        self.name = name


def load_probes() -> dict[str, Probe]:
    """Every installed probe by name. A plug-in that fails to load is logged and skipped."""
    found: dict[str, Probe] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not break the scanner
            log.warning("probe plug-in %s failed to load: %s", ep.name, exc)
            continue
        if not isinstance(obj, Probe):
            log.warning("probe plug-in %s is not a scanner.probe.Probe instance", ep.name)
            continue
        found[obj.name] = obj
    return found


def select_probes(spec: str | None, available: dict[str, Probe] | None = None) -> list[Probe]:
    """Parse ``--probes``: None or 'all' = every probe, 'none' = discovery only, else a list."""
    probes = load_probes() if available is None else available
    if spec is None or spec.strip() in ("", "all"):
        return list(probes.values())
    if spec.strip() == "none":
        return []
    chosen: list[Probe] = []
    for name in (n.strip() for n in spec.split(",")):
        if not name:
            continue
        if name not in probes:
            raise UnknownProbeError(name)
        if probes[name] not in chosen:
            chosen.append(probes[name])
    return chosen
