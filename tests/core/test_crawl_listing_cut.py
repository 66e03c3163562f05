"""``CrawlResult.listing(cut=...)``: a crawl stopped from outside (a probe's deadline) keeps what it
listed, marked truncated, stopped by the deadline, partial for the given reason."""

from __future__ import annotations

from scanner.crawl import CrawlResult
from scanner.models import Entry


def test_finished_crawl_is_unchanged_without_a_cut() -> None:
    r = CrawlResult(entries=[Entry(path="/a", size=1)], dirs_listed=1, requests=1)
    listing = r.listing()
    assert not listing.truncated and listing.stopped_by is None and listing.partial is None


def test_cut_crawl_is_truncated_by_the_deadline_with_its_reason() -> None:
    r = CrawlResult(entries=[Entry(path="/a", size=1)], dirs_listed=1)
    listing = r.listing(cut="timed out")
    assert listing.truncated and listing.stopped_by == "deadline"
    assert listing.partial == "timed out" and [e.path for e in listing.entries] == ["/a"]


def test_a_cut_keeps_the_crawls_own_stop_and_errors() -> None:
    r = CrawlResult(truncated=True, stopped_by="requests", partial=["/x: HTTP 500"])
    listing = r.listing(cut="timed out")
    assert listing.stopped_by == "requests" and listing.partial == "/x: HTTP 500"
