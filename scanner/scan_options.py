"""The options of ``nasscan scan``, and what turns them into a scan's inputs: typed probe
options, a baseline's finding ids.

``nasscan fleet submit`` takes part of these options as they are (``scan_params``), so the two
commands read their shared options the same way. Below every command-line module
(``scanner.cli``, ``scanner.fleet.cli``): it imports none of them, and nothing heavy at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from scanner.cli_common import FAIL_ON, fail
from scanner.outputs import output_options

FORMATS = ["console", "json", "jsonl", "csv", "sarif", "html"]

_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

_OPTIONS: list[_Decorator] = [
    click.option(
        "-p",
        "--ports",
        "ports",
        metavar="PORTS",
        help="nmap syntax: 21,80,8000-8100,T:445,U:69 (default: the probes' ports).",
    ),
    click.option(
        "--exclude",
        "excludes",
        multiple=True,
        metavar="SPEC,...",
        help="Addresses, CIDRs, ranges or names never to touch (always win).",
    ),
    click.option(
        "--exclude-file",
        "--excludefile",
        "exclude_file",
        metavar="FILE",
        help="Exclusions from a file.",
    ),
    click.option(
        "-iL", "--input-list", "input_list", metavar="FILE|-",
        help="Targets from a file ('-' = stdin).",
    ),
    click.option(
        "--rate",
        "--max-rate",
        "rate",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="New connections per second, sweep and probes together.",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(min=1),
        default=None,
        help="Sweep connections in flight (default: sized from the fd limit).",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=1.0,
        show_default=True,
        help="Longest connect wait, seconds (shorter where measured round trips allow).",
    ),
    click.option(
        "--no-liveness",
        is_flag=True,
        help="Retry silent ports of every host and send UDP probes to every address.",
    ),
    click.option(
        "--connect",
        "connect_sweep",
        is_flag=True,
        help="Sweep with connect() only (default as root on IPv4: raw SYN where sparse).",
    ),
    click.option(
        "--probe-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=60.0,
        show_default=True,
        help="Budget of one probe on one service, seconds.",
    ),
    click.option(
        "--retries",
        "--max-retries",
        "retries",
        type=click.IntRange(min=0),
        default=1,
        show_default=True,
        help="Extra connect attempts for ports that did not answer.",
    ),
    click.option(
        "--per-host",
        type=click.IntRange(min=1),
        default=8,
        show_default=True,
        help="Probe connections at once to one host.",
    ),
    click.option(
        "--processes",
        type=click.IntRange(min=1),
        default=None,
        help="Sweep processes (default: one per core for big scans).",
    ),
    click.option(
        "--probes",
        "probes_spec",
        default=None,
        metavar="NAME,...|all|none",
        help="Probes to run; 'none' = discovery only.",
    ),
    click.option("--format", "fmt", type=click.Choice(FORMATS), default="console",
                 show_default=True),
    output_options,
    click.option("-o", "--output", metavar="FILE",
                 help="Write the report here (default or -: stdout)."),
    click.option(
        "--fail-on",
        type=click.Choice(FAIL_ON),
        default="low",
        show_default=True,
        help="Exit 1 when a finding is at least this severe.",
    ),
    click.option(
        "--seed",
        type=int,
        default=0,
        show_default=True,
        help="Seed of the scan order (give every shard the same seed).",
    ),
    click.option(
        "--shard",
        default="1/1",
        show_default=True,
        metavar="I/N",
        help="Scan only part I of N (1-based, as masscan).",
    ),
    click.option(
        "--sample-bytes",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="INTRUSIVE: read the first N bytes of a few files to classify them.",
    ),
    click.option(
        "--max-depth",
        type=click.IntRange(min=1),
        default=32,  # ListingBounds.depth (a test keeps them equal; no import at start-up)
        show_default=True,
        help="Directory levels a listing may descend (a safety net; requests bound the crawl).",
    ),
    click.option(
        "--max-requests",
        type=click.IntRange(min=1),
        default=50,  # ListingBounds.requests
        show_default=True,
        help="Listing requests per resource (share, export, bucket, listing root): a hard cap.",
    ),
    click.option("--rules", metavar="FILE", default=None, help="Extra triage rules (TOML)."),
    click.option(
        "--probe-option",
        "probe_option",
        multiple=True,
        metavar="KEY=VALUE",
        help="Probe option, repeatable (e.g. nfs.uid=1000).",
    ),
    click.option("-q", "--quiet", is_flag=True, help="No progress display, warnings only."),
    click.option("--yes", is_flag=True, help="Confirm a large or public scope."),
    click.option(
        "--db",
        envvar="NASSCAN_DB",
        default=None,
        metavar="PATH|URL",
        help="History store: SQLite file (default: user data dir) or postgresql://...",
    ),
    click.option("--no-history", is_flag=True, help="Do not record this scan in the history."),
    click.option(
        "--baseline",
        default=None,
        metavar="last|SCAN|FILE",
        help="Mark each finding new or known against an earlier scan or a JSON report.",
    ),
    click.option(
        "--fail-on-new",
        is_flag=True,
        help="Exit code from new findings only (with --baseline).",
    ),
    click.option(
        "--resume",
        is_flag=False,
        flag_value="last",
        default=None,
        metavar="[SCAN]",
        help="Continue an interrupted scan (default: the last) with its recorded options.",
    ),
]
"""Every option of ``nasscan scan`` after its TARGET arguments, in the order of its --help."""


def scan_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add every option of ``nasscan scan`` (``_OPTIONS``) to ``command``."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def scan_params() -> list[click.Parameter]:
    """New parameter objects of every option of ``nasscan scan``, in the order of its --help
    (for a command that takes some of them as they are)."""

    def options(**_params: Any) -> None:
        """(only its parameters are used)"""

    return click.command()(scan_options(options)).params


def raw_probe_options(values: Sequence[str]) -> dict[str, str]:
    """``--probe-option KEY=VALUE`` values as a dict (exit 2 on one without ``=`` or key)."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            shown = item if "=" not in item else key + "=..."
            fail(f"bad --probe-option {shown!r}: use key=value, e.g. nfs.uid=1000")
        out[key.strip()] = value
    return out


def typed_probe_options(raw: dict[str, str], recorded_secrets: Sequence[str] = (),
                        what: str = "") -> tuple[dict[str, Any], list[str]]:
    """Typed, validated probe options (exit 2 on an unknown key or a bad value), with the secret
    ones filled in from the environment or the secrets file; and the names of the secrets.

    ``recorded_secrets``: secret keys an interrupted scan used; each must be found again.
    """
    from scanner.credentials import CredentialError, resolve_probe_options
    from scanner.probe import ProbeOptionError
    from scanner.registry import load_probes

    try:
        return resolve_probe_options(raw, load_probes(), recorded_secrets, what)
    except (ProbeOptionError, CredentialError) as exc:
        fail(str(exc))


def baseline_ids(ref: str, store: Any) -> set[str]:
    """The finding ids of ``--baseline``: a JSON report file, or a scan of ``store``."""
    from scanner.diff import BaselineError, load_baseline_file
    from scanner.history.store import HistoryError

    if Path(ref).is_file():
        try:
            return load_baseline_file(Path(ref))
        except BaselineError as exc:
            fail(str(exc))
    try:
        ids = {f.id for f in store.findings(store.resolve(ref))}
    except HistoryError as exc:
        fail(f"baseline {ref!r}: {exc} (give last, a scan id, or a JSON report file)")
    return ids
