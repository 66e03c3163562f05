"""Cheap identification of open ports that no probe claims by default port.

1. Connect and read a short greeting (bounded bytes, short timeout): FTP, rsync and other
   server-speaks-first protocols say who they are; each probe's ``matches_greeting`` decides.
2. Nothing matched: each probe's ``detect`` gets one small exchange (HTTP on 2121/8081, ...).
   A port that answers plain HTTP is HTTP, whatever its number (the 1177 server was plain HTTP
   on 443).
3. Still nothing and the server stayed silent: try a TLS handshake; if it succeeds, the probes'
   ``detect`` is asked again with ``tls=True``.

Connection failures here are not results: a refused connection means the port closed since the
sweep; resource errors (EMFILE, ENOBUFS, ...) are raised as ``ResourceError`` for the engine to
record as scan errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from dataclasses import dataclass

from scanner.dialer import OutOfScopeError
from scanner.models import ServiceInfo, Transport
from scanner.probe import Probe, ProbeContext

log = logging.getLogger("nasscan.identify")

GREETING_BYTES = 512
"""At most this many greeting bytes are read and kept."""

RESOURCE_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.EAGAIN, errno.EADDRNOTAVAIL, errno.ENOMEM}
)


class ResourceError(OSError):
    """The scanner ran out of a local resource; never a property of the target."""


def is_resource_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS


@dataclass
class Identification:
    service: ServiceInfo
    probes: list[Probe]
    reachable: bool = True
    """False when the port no longer accepted a connection (closed since the sweep)."""
    note: str | None = None


async def read_greeting(
    ctx: ProbeContext, service: ServiceInfo, timeout: float, limit: int = GREETING_BYTES
) -> bytes | None:
    """The bytes the server sends unprompted within ``timeout``; None if it refused us."""
    try:
        async with ctx.dialer.tcp(service.host, service.port) as conn:
            data = bytearray()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while len(data) < limit:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    chunk = await conn.recv(limit - len(data), timeout=remaining)
                except (TimeoutError, ConnectionError):
                    break
                if not chunk:
                    break
                data += chunk
                if b"\n" in chunk:  # a complete first line is enough to decide
                    break
            return bytes(data)
    except OutOfScopeError:
        raise
    except OSError as exc:
        if is_resource_error(exc):
            raise ResourceError(exc.errno, f"greeting read: {exc.strerror}") from exc
        return None
    except TimeoutError:
        return None


async def _tls_answers(ctx: ProbeContext, service: ServiceInfo) -> bool:
    try:
        async with ctx.dialer.tcp(service.host, service.port, tls=True):
            return True
    except OutOfScopeError:
        raise
    except OSError as exc:
        if is_resource_error(exc):
            raise ResourceError(exc.errno, f"TLS handshake: {exc.strerror}") from exc
        return False
    except (TimeoutError, ValueError):
        return False


async def _detect(
    probes: list[Probe], service: ServiceInfo, ctx: ProbeContext, timeout: float
) -> list[Probe]:
    """The first probe whose detection recognises the service; when that one is generic (HTTP),
    the probes that refine it are asked too, and the first of them that recognises it wins (an
    S3 API answers HTTP too: the S3 probe goes on, the HTTP probe does not)."""
    generic: Probe | None = None
    for probe in probes:
        if generic is not None and probe.refines != generic.name:
            continue
        ok = False
        try:
            ok = bool(await asyncio.wait_for(probe.detect(service, ctx), timeout))
        except OutOfScopeError:
            raise
        except TimeoutError:
            ok = False
        except Exception as exc:  # a detector's bug is not the scan's problem
            if is_resource_error(exc):
                raise ResourceError(getattr(exc, "errno", 0), str(exc)) from exc
            log.debug(
                "detect of %s on %s:%s raised %r", probe.name, service.host, service.port, exc
            )
        if ok and (generic is not None or not probe.generic):
            return [probe]
        if ok:
            generic = probe
    return [generic] if generic is not None else []


async def identify(
    service: ServiceInfo,
    probes: list[Probe],
    ctx: ProbeContext,
    *,
    greeting_timeout: float = 2.0,
    detect_timeout: float = 5.0,
) -> Identification:
    """Which of ``probes`` should run on an unclaimed TCP port, and what was learned."""
    tcp = [p for p in probes if p.transport == Transport.TCP]
    greeting = await read_greeting(ctx, service, greeting_timeout)
    if greeting is None:
        return Identification(service, [], reachable=False, note="connection refused on re-check")
    svc = service.model_copy(update={"greeting": greeting})
    if greeting:
        matched = []
        for p in tcp:
            with contextlib.suppress(Exception):
                if p.matches_greeting(greeting):
                    matched.append(p)
        if matched:
            return Identification(svc, matched)
    found = await _detect(tcp, svc, ctx, detect_timeout)
    if found:
        return Identification(svc, found)
    if not greeting and await _tls_answers(ctx, svc):
        svc = svc.model_copy(update={"tls": True})
        found = await _detect(tcp, svc, ctx, detect_timeout)
        if found:
            return Identification(svc, found)
        return Identification(svc, [], note="TLS service, no probe recognised it")
    return Identification(svc, [], note="no probe recognised the service")
