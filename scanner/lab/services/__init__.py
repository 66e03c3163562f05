"""Lab service modules: each module here exposes ``SERVICES: list[LabService]``."""

from __future__ import annotations

import importlib
import pkgutil

from scanner.lab.service import LabService


def all_services() -> list[LabService]:
    """Every service of every module in this package, in module-name order (stable)."""
    found: list[LabService] = []
    seen: set[str] = set()
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        for svc in getattr(module, "SERVICES", []):
            if svc.name in seen:
                raise ValueError(f"duplicate lab service name {svc.name!r} in {mod.name}")
            seen.add(svc.name)
            found.append(svc)
    return found


def select(only: list[str] | None) -> list[LabService]:
    """The services named in ``only`` (all when None); unknown names raise KeyError."""
    services = all_services()
    if not only:
        return services
    by_name = {s.name: s for s in services}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        known = ", ".join(by_name)
        raise KeyError(f"unknown lab service(s): {', '.join(unknown)} (known: {known})")
    return [by_name[n] for n in only]
