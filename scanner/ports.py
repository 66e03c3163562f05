"""Port specifications in nmap's syntax: ``21,80,8000-8100,T:445,U:69``.

``T:`` and ``U:`` switch the protocol for the ports that follow them (as in nmap); ports before
any prefix are TCP. ``-`` alone means every port, ``-100`` means 1-100 and ``60000-`` means
60000-65535.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_PORT = 65535


class PortSpecError(ValueError):
    """A port specification that cannot be parsed; ``token`` is the offending part."""

    def __init__(self, token: str, reason: str) -> None:
        super().__init__(f"bad port spec {token!r}: {reason}")
        self.token = token


@dataclass(frozen=True)
class PortSpec:
    """Sorted, de-duplicated TCP and UDP port lists."""

    tcp: tuple[int, ...] = ()
    udp: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tcp or self.udp)

    def __str__(self) -> str:
        parts: list[str] = []
        if self.tcp:
            parts.append("T:" + _compress(self.tcp))
        if self.udp:
            parts.append("U:" + _compress(self.udp))
        return ",".join(parts)

    @classmethod
    def of(cls, tcp: Iterable[int] = (), udp: Iterable[int] = ()) -> PortSpec:
        return cls(tuple(sorted(set(tcp))), tuple(sorted(set(udp))))


def _compress(ports: tuple[int, ...]) -> str:
    """``(21, 22, 23, 80)`` -> ``'21-23,80'``."""
    out: list[str] = []
    i = 0
    while i < len(ports):
        j = i
        while j + 1 < len(ports) and ports[j + 1] == ports[j] + 1:
            j += 1
        out.append(str(ports[i]) if i == j else f"{ports[i]}-{ports[j]}")
        i = j + 1
    return ",".join(out)


def _port(text: str, token: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise PortSpecError(token, "not a port number")
    value = int(text)
    if not 1 <= value <= MAX_PORT:
        raise PortSpecError(token, f"port out of range 1-{MAX_PORT}")
    return value


def parse_ports(spec: str) -> PortSpec:
    """Parse an nmap-style port list; raises ``PortSpecError`` naming the bad token."""
    tcp: set[int] = set()
    udp: set[int] = set()
    current = tcp
    if not spec.strip():
        raise PortSpecError(spec, "empty port list")
    for raw in spec.split(","):
        token = raw.strip()
        if not token:
            raise PortSpecError(spec, "empty element")
        body = token
        prefix, sep, rest = token.partition(":")
        if sep:
            if prefix.upper() == "T":
                current = tcp
            elif prefix.upper() == "U":
                current = udp
            else:
                raise PortSpecError(token, "unknown protocol prefix (use T: or U:)")
            body = rest.strip()
            if not body:
                raise PortSpecError(token, "prefix without ports")
        if "-" in body:
            lo_s, _, hi_s = body.partition("-")
            lo = _port(lo_s, token) if lo_s else 1
            hi = _port(hi_s, token) if hi_s else MAX_PORT
            if hi < lo:
                raise PortSpecError(token, "range ends before it starts")
            current.update(range(lo, hi + 1))
        else:
            current.add(_port(body, token))
    return PortSpec.of(tcp, udp)
