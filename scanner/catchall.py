"""Catch-all detection for probes that guess names (rsync modules, TFTP files, S3 buckets, SMB
shares; HTTP paths have their own soft-404 baseline in probes/http.py).

Before trying a list of guessed names, a probe asks the server for one random name that cannot
exist. A server that accepts it accepts anything: its answers to guessed names prove nothing,
so the guesses are disregarded (names the server itself listed are still tried), and every
finding from that server says so in its evidence.

    check = await ask_random(lambda name: module_opens(name), errors=NET_ERRORS)
    candidates = listed + check.guesses(extra, listed)
    evidence.update(check.evidence())
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

NOTE = "the server accepts any name (a random one too): guessed names disregarded"


def random_name(prefix: str = "nasscan-", suffix: str = "") -> str:
    """A name no server has: lowercase letters and digits (valid as a bucket or share name)."""
    return f"{prefix}{secrets.token_hex(8)}{suffix}"


@dataclass(frozen=True)
class CatchAllCheck:
    """The answer to the random name: ``accepted`` means the server accepts any name."""

    name: str
    accepted: bool

    def guesses(self, guessed: Iterable[str], known: Iterable[str] = ()) -> list[str]:
        """The guessed names worth trying (not already known): none from a catch-all server."""
        if self.accepted:
            return []
        seen = set(known)
        return [n for n in guessed if n not in seen]

    def evidence(self) -> dict[str, Any]:
        """What findings from this server carry: nothing unless it accepts any name."""
        if not self.accepted:
            return {}
        return {"accepts_any_name": True, "random_name_accepted": self.name, "catch_all": NOTE}


NOT_ASKED = CatchAllCheck("", False)
"""No random name was asked for (nothing was going to be guessed)."""


async def ask_random(
    accepts: Callable[[str], Awaitable[bool]],
    *,
    prefix: str = "nasscan-",
    suffix: str = "",
    errors: tuple[type[BaseException], ...] = (),
) -> CatchAllCheck:
    """Ask the server for one random name; an error counts as "not accepted" (the usual answer
    of a server that checks names)."""
    name = random_name(prefix, suffix)
    try:
        accepted = bool(await accepts(name))
    except errors:
        accepted = False
    return CatchAllCheck(name, accepted)
