"""rsync listings a crawl wave at a time (one ``rsync --list-only --relative`` run for several
directories) against a real rsync daemon the test starts on loopback: every directory's page is
the one a run for that directory alone gives (names with spaces, a leading dash, non-ASCII,
an unreadable and an empty directory, a link, a tree ten levels deep, a directory cut at its
entry or byte bound), and the daemon's own log counts the connections."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from socket_listeners import free_port, wait_listening

from probes.rsync import LIST_WAVE, PROBE, ModuleLister, list_dirs, list_only_argv
from scanner.crawl import CrawlResult, NotListable, Page, crawl
from scanner.models import Kind, ServiceInfo
from scanner.probe import ListingBounds, ProbeContext
from scanner.protocols.rsync import CLIENT_VERSION

RSYNC = shutil.which("rsync")
pytestmark = pytest.mark.skipif(RSYNC is None, reason="the rsync package is a test dependency")
MakeCtx = Callable[..., ProbeContext]


def _daemon(base: Path, modules: str, limit: int) -> tuple[subprocess.Popen[bytes], int, Path]:
    """rsync --daemon on 127.0.0.1 (a free port) serving ``modules`` (rsyncd.conf sections)."""
    port = free_port("127.0.0.1")
    conf, log = base / "rsyncd.conf", base / "rsyncd.log"
    conf.write_text(
        f"pid file = {base}/rsyncd.pid\nlock file = {base}/rsyncd.lock\nuse chroot = no\n"
        f"read only = yes\nuid = nobody\ngid = nogroup\nmax connections = {limit}\n"
        f"reverse lookup = no\n{modules}"
    )
    assert RSYNC is not None
    proc = subprocess.Popen(
        [RSYNC, "--daemon", "--no-detach", f"--config={conf}", "--address=127.0.0.1",
         f"--port={port}", f"--log-file={log}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening("127.0.0.1", port, proc, "rsync --daemon")
    except RuntimeError:
        proc.kill()  # our own child, by PID
        proc.wait(5)
        raise
    return proc, port, log


def _tree(root: Path) -> None:
    def f(rel: str, size: int = 10) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)

    f("readme.txt")
    f("a b/call 1.wav", 800)
    f("a/x.wav", 900)  # "a" and "a b": a space sorts before "/"
    f("a.txt")
    f("-dash/y.mp3")
    f("naïve/z.wav")
    deep = "/".join(f"l{i}" for i in range(1, 11))
    f(f"deep/{deep}/19790312-2393_0701234567.wav", 4800)  # ten levels down
    for i in range(40):  # more directories than one wave holds
        for j in range(3):
            f(f"wide/d{i:02d}/r{j}.txt", i + j)
    for i in range(60):
        f(f"big/f{i:03d}.wav", 100)
    (root / "empty").mkdir()
    f("locked/secret.txt")
    (root / "locked").chmod(0)  # the daemon's user cannot read it
    (root / "link").symlink_to("deep")


@pytest.fixture(scope="module")
def rsyncd() -> Iterator[tuple[int, Path]]:
    """A real rsync daemon on 127.0.0.1 (a free port), one open module ``m``; (port, log)."""
    base = Path(tempfile.mkdtemp(prefix="nasscan-rsync-waves-"))
    base.chmod(0o755)  # the daemon runs as nobody: it must reach the module's path
    tree = base / "tree"
    tree.mkdir()
    _tree(tree)
    for p in [tree, *tree.rglob("*")]:
        if p.name != "locked" and not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    proc, port, log = _daemon(base, f"[m]\n    path = {tree}\n", 0)
    try:
        yield port, log
    finally:
        proc.terminate()
        proc.wait(5)
        (tree / "locked").chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


async def _crawl(ctx: ProbeContext, port: int, together: bool) -> tuple[CrawlResult, int]:
    assert RSYNC is not None
    lister = ModuleLister(ctx, RSYNC, "127.0.0.1", port, "m", 10)
    kw: dict[str, Any] = {"wave_lister": lister.wave} if together else {}
    result = await crawl(lister.one, ctx.bounds, parallel=LIST_WAVE, seed=5, **kw)
    return result, lister.runs


def _view(r: CrawlResult) -> Any:
    return (
        [(e.path, e.size, e.mtime, e.is_dir) for e in r.entries],
        r.truncated, r.stopped_by, r.dirs_listed, r.dirs_seen, r.bad, r.bytes, r.partial,
        r.estimate, r.root_refused,
    )  # fmt: skip


@pytest.mark.parametrize(
    "bounds",
    [
        ListingBounds(),
        ListingBounds(entries=50),
        ListingBounds(requests=7),
        ListingBounds(bytes=6000),
        ListingBounds(requests=200, entries=5000),
    ],
    ids=["defaults", "entries", "requests", "bytes", "whole"],
)
async def test_a_wave_per_run_lists_what_one_run_per_directory_lists(
    rsyncd: tuple[int, Path], make_ctx: MakeCtx, bounds: ListingBounds
) -> None:
    port, _ = rsyncd
    ctx = make_ctx(bounds=bounds, timeout=60.0)
    each, runs_each = await _crawl(ctx, port, together=False)
    together, runs_together = await _crawl(ctx, port, together=True)
    assert _view(together) == _view(each)
    assert runs_each == each.requests  # one client run per directory asked for
    assert runs_together < runs_each, (runs_together, runs_each)
    if bounds.bytes == ListingBounds().bytes:  # (a directory cut at its byte share ends a run)
        # the root alone, then waves of LIST_WAVE; locked/ (and empty/ in its wave) again alone
        assert runs_together <= 1 + -(-(each.requests - 1) // LIST_WAVE) + 2
    paths = {e.path for e in together.entries}
    assert "/locked" in paths and not any(p.startswith("/locked/") for p in paths)
    assert "/link" in paths and not any(p.startswith("/link/") for p in paths)
    if bounds.entries == 5000:  # everything: the ten-level leaf is there, nothing was cut
        assert {"/a b/call 1.wav", "/-dash/y.mp3", "/naïve/z.wav"} <= paths
        assert any(p.endswith("/l10/19790312-2393_0701234567.wav") for p in paths)
        files = 6 + 1 + 120 + 60 + 1  # top and one level down, the leaf, wide, big, link
        dirs = 4 + 1 + 10 + 1 + 40 + 3  # a b, a, -dash, naïve; deep/l1..l10; wide/*; 3 more
        assert not together.truncated and len(paths) == files + dirs


async def test_the_probe_lists_a_module_in_a_few_connections(
    rsyncd: tuple[int, Path], make_ctx: MakeCtx
) -> None:
    port, log = rsyncd
    before = log.read_text(errors="replace").count("connect from")
    ctx = make_ctx(timeout=60.0, options={"rsync.modules": []})
    result = await PROBE.run(ServiceInfo(host="127.0.0.1", port=port), ctx)
    (f,) = [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.listing is not None
    listed, requests = f.listing.directories_listed or 0, f.listing.requests or 0
    assert listed > 40
    connections = log.read_text(errors="replace").count("connect from") - before
    # #list, the module open check, the random-name check is skipped (no guesses); then one
    # connection per client run, which the listing reports as its requests
    assert connections == 2 + requests
    asked = listed + 1  # (locked/ was asked for, not listed)
    assert requests <= 1 + -(-(asked - 1) // LIST_WAVE) + 2, requests


def test_the_client_run_lists_each_directory_one_level_and_copies_nothing() -> None:
    argv = list_only_argv("/usr/bin/rsync", "[::1]", 8873, "m", ["", "a b", "-x"], 7)
    assert argv[0] == "/usr/bin/rsync" and "--list-only" in argv and "--protect-args" in argv
    assert not {"-r", "--recursive", "-a", "--archive", "--delete"} & set(argv)
    assert "--relative" in argv and "--no-implied-dirs" in argv and "--port=8873" in argv
    assert argv[-3:] == ["[::1]::m/./", "::m/./a b/", "::m/./-x/"]
    assert "--contimeout=7" in argv and "--timeout=7" in argv and "--sockopts=TCP_NODELAY" in argv
    assert os.path.basename(argv[0]) == "rsync"


async def test_a_module_at_its_connection_limit_is_busy_not_refused(make_ctx: MakeCtx) -> None:
    """rsyncd's ``max connections`` counts the slots of its lock file, shared by the modules:
    with ``max connections = 1`` and one connection held, opening ``a`` or ``b`` answers "max
    connections reached"; asked again alone, still busy: reported as busy (not open, not
    refused, no finding). Released, both are open."""
    base = Path(tempfile.mkdtemp(prefix="nasscan-rsync-busy-"))
    base.chmod(0o755)
    for name in ("a", "b"):
        (base / name).mkdir(mode=0o755)
        (base / name / "x.txt").write_text("x")
        (base / name / "x.txt").chmod(0o644)
    proc, port, _ = _daemon(base, f"[a]\n    path = {base}/a\n[b]\n    path = {base}/b\n", 1)
    ctx = make_ctx(timeout=60.0, options={"rsync.modules": []})
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as held:
            held.recv(200)  # the greeting
            held.sendall(CLIENT_VERSION + b"a\n")
            assert b"@RSYNCD: OK" in held.recv(200)  # module a's one slot is taken
            result = await PROBE.run(ServiceInfo(host="127.0.0.1", port=port), ctx)
        assert result.info["module_access"] == {"a": "busy", "b": "busy"}
        assert not [f for f in result.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
        time.sleep(0.2)  # the daemon's child sees the held connection close
        result = await PROBE.run(ServiceInfo(host="127.0.0.1", port=port), ctx)
        assert result.info["module_access"] == {"a": "open", "b": "open"}
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(base, ignore_errors=True)


def test_no_client_run_starts_after_the_deadline() -> None:
    """A wave asked for after its crawl's deadline (a probe being cut off) starts no rsync
    client: every directory is answered cut, by the deadline."""
    started: list[list[str]] = []

    def argv_for(rels: list[str]) -> list[str]:
        started.append(rels)
        return ["/bin/false"]

    answers, runs = list_dirs(argv_for, ["a", "b"], {}, 10.0, 100, [1000, 1000],
                              until=time.monotonic() - 1)  # fmt: skip
    assert runs == 0 and started == []
    for page, nbytes in answers:
        assert isinstance(page, Page) and not page.complete and page.error == "deadline"
        assert nbytes == 0


def test_a_run_is_killed_at_the_deadline_not_at_its_own_timeout(tmp_path: Path) -> None:
    """A client that hangs is killed when the crawl's deadline comes, even when its own
    timeout is later; what it printed before is kept, cut."""
    script = tmp_path / "hang.sh"
    script.write_text("#!/bin/sh\necho 'drwxr-xr-x 4,096 2026/01/01 00:00:00 a'\n"
                      "echo '-rw-r--r-- 10 2026/01/01 00:00:00 a/x.wav'\nexec sleep 30\n")
    script.chmod(0o700)
    t = time.monotonic()
    answers, runs = list_dirs(lambda rels: [str(script)], ["a"], {"PATH": "/bin:/usr/bin"},
                              20.0, 100, [1000], until=time.monotonic() + 0.5)  # fmt: skip
    assert time.monotonic() - t < 5 and runs == 1
    ((page, _),) = answers
    assert isinstance(page, Page) and not page.complete
    assert [i.name for i in page.items] == ["x.wav"]


async def test_a_check_that_got_no_answer_is_marked_so(make_ctx: MakeCtx) -> None:
    """A module check whose connection failed (nothing listening here) is refused *without an
    answer*: the probe asks those again alone, unlike a daemon's own refusal."""
    port = free_port("127.0.0.1")  # closed again: connections are refused
    reply = await PROBE._reply(ServiceInfo(host="127.0.0.1", port=port), make_ctx(), "m")
    assert reply.access.value == "refused" and reply.answered is False


def _lister(port: int) -> Callable[[list[str]], list[str]]:
    assert RSYNC is not None
    return lambda rels: list_only_argv(RSYNC, "127.0.0.1", port, "m", rels, 10)


def _names(answer: Any) -> list[str]:
    assert isinstance(answer, Page), answer
    return [i.name for i in answer.items]


ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/nonexistent"}


def test_one_run_answers_each_directory_as_alone(rsyncd: tuple[int, Path]) -> None:
    """Worked out by hand on the tree: a run over four directories fails on locked/ (exit 23);
    a/ and "a b"/ are whole in it; empty/ and locked/ look alike there (no entries) and are
    listed again alone: empty/ is an empty page, locked/ not listable."""
    port, _ = rsyncd
    rels = ["a", "locked", "empty", "a b"]
    answers, runs = list_dirs(_lister(port), rels, ENV, 10.0, 100, [10_000] * 4)
    by = dict(zip(rels, answers, strict=True))
    assert _names(by["a"][0]) == ["x.wav"] and _names(by["a b"][0]) == ["call 1.wav"]
    assert isinstance(by["locked"][0], NotListable)
    assert _names(by["empty"][0]) == [] and by["empty"][0].complete  # type: ignore[union-attr]
    assert by["empty"][1] > 0  # its own line was read (and counted) in its run alone
    assert runs == 3


def test_the_root_is_listed_alone_first(rsyncd: tuple[int, Path]) -> None:
    """The root's entries are named like the other directories' own lines ("a"): listed in one
    run together, a/ would lose its place in the root's page."""
    port, _ = rsyncd
    answers, runs = list_dirs(_lister(port), ["", "a"], ENV, 10.0, 100, [10_000] * 2)
    root, a = answers[0][0], answers[1][0]
    assert {"a", "a b", "big", "wide", "readme.txt", "link", "locked"} <= set(_names(root))
    assert _names(a) == ["x.wav"] and runs == 2


@pytest.mark.parametrize(("max_entries", "caps"), [(50, [10_000, 10_000]), (100, [300, 10_000])])
def test_a_directory_cut_at_its_bound_ends_the_run_the_rest_go_on(
    rsyncd: tuple[int, Path], max_entries: int, caps: list[int]
) -> None:
    """big/ (60 files) sorts before wide/d00/: cut at 50 entries or at 300 bytes, the run
    stops there and wide/d00/ is listed whole by the next one."""
    port, _ = rsyncd
    answers, runs = list_dirs(_lister(port), ["big", "wide/d00"], ENV, 10.0, max_entries, caps)
    (big, big_bytes), (d00, _) = answers
    assert isinstance(big, Page) and not big.complete
    assert len(big.items) == 50 if max_entries == 50 else 0 < len(big.items) < 10
    assert big_bytes <= caps[0] + 100  # (the line that crossed the bound is counted)
    assert _names(d00) == ["r0.txt", "r1.txt", "r2.txt"] and runs == 2


def test_empty_blocks_before_a_cut_are_listed_again(rsyncd: tuple[int, Path]) -> None:
    """A run cut (here at wide/d00/'s byte bound) says nothing of its exit status: the empty
    blocks before the cut (empty/, locked/) may be unreadable directories and are listed again
    alone."""
    port, _ = rsyncd
    rels = ["empty", "locked", "wide/d00"]
    answers, runs = list_dirs(_lister(port), rels, ENV, 10.0, 100, [10_000, 10_000, 60])
    assert _names(answers[0][0]) == [] and isinstance(answers[1][0], NotListable)
    assert isinstance(answers[2][0], Page) and not answers[2][0].complete
    assert runs == 3


def test_a_run_that_fails_whole_is_retried_one_directory_at_a_time(tmp_path: Path) -> None:
    """Constructed client output: a "client" that fails any run of several directories (exit
    10, nothing printed: a daemon that dropped the connection) but lists one alone. No answer
    of the failed run is taken as the directories' own: each is listed again alone."""
    script = tmp_path / "client.sh"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$#" -gt 1 ] && exit 10\n'
        'echo "drwxr-xr-x          4,096 2026/01/01 00:00:00 $1"\n'
        'echo "-rw-r--r--             10 2026/01/01 00:00:00 $1/f.wav"\n'
    )
    script.chmod(0o700)
    answers, runs = list_dirs(lambda rels: [str(script), *rels], ["a", "b"], ENV, 10.0, 100,
                              [1000, 1000])  # fmt: skip
    assert [_names(a) for a, _ in answers] == [["f.wav"], ["f.wav"]] and runs == 3
