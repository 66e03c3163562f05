"""What the HTTP-speaking probes (HTTP listings and WebDAV, S3, DLNA) share: their network
errors, their stop margin before the deadline, and ``--sample-bytes`` over HTTP: the one loop
that reads the first bytes of a few listed files into a ``Samples``.

INTRUSIVE and only called when ``samples.on``: per chosen file one ``HttpTarget.first_bytes``
(``GET`` + ``Range: bytes=0-(N-1)``, at most N body bytes taken whatever the server sends, no
redirect followed) on the scanned address and port. ``samples.requests`` and ``samples.ranged``
are kept when the probe reports them (not ``None``).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Iterable

from scanner.dialer import OutOfScopeError
from scanner.probe_skeleton import Samples
from scanner.protocols.http_client import HttpError, HttpResponse, HttpTarget

NET_ERRORS = (OSError, TimeoutError, HttpError, ssl.SSLError, asyncio.IncompleteReadError)
MIN_LEFT = 0.3
"""Seconds that must be left before the deadline to send one more sample request."""
STOP_MARGIN = 0.5
"""Seconds before the skeleton's deadline at which the HTTP-speaking probes (HTTP, S3, DLNA)
stop sending: their requests' timeouts end there, so an attempt with a hanging server ends by
itself (a truncated result) rather than by the skeleton's cut."""


def http_status(resp: HttpResponse) -> str:
    return f"HTTP {resp.status}"


async def sample_first_bytes(
    target: HttpTarget,
    samples: Samples,
    files: Iterable[tuple[str, str]],
    deadline: float,
    *,
    refused: Callable[[HttpResponse], str] = http_status,
) -> None:
    """Read the first ``samples.size`` bytes of each ``(listing path, URL path)`` of ``files``
    (already chosen, at most ``samples.files`` of them) before ``deadline`` (monotonic clock).
    An answer other than 200/206 is recorded as ``refused(resp)`` (e.g. the S3 error code)."""
    for path, url_path in files:
        left = deadline - time.monotonic()
        if left < MIN_LEFT:
            samples.errors[path] = "no time left"
            break
        if samples.requests is not None:
            samples.requests += 1
        try:
            resp = await target.first_bytes(
                url_path, samples.size, timeout=max(MIN_LEFT, min(target.request_timeout, left))
            )
        except (*NET_ERRORS, OutOfScopeError, ValueError) as exc:
            samples.errors[path] = f"{type(exc).__name__}: {exc}"[:120]
            continue
        if resp.status not in (200, 206):
            samples.errors[path] = refused(resp)
            continue
        samples.data[path] = resp.body[: samples.size]
        if samples.ranged is not None:
            samples.ranged[path] = (
                "honoured" if resp.status == 206 else "ignored (200, cut at N bytes)"
            )
