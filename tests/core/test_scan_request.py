"""One ``ScanRequest`` for the CLI and the scheduler: every option family set in a schedule
file gives the engine exactly what the same flags give it, and a scheduled job applies them."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import pytest

from scanner.cli import scan_cmd, scan_request
from scanner.engine import ScanOptions
from scanner.history.jobs import scan_job
from scanner.history.schedule import ScheduleConfigError, load_schedule
from scanner.history.store import open_store
from scanner.outputs import apply_timing
from scanner.request import ScanRequest, ScanRequestError

RULES = """
[categories.cad]
label = "CAD drawings"
priority = 30

[[rule]]
name = "cad-ext"
category = "cad"
where = "extension"
how = "exact"
patterns = [".dwg"]
"""

# option family -> (TOML lines of a job, the same as `nasscan scan` flags)
FAMILIES: dict[str, tuple[str, list[str]]] = {
    "scope": ('exclude = ["127.0.57.3"]\nexclude_file = "{ex}"\ninput_list = "{il}"\n',
              ["--exclude", "127.0.57.3", "--exclude-file", "{ex}", "-iL", "{il}"]),
    "ports and probes": ('ports = "21,445,U:69"\nprobes = "smb,tftp"\n',
                         ["-p", "21,445,U:69", "--probes", "smb,tftp"]),
    "timing template": ('timing = "4"\nretries = 3\n', ["-T4", "--retries", "3"]),
    "limits": ('rate = 50.0\nconcurrency = 7\ntimeout = 0.8\nprobe_timeout = 9.0\n'
               "per_host = 2\nprocesses = 1\n",
               ["--rate", "50", "--concurrency", "7", "--timeout", "0.8", "--probe-timeout",
                "9", "--per-host", "2", "--processes", "1"]),
    "order and shards": ('seed = 42\nshard = "2/3"\n', ["--seed", "42", "--shard", "2/3"]),
    "content": ('sample_bytes = 64\nrules = "{rules}"\n',
                ["--sample-bytes", "64", "--rules", "{rules}"]),
    "probe options": ('probe_options = {{ "nfs.uid" = 1000, "http.paths" = "/a,/b" }}\n',
                      ["--probe-option", "nfs.uid=1000", "--probe-option", "http.paths=/a,/b"]),
}


def _files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "ex.txt").write_text("127.0.57.4\n")
    (tmp_path / "il.txt").write_text("127.0.57.8/30\n")
    (tmp_path / "rules.toml").write_text(RULES)
    return {"ex": str(tmp_path / "ex.txt"), "il": str(tmp_path / "il.txt"),
            "rules": str(tmp_path / "rules.toml")}


def _comparable(options: ScanOptions) -> dict[str, Any]:
    data = asdict(options)
    data["probes"] = [p.name for p in options.probes]
    data["ports"] = str(options.ports)
    data["rule_set"] = options.rule_set is not None
    return data


def _cli_request(args: list[str]) -> ScanRequest:
    ctx = scan_cmd.make_context("scan", args)
    default = click.core.ParameterSource.DEFAULT
    explicit = {n for n in ctx.params if ctx.get_parameter_source(n) not in (None, default)}
    return scan_request(apply_timing(dict(ctx.params), explicit))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_option_family_means_the_same_in_a_schedule_and_on_the_command_line(
    family: str, tmp_path: Path
) -> None:
    files = _files(tmp_path)
    toml, flags = FAMILIES[family]
    (tmp_path / "s.toml").write_text(
        '[jobs.j]\ntargets = ["127.0.57.1"]\ncron = "0 3 * * *"\n' + toml.format(**files)
    )
    job = load_schedule(tmp_path / "s.toml").jobs["j"]
    cli = _cli_request(["127.0.57.1", *(f.format(**files) for f in flags)])
    from_job, from_cli = _comparable(job.options()), _comparable(cli.options())
    assert from_job == from_cli
    default = _comparable(ScanRequest(targets=["127.0.57.1"]).options())
    assert from_job != default or family == "scope"  # the family really changed something
    if family == "scope":
        scope_job = asyncio.run(job.scope())
        scope_cli = asyncio.run(cli.scope())
        assert scope_job.describe() == scope_cli.describe() == [
            "127.0.57.1", "127.0.57.8-127.0.57.11"]
    if family == "timing template":
        assert (from_job["connect_timeout"], from_job["retries"], from_job["per_host"]) == (
            0.5, 3, 16)


def test_bad_job_options_are_refused_with_the_field_named(tmp_path: Path) -> None:
    base = '[jobs.j]\ntargets = ["127.0.57.1"]\ncron = "0 3 * * *"\n'
    for extra, field in [("retries = -1\n", "retries"), ("timing = \"9\"\n", "timing"),
                         ("sample_bytes = \"a\"\n", "sample_bytes"), ("colour = 1\n", "colour")]:
        (tmp_path / "s.toml").write_text(base + extra)
        with pytest.raises(ScheduleConfigError, match=rf"jobs\.j\.{field}"):
            load_schedule(tmp_path / "s.toml")
    (tmp_path / "s.toml").write_text(base + 'probes = "smb,nope"\n')
    job = load_schedule(tmp_path / "s.toml").jobs["j"]
    with pytest.raises(ScanRequestError, match="nope"):
        job.options()


def test_a_scheduled_job_applies_its_options(tmp_path: Path) -> None:
    """scan_job runs the request: the recorded report shows the job's options in effect."""
    listener = socket.socket()
    listener.bind(("127.0.57.21", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        (tmp_path / "s.toml").write_text(
            '[jobs.j]\ntargets = ["127.0.57.20/30"]\nexclude = ["127.0.57.22"]\n'
            f'ports = "{port}"\nprobes = "none"\ncron = "0 3 * * *"\n'
            'timing = "2"\nseed = 9\nsample_bytes = 8\nprocesses = 1\n'
        )
        job = load_schedule(tmp_path / "s.toml").jobs["j"]
        store = open_store(str(tmp_path / "h.sqlite3"))
        try:
            scan_id = asyncio.run(scan_job(job, store))
            report = store.load_report(scan_id)
        finally:
            store.close()
    finally:
        listener.close()
    scope = report.scope
    assert [(s.host, s.port) for s in report.services] == [("127.0.57.21", port)]
    assert scope["hosts"] == 3 and scope["seed"] == 9 and scope["sample_bytes"] == 8
    assert (scope["connect_timeout"], scope["retries"], scope["rate"]) == (2.0, 2, 100.0)
    assert scope["concurrency"] == 100 and scope["sweep_processes"] == 1


def test_cli_listing_defaults_are_the_listing_bounds() -> None:
    """--max-depth/--max-requests defaults are literals in the CLI (no import at start-up):
    they must equal ListingBounds' defaults, and a request carries them to the engine."""
    from scanner.probe import ListingBounds

    defaults = {p.name: p.default for p in scan_cmd.params}
    assert defaults["max_depth"] == ListingBounds.depth
    assert defaults["max_requests"] == ListingBounds.requests
    opts = ScanRequest(targets=["127.0.0.1"], probes="none", ports="80", max_depth=7,
                       max_requests=9, liveness=False, connect=True).options()
    assert (opts.bounds.depth, opts.bounds.requests) == (7, 9)
    assert opts.liveness is False and opts.sweep == "connect"
