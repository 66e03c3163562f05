"""The lab's network namespace: only ``lo``, carrying the 127.0.10.x addresses.

Everything here acts on a namespace the lab created (name from ``--ns`` / ``NASSCAN_LAB_NS``);
addresses are restricted to 127.0.10.0/24.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from pathlib import Path

DEFAULT_NS = "nasscan-lab"
ENV_NS = "NASSCAN_LAB_NS"
LAB_NET = ipaddress.ip_network("127.0.10.0/24")
NETNS_DIR = Path("/run/netns")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")


class LabError(RuntimeError):
    """A lab operation failed; the message says what and how to fix it."""


def ns_name(name: str | None = None) -> str:
    """The namespace to use: explicit name, else $NASSCAN_LAB_NS, else ``nasscan-lab``."""
    n = name or os.environ.get(ENV_NS) or DEFAULT_NS
    if not _NAME.match(n):
        raise LabError(f"invalid namespace name {n!r}")
    return n


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=20)


def exists(ns: str) -> bool:
    return (NETNS_DIR / ns).exists()


def ns_inode(ns: str) -> int | None:
    """The inode identifying the namespace (compare with /proc/PID/ns/net)."""
    try:
        return os.stat(NETNS_DIR / ns).st_ino
    except OSError:
        return None


def create(ns: str) -> None:
    """Create the namespace (if missing) and bring ``lo`` up. Idempotent."""
    if not exists(ns):
        r = _ip("netns", "add", ns, check=False)
        if r.returncode != 0 and not exists(ns):
            raise LabError(f"ip netns add {ns} failed: {r.stderr.strip()}")
    if ns_inode(ns) is None or not _alive(ns):
        # a stale mount point (e.g. /run/netns/NS left after a crash with a broken bind mount)
        _ip("netns", "delete", ns, check=False)
        _ip("netns", "add", ns)
    _ip("-n", ns, "link", "set", "lo", "up")


def _alive(ns: str) -> bool:
    return _ip("-n", ns, "link", "show", "lo", check=False).returncode == 0


def check_address(addr: str) -> str:
    a = ipaddress.ip_address(addr)
    if a not in LAB_NET:
        raise LabError(f"lab address {addr} is outside {LAB_NET}")
    return str(a)


def addresses(ns: str) -> set[str]:
    """The lab addresses currently on lo in the namespace."""
    r = _ip("-n", ns, "-o", "-4", "addr", "show", "dev", "lo", check=False)
    found: set[str] = set()
    for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", r.stdout):
        if ipaddress.ip_address(m.group(1)) in LAB_NET:
            found.add(m.group(1))
    return found


def add_addresses(ns: str, addrs: list[str]) -> None:
    have = addresses(ns)
    for a in addrs:
        a = check_address(a)
        if a not in have:
            _ip("-n", ns, "addr", "add", f"{a}/32", "dev", "lo")


def remove_addresses(ns: str) -> None:
    for a in addresses(ns):
        _ip("-n", ns, "addr", "del", f"{a}/32", "dev", "lo", check=False)


def pids_in(ns: str) -> list[int]:
    """PIDs of processes whose network namespace is this one."""
    ino = ns_inode(ns)
    if ino is None:
        return []
    out: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == ino:
                out.append(int(entry))
        except OSError:
            continue
    return sorted(out)


def delete(ns: str) -> None:
    if exists(ns):
        r = _ip("netns", "delete", ns, check=False)
        if r.returncode != 0 and exists(ns):
            raise LabError(f"ip netns delete {ns} failed: {r.stderr.strip()}")


def current_ns_matches(ns: str) -> bool:
    """Is this process inside the namespace ``ns``?"""
    ino = ns_inode(ns)
    try:
        return ino is not None and os.stat("/proc/self/ns/net").st_ino == ino
    except OSError:
        return False
