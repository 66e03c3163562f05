"""The HTTP probe on listings of a family no parser knows (tests/cards_server.py, in-process on
127.0.67.x): recognised by structure, confirmed by one more request; a decoy page that looks
the same but whose entries do not exist is not reported."""

from __future__ import annotations

from collections.abc import Callable

from cards_server import Tree, render, serve

from probes.http import PROBE
from probes.http_confirm import MAX_TRIES, confirm_listing
from scanner.models import Kind, ServiceInfo
from scanner.probe import ProbeContext
from scanner.protocols.http_client import HttpResponse, HttpTarget
from scanner.protocols.listing import parse_listing

TREE: Tree = {
    "recordings": {
        "2019": {"19790312-2391_0701234567.wav": b"RIFF" + b"\0" * 5000},
        "notes.txt": b"hello",
    },
    "backup.tar.gz": b"\x1f\x8b" + b"\0" * 3000,
    "readme.txt": b"read me",
}


def test_cards_page_is_recognised_without_any_family() -> None:
    got = parse_listing(render(TREE), path="/")
    assert got is not None and got.family == "generic" and got.structural
    by = {e.name: e for e in got.entries}
    assert set(by) == {"recordings", "backup.tar.gz", "readme.txt"}
    assert by["recordings"].is_dir and not by["readme.txt"].is_dir
    assert by["readme.txt"].size == 7
    assert by["backup.tar.gz"].size is not None and abs(by["backup.tar.gz"].size - 3002) < 110


async def test_probe_reports_the_cards_server(make_ctx: Callable[..., ProbeContext]) -> None:
    async with serve("127.0.67.1", TREE) as port:
        result = await PROBE.run(ServiceInfo(host="127.0.67.1", port=port), make_ctx(timeout=20))
    (f,) = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.resource == "/" and f.evidence["family"] == "generic"
    assert f.listing is not None
    paths = {e.path for e in f.listing.entries}
    assert "/recordings/2019/19790312-2391_0701234567.wav" in paths
    assert "/readme.txt" in paths and "/recordings" in paths  # paths from the listing root


async def test_probe_ignores_the_decoy(make_ctx: Callable[..., ProbeContext]) -> None:
    async with serve("127.0.67.2", TREE, decoy=True) as port:
        result = await PROBE.run(ServiceInfo(host="127.0.67.2", port=port), make_ctx(timeout=20))
    assert [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS] == []
    assert result.info["soft404"] is True


async def _confirm(
    make_ctx: Callable[..., ProbeContext], addr: str, tree: Tree, decoy: bool, page: bytes
) -> tuple[bool, list[str]]:
    seen: list[str] = []
    async with serve(addr, tree, decoy=decoy) as port:
        target = HttpTarget(make_ctx().dialer, addr, port, tls=False)

        async def fetch(method: str, path: str, headers: dict[str, str]) -> HttpResponse | None:
            seen.append(f"{method} {path}")
            return await target.request(method, path, headers=headers)

        parsed = parse_listing(page, path="/")
        assert parsed is not None
        soft = NOT_FOUND_KEY if decoy else b""
        return await confirm_listing(fetch, "/", parsed, soft404=soft), seen


NOT_FOUND_KEY = b"<!doctype html><html><body><p>Nothing here.</p><a href='/'>home</a></body></html>"


async def test_confirmation_asks_a_listed_directory_first(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    ok, seen = await _confirm(make_ctx, "127.0.67.3", TREE, False, render(TREE))
    assert ok and seen == ["GET /recordings/"]


async def test_confirmation_by_a_file_when_no_directory(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    files: Tree = {k: v for k, v in TREE.items() if isinstance(v, bytes)}
    ok, seen = await _confirm(make_ctx, "127.0.67.4", files, False, render(files))
    assert ok and seen[0] == "HEAD /backup.tar.gz" and seen[1].startswith("HEAD /nasscan-")


async def test_confirmation_fails_when_entries_are_the_soft404(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    ok, seen = await _confirm(make_ctx, "127.0.67.5", TREE, True, render(TREE))
    assert not ok and len(seen) <= 2 * MAX_TRIES


async def test_head_refused_and_no_directory_leaves_a_weak_page_unreported(
    make_ctx: Callable[..., ProbeContext],
) -> None:
    """No question answered (HEAD refused, no directory listed): the cards page's evidence
    alone (no title, no parent link) is not enough to report it."""
    files: Tree = {k: v for k, v in TREE.items() if isinstance(v, bytes)}
    async with serve("127.0.67.6", files, no_head=True) as port:
        result = await PROBE.run(ServiceInfo(host="127.0.67.6", port=port), make_ctx(timeout=20))
    assert [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS] == []
    async with serve("127.0.67.6", TREE, no_head=True) as port:  # a directory answers
        result = await PROBE.run(ServiceInfo(host="127.0.67.6", port=port), make_ctx(timeout=20))
    assert [f.resource for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS] == ["/"]
