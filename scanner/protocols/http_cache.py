"""One fetch per resource: the HTTP responses of one service, shared by the probes that ask.

The HTTP, S3 and DLNA probes (and the listing confirmation) often ask the same service the same
question: ``GET /`` is the S3 fingerprint, the HTTP probe's first page and, on an S3 port, the
reason the HTTP probe steps aside. The engine gives every service one ``ResponseCache`` (in
``ProbeContext.responses``); ``HttpTarget.request`` looks there first, so the second probe reads
the answer the first one got instead of downloading it again (a 100,000-entry listing page is
fetched once per service, not once per probe).

What is shared, and why it cannot widen a probe's limits:

- only ``GET``, ``HEAD`` and ``PROPFIND`` (read-only methods without side effects); the key is
  (scheme, address, port, Host header, method, path, the caller's request headers, body);
- a cached body is handed out cut to the asking request's ``max_body`` (and then marked
  ``truncated``); a body that was itself cut is reused only by requests that would not have
  read further, a request allowed more is sent again and replaces the entry;
- failures (timeouts, refused connections, broken HTTP) are never stored;
- the cache is bounded in entries and in body bytes; once full it keeps what it has and stores
  nothing new. The answers worth sharing are the first ones (``/``, descriptions, the first page
  of a listing); a crawl's hundred later pages must not push them out before the next probe
  asks (least-recently-used eviction did exactly that on the lab's deep tree);
- the scheme learnt by ``HttpTarget.probe_scheme`` (TLS or plaintext) is kept too, so a second
  probe does not repeat the handshake attempt.

The cache lives as long as one service's probing (the engine makes a new one per service):
nothing crosses from one host or port to another.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanner.protocols.http_client import HttpResponse

CACHEABLE_METHODS = frozenset({"GET", "HEAD", "PROPFIND"})
MAX_ENTRIES = 64
MAX_BYTES = 4 * 1024 * 1024
"""Body bytes one service's cache holds at most (the default listing byte bound)."""

CacheKey = tuple[str, str, int, str, str, str, tuple[tuple[str, str], ...], str]


def cache_key(
    *, tls: bool, host: str, port: int, authority: str, method: str, path: str,
    headers: dict[str, str] | None, body: bytes,
) -> CacheKey | None:  # fmt: skip
    """The key of one request, or None when its answer must not be shared."""
    method = method.upper()
    if method not in CACHEABLE_METHODS:
        return None
    hdrs = tuple(sorted((k.lower(), v) for k, v in (headers or {}).items()))
    digest = hashlib.sha256(body).hexdigest() if body else ""
    return ("https" if tls else "http", host, port, authority, method, path, hdrs, digest)


@dataclass
class ResponseCache:
    """The responses of one service, bounded in entries and body bytes (first come, kept)."""

    max_entries: int = MAX_ENTRIES
    max_bytes: int = MAX_BYTES
    hits: int = 0
    misses: int = 0
    refused: int = 0
    """Answers not stored because the cache was full."""
    schemes: dict[tuple[str, int], bool] = field(default_factory=dict)
    """(address, port) -> TLS or not, as ``probe_scheme`` found it."""
    _entries: dict[CacheKey, HttpResponse] = field(default_factory=dict)
    _bytes: int = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: CacheKey, max_body: int) -> HttpResponse | None:
        """The stored answer as the request allowing ``max_body`` body bytes would have got
        it; None when there is none, or it was cut shorter than this request may read."""
        resp = self._entries.get(key)
        if resp is None or (resp.truncated and max_body > len(resp.body)):
            self.misses += 1
            return None
        self.hits += 1
        cut = len(resp.body) > max_body
        return dataclasses.replace(
            resp,
            headers=list(resp.headers),
            body=resp.body[:max_body] if cut else resp.body,
            truncated=resp.truncated or cut,
        )

    def put(self, key: CacheKey, resp: HttpResponse) -> None:
        """Keep ``resp`` if there is room; a full cache keeps what it has (see the module)."""
        self._drop(key)
        size = len(resp.body)
        if len(self._entries) >= self.max_entries or self._bytes + size > self.max_bytes:
            self.refused += 1
            return
        self._entries[key] = dataclasses.replace(resp, headers=list(resp.headers))
        self._bytes += size

    def _drop(self, key: CacheKey) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
