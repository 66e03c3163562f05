"""The one crawler behind every listing probe (HTTP autoindex, WebDAV, FTP, SMB, NFS, rsync, S3).

A probe supplies how to list ONE directory: an async ``Lister`` called with the directory's
absolute path (``/a/b`` from the resource root, ``/`` for the root), the opaque handle the probe
gave for it (NFS file handle, S3 prefix, URL, ...) and the shared ``Budget``. It returns a
``Page`` of typed ``Item``s. The crawler owns everything else:

- **order**: best-first, down to the leaves. When a directory is listed, a few of its child
  directories are picked to *dive* into (the first, the last, a seeded pseudo-random one and up to
  two whose names the triage rules find interesting: ``recordings``, ``samtal``, ``backup``,
  years, months, days); dives go deepest first, so a tree of any depth has its leaves sampled in a
  few requests. The other children *widen* the crawl afterwards (interesting names first, then
  shallower first, in seeded random order).
- **bounds** (``ListingBounds``): ``requests`` is the hard cap per resource (the crawler charges
  the first request of every directory; a lister charges each further page with
  ``budget.take()``), ``bytes`` of listing data, ``entries`` kept, ``depth`` as a safety net.
- **de-duplication and loops**: ``.``/``..`` and repeated names are dropped; a directory whose
  key (file handle, inode, URL, prefix) was already listed, or whose page is the same as one of
  its ancestors' (a page linking to itself), is not listed again; symlinks are never descended.
- **robust entries**: a name that is empty, holds ``/`` or NUL, or is not valid text, and a size
  that is negative or absurd, make that entry *skipped and counted*, never an error.
- **partial results**: when a lister raises (timeout, protocol error, bad page), what was listed
  before is kept and the reason is recorded in ``partial``.
- **estimates**: when a bound stopped the crawl, ``estimate`` extrapolates files and bytes from
  the listed directories to their unlisted siblings, depth by depth (per-depth means); it is
  ``None`` when the crawl finished (then the counts are exact).
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import random
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from scanner.classify.rules import RuleSet, default_rules
from scanner.models import Entry, Listing
from scanner.probe import ListingBounds

MAX_SIZE = 1 << 60
"""Sizes at or above this (an exbibyte) are not believed: the entry is skipped as bad."""
MAX_NAME = 1024
DIVE_INTERESTING = 2
MAX_ERRORS = 3
"""Lister failures tolerated per crawl (with ``stop_on_error=False``) before it stops."""

_DATE_PART = re.compile(r"^(19|20)\d\d$|^(0?[1-9]|1[0-2])$|^(0?[1-9]|[12]\d|3[01])$")


@dataclass(frozen=True)
class Item:
    """One entry of one directory, as a lister parsed it."""

    name: str
    is_dir: bool = False
    size: int | None = None
    mtime: str | None = None
    handle: Any = None
    """How to list this directory (passed back to the lister); None: the lister uses the path."""
    key: Hashable | None = None
    """The directory's identity for loop detection (file handle, inode, URL); None: its path."""
    link: bool = False
    """A symbolic link: reported, never descended."""


@dataclass
class Page:
    """What a lister got for one directory."""

    items: list[Item] = field(default_factory=list)
    bad: int = 0
    """Entries the lister itself could not parse (skipped)."""
    complete: bool = True
    """False when this directory was cut (a page or byte bound, a repeated token)."""
    error: str | None = None
    """Why the listing of this directory stopped early (its items are still kept)."""
    loops: int = 0
    """Repeated continuation tokens/cookies the lister refused to follow."""


class NotListable(Exception):
    """Raised by a lister for a directory that is not listable (403, not a listing page): the
    directory stays an entry, the crawl goes on, nothing is marked partial."""


class Budget:
    """The per-resource request and byte budget, shared by crawler and lister."""

    def __init__(self, requests: int, nbytes: int, deadline: float | None = None) -> None:
        self.requests_left = requests
        self.bytes_left = nbytes
        self.deadline = deadline
        self.requests = 0
        self.bytes = 0
        self.stopped: str | None = None

    def take(self) -> bool:
        """Charge one request; False (and nothing charged) when a bound is reached."""
        if self.requests_left <= 0:
            self.stopped = self.stopped or "requests"
            return False
        if self.bytes_left <= 0:
            self.stopped = self.stopped or "bytes"
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped = self.stopped or "time"
            return False
        self.requests_left -= 1
        self.requests += 1
        return True

    def spend(self, nbytes: int) -> None:
        self.bytes_left -= max(0, nbytes)
        self.bytes += max(0, nbytes)

    def remaining_time(self, default: float = 10.0) -> float:
        if self.deadline is None:
            return default
        return max(0.0, self.deadline - time.monotonic())


class _Share(Budget):
    """One directory's view of the resource budget while ``parallel`` listings run at once:
    requests and bytes are charged to the shared budget, and this listing may read at most its
    share of the bytes that were left when it started (so that the listings of one wave
    together stay inside the byte bound)."""

    def __init__(self, parent: Budget, nbytes: int) -> None:
        super().__init__(0, nbytes, parent.deadline)
        self.parent = parent

    def take(self) -> bool:
        ok = self.bytes_left > 0 and self.parent.take()
        if not ok:
            self.stopped = self.parent.stopped or "bytes"
        return ok

    def spend(self, nbytes: int) -> None:
        super().spend(nbytes)
        self.parent.spend(nbytes)


Lister = Callable[[str, Any, Budget], Awaitable[Page]]
WaveLister = Callable[[list[tuple[str, Any, Budget]]], Awaitable[list[Page | Exception]]]
"""Lists several directories in one go (``(path, handle, budget)`` each) and answers, in the same
order, each one's ``Page`` or the exception its own listing would have raised."""


@dataclass(frozen=True)
class Estimate:
    """Extrapolated totals of a crawl a bound stopped (never a count)."""

    files: int
    bytes: int
    directories: int
    directories_listed: int
    directories_seen: int
    depth_weights: tuple[float, ...]
    """Files in a directory listed at depth d stand for ``depth_weights[d]`` files each."""
    unsampled_depths: tuple[int, ...] = ()
    """Depths with directories none of which was listed: the estimate is low there."""

    def basis(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": "per-depth means of the listed directories, extrapolated to their"
            " unlisted siblings",
            "directories_listed": self.directories_listed,
            "directories_seen": self.directories_seen,
            "directories_estimated": self.directories,
        }
        if self.unsampled_depths:
            out["unsampled_depths"] = list(self.unsampled_depths)
            out["note"] = "directories below the listed depths were not sampled: a lower bound"
        return out


@dataclass
class CrawlResult:
    entries: list[Entry] = field(default_factory=list)
    truncated: bool = False
    stopped_by: str | None = None
    partial: list[str] = field(default_factory=list)
    bad: int = 0
    duplicates: int = 0
    loops: int = 0
    dirs_listed: int = 0
    dirs_seen: int = 1
    requests: int = 0
    bytes: int = 0
    estimate: Estimate | None = None
    root_refused: str | None = None
    """Why the root itself was not listable (``NotListable`` from the lister)."""
    last_error: Exception | None = None
    """What ended the crawl when a lister failed (for the probe's status)."""

    @property
    def listed_anything(self) -> bool:
        return self.dirs_listed > 0

    def listing(self, cut: str | None = None) -> Listing:
        """The model's ``Listing`` (triage reads it; never serialised itself).

        ``cut``: why the crawl was stopped from outside before it finished (a probe's deadline
        hit while it ran): what it had listed is kept, marked truncated, stopped by the
        deadline, partial for that reason."""
        partial = "; ".join(self.partial)[:300] if self.partial else None
        return Listing(
            entries=self.entries,
            truncated=self.truncated or cut is not None,
            partial=partial or (cut[:300] if cut is not None else None),
            skipped=self.bad,
            loops=self.loops,
            duplicates=self.duplicates,
            directories_listed=self.dirs_listed,
            directories_seen=self.dirs_seen,
            requests=self.requests,
            bytes_read=self.bytes,
            stopped_by=self.stopped_by or ("deadline" if cut is not None else None),
            estimate=self.estimate.basis()
            | {
                "files": self.estimate.files,
                "bytes": self.estimate.bytes,
                "depth_weights": list(self.estimate.depth_weights),
            }
            if self.estimate is not None
            else None,
        )


def join(parent: str, name: str) -> str:
    """``/a`` + ``b`` -> ``/a/b``; ``/`` + ``b`` -> ``/b``."""
    return ("" if parent == "/" else parent) + "/" + name


def depth_of(path: str) -> int:
    """Depth of the directory holding ``path`` (``/x`` -> 0, ``/a/x`` -> 1)."""
    return max(0, path.count("/") - 1)


def _name_ok(name: object) -> bool:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        return False
    if name in (".", "..") or "/" in name:
        return False
    try:
        name.encode("utf-8")  # lone surrogates (undecodable bytes) fail here
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 32 for c in name)


def size_ok(size: object) -> bool:
    return size is None or (
        isinstance(size, int) and not isinstance(size, bool) and 0 <= size < MAX_SIZE
    )


def interest(name: str, rules: RuleSet) -> int:
    """How much the triage rules care about a directory name (0: not at all)."""
    score = sum(rules.classify_resource(name).values())
    if _DATE_PART.match(name) or re.match(r"^(19|20)\d\d-?[01]\d(-?[0-3]\d)?$", name):
        score += 10
    return score


@dataclass
class _Dir:
    path: str
    handle: Any
    depth: int
    key: Hashable
    ancestors: tuple[str, ...]
    """Page fingerprints of the ancestors (a page equal to one of them is a loop)."""


def _fingerprint(items: list[Item]) -> str:
    h = hashlib.sha256()
    for it in sorted((i.name, i.is_dir, i.size or 0) for i in items):
        h.update(repr(it).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


@dataclass
class _Level:
    listed: int = 0
    files: int = 0
    bytes: int = 0
    subdirs: int = 0


class Crawler:
    """One resource's crawl. Use ``await Crawler(...).run()`` or the ``crawl()`` helper."""

    def __init__(
        self,
        lister: Lister,
        bounds: ListingBounds,
        *,
        root_handle: Any = None,
        root_key: Hashable | None = None,
        first: Page | None = None,
        seed: int = 0,
        rules: RuleSet | None = None,
        stop_on_error: bool = False,
        deadline: float | None = None,
        budget: Budget | None = None,
        max_errors: int = MAX_ERRORS,
        parallel: int = 1,
        wave_lister: WaveLister | None = None,
    ) -> None:
        """``parallel``: directories listed at once (default 1: one after the other). For
        listers whose every request is slow to start (each rsync listing is a client run), the
        crawler takes the next ``parallel`` directories of its order, lists them together and
        takes their pages in that order; the bounds hold as for one (each listing of a wave may
        read its share of the bytes left).

        ``wave_lister``: with ``parallel``, lists a whole wave in one request (rsync: one client
        run for several directories). Each directory is still charged one request and gets its
        own byte share, and each answer is taken as ``lister``'s would be."""
        self.lister = lister
        self.wave_lister = wave_lister
        self.parallel = max(1, parallel)
        self.bounds = bounds
        self.first = first
        self.seed = seed
        self.rules = rules if rules is not None else default_rules()
        self.stop_on_error = stop_on_error
        self.budget = budget or Budget(max(1, bounds.requests), bounds.bytes, deadline)
        self.result = CrawlResult()
        self.root = _Dir("/", root_handle, 0, root_key if root_key is not None else "/", ())
        self._heap: list[tuple[tuple[Any, ...], int, _Dir]] = []
        self._seq = 0
        self._keys: set[Hashable] = set()
        self._levels: dict[int, _Level] = {0: _Level()}
        self._errors = 0
        self._depth_cut = False
        self.max_errors = max_errors
        self.not_listable = 0

    def _rng(self, path: str) -> random.Random:
        return random.Random(zlib.crc32(f"{self.seed}:{path}".encode("utf-8", "surrogatepass")))

    def _push(self, key: tuple[Any, ...], d: _Dir) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (key, self._seq, d))

    async def run(self) -> CrawlResult:
        r = self.result
        self._keys.add(self.root.key)
        page: Page | None = self.first
        if page is not None:
            self.budget.take()  # the probe already fetched it: it counts
        d: _Dir | None = self.root
        while d is not None:
            if page is None:
                page = await self._list(d)
            if page is not None:
                self._absorb(d, page)
            page = None
            if r.stopped_by is not None:
                break
            if self.parallel > 1:
                await self._waves()
                break
            d = self._next()
        r.requests, r.bytes = self.budget.requests, self.budget.bytes
        # (directories left in the queue: a bound stopped the crawl, it set truncated and why)
        if self._depth_cut:  # branches cut by the depth bound, the rest was listed
            r.stopped_by = r.stopped_by or "depth"
        r.estimate = self._estimate() if r.truncated else None
        return r

    async def _waves(self) -> None:
        """The rest of the crawl, ``parallel`` directories at a time."""
        r = self.result
        while r.stopped_by is None:
            wave: list[_Dir] = []
            keys: set[Hashable] = set()
            room = min(self.parallel, max(1, self.budget.requests_left))
            while len(wave) < room:
                d = self._next()
                if d is None:
                    break
                if d.key in keys:
                    r.loops += 1
                    continue
                keys.add(d.key)
                wave.append(d)
            if not wave:
                return
            share = max(0, self.budget.bytes_left) // len(wave)
            if self.wave_lister is not None and len(wave) > 1:
                pages = await self._list_together(wave, share)
            else:
                pages = await asyncio.gather(
                    *(self._list(d, _Share(self.budget, share) if len(wave) > 1 else None)
                      for d in wave)
                )  # fmt: skip
            for d, page in zip(wave, pages, strict=True):
                if page is not None:
                    self._absorb(d, page)
                if r.stopped_by is not None:
                    return

    def _next(self) -> _Dir | None:
        while self._heap:
            _, _, d = heapq.heappop(self._heap)
            if d.key in self._keys:
                self.result.loops += 1
                continue
            return d
        return None

    def _take(self, d: _Dir) -> bool:
        """Charge ``d``'s first request; False (the crawl stops there) when a bound is reached."""
        if not self.budget.take():
            self.result.stopped_by = self.budget.stopped
            self.result.truncated = True
            return False
        self._keys.add(d.key)
        return True

    async def _list(self, d: _Dir, share: Budget | None = None) -> Page | None:
        if not self._take(d):
            return None
        try:
            return await self.lister(d.path, d.handle, share or self.budget)
        except Exception as exc:
            self._failed(d, exc)
            return None

    async def _list_together(self, wave: list[_Dir], share: int) -> list[Page | None]:
        """One wave through ``wave_lister``: the same charges and outcomes as ``_list`` each."""
        assert self.wave_lister is not None
        taken: list[tuple[_Dir, Budget]] = []
        for d in wave:
            if not self._take(d):
                break
            taken.append((d, _Share(self.budget, share)))
        if not taken:
            return [None] * len(wave)
        try:
            answers = await self.wave_lister([(d.path, d.handle, b) for d, b in taken])
        except Exception as exc:  # the whole run failed: each directory failed with it
            answers = [exc] * len(taken)
        if len(answers) != len(taken):
            answers = [RuntimeError("wave lister answered the wrong count")] * len(taken)
        pages: list[Page | None] = []
        for (d, _), answer in zip(taken, answers, strict=True):
            if isinstance(answer, Page):
                pages.append(answer)
            else:
                self._failed(d, answer)
                pages.append(None)
        return pages + [None] * (len(wave) - len(taken))

    def _failed(self, d: _Dir, exc: Exception) -> None:
        """What a lister's exception means for the crawl (never raised further)."""
        r = self.result
        if isinstance(exc, NotListable):
            self.not_listable += 1
            if d is self.root:
                r.root_refused = str(exc) or "not listable"
            return
        self._errors += 1  # a lister failure never loses what was listed
        r.last_error = exc
        r.partial.append(f"{d.path}: {type(exc).__name__}: {exc}"[:200])
        r.truncated = True
        if self.stop_on_error or self._errors >= self.max_errors:
            r.stopped_by = "error"

    def _absorb(self, d: _Dir, page: Page) -> None:
        r = self.result
        r.bad += max(0, page.bad)
        r.loops += max(0, page.loops)
        if page.error:
            r.partial.append(f"{d.path}: {page.error}"[:200])
        if not page.complete or page.error:
            r.truncated = True
        if self.budget.bytes_left <= 0:
            r.truncated = True
            r.stopped_by = r.stopped_by or "bytes"
        fp = _fingerprint(page.items)
        if fp in d.ancestors:  # (ancestors had children: never an empty page's fingerprint)
            r.loops += 1  # the same page as an ancestor's: a self/parent link
            return
        level = self._levels[d.depth]  # made when its parent was listed (the root's: at start)
        level.listed += 1
        r.dirs_listed += 1
        names: set[str] = set()
        children: list[tuple[Item, str]] = []
        for it in page.items:
            if not _name_ok(it.name) or not size_ok(it.size):
                r.bad += 1
                continue
            if it.name in names:
                r.duplicates += 1
                continue
            names.add(it.name)
            path = join(d.path, it.name)  # unique: each directory is listed once
            if len(r.entries) >= self.bounds.entries:
                r.truncated = True
                r.stopped_by = "entries"
                break
            r.entries.append(
                Entry(path=path, size=None if it.is_dir else it.size, mtime=it.mtime,
                      is_dir=it.is_dir)
            )  # fmt: skip
            if it.is_dir:
                level.subdirs += 1
                r.dirs_seen += 1
                self._levels.setdefault(d.depth + 1, _Level())  # the next depth was seen
                if not it.link:
                    children.append((it, path))
            else:
                level.files += 1
                level.bytes += it.size or 0
        self._plan(d, children, (*d.ancestors, fp))

    def _plan(self, d: _Dir, children: list[tuple[Item, str]], ancestors: tuple[str, ...]) -> None:
        if not children:
            return
        depth = d.depth + 1
        if depth >= self.bounds.depth:  # depth N lists N levels: the root is level 0
            self.result.truncated = True
            self._depth_cut = True  # the other branches go on
            return
        rng = self._rng(d.path)
        scores = [interest(it.name, self.rules) for it, _ in children]
        dive = {0, len(children) - 1, rng.randrange(len(children))}
        ranked = sorted(
            (i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], rng.random())
        )
        dive.update(ranked[:DIVE_INTERESTING])
        for i, (it, path) in enumerate(children):
            key = it.key if it.key is not None else path
            if key in self._keys:
                self.result.loops += 1
                continue
            child = _Dir(path, it.handle, depth, key, ancestors)
            if i in dive:
                self._push((0, -depth, -scores[i], i), child)
            else:
                self._push((1, -scores[i], depth, rng.random()), child)

    def _estimate(self) -> Estimate | None:
        # Depths 0..max all have a level: a depth gets one when a directory of the depth above
        # is listed and holds a subdirectory. Directories at depth d+1 number the subdirectories
        # of the listed ones at d times d's weight (>= the ones seen, >= the ones listed).
        r = self.result
        levels = self._levels
        n_dirs = [1.0]
        weights: list[float] = []
        files = 0.0
        nbytes = 0.0
        unsampled: list[int] = []
        for depth in range(max(levels) + 1):
            lv = levels[depth]
            if lv.listed == 0:  # seen here, none listed: nothing to extrapolate from
                unsampled.append(depth)
                weights.append(0.0)
                break
            w = n_dirs[depth] / lv.listed
            weights.append(w)
            files += lv.files * w
            nbytes += lv.bytes * w
            n_dirs.append(lv.subdirs * w)
        seen_files = sum(1 for e in r.entries if not e.is_dir)
        est_files = round(files)  # the files of the listed directories are among them
        if est_files <= seen_files:
            return None
        return Estimate(
            files=est_files,
            bytes=round(nbytes),
            directories=round(sum(n_dirs)),
            directories_listed=r.dirs_listed,
            directories_seen=r.dirs_seen,
            depth_weights=tuple(round(w, 4) for w in weights),
            unsampled_depths=tuple(unsampled),
        )


async def crawl(lister: Lister, bounds: ListingBounds, **kw: Any) -> CrawlResult:
    """Crawl one resource; see ``Crawler`` for the keywords."""
    return await Crawler(lister, bounds, **kw).run()
