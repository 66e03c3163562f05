"""A network namespace of the test's own, with only ``lo`` up and nftables rules loaded: the
place for tests that need silent or filtering hosts (nothing leaves it)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def private_netns(prefix: str, nft_rules: str) -> Iterator[str]:
    """Create ``<prefix>-<pid>``, bring ``lo`` up, load ``nft_rules``; delete it afterwards."""
    name = f"{prefix}-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            ["ip", "netns", "exec", name, "nft", "-f", "-"], input=nft_rules, text=True,
            check=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
