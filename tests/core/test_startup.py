"""Start-up stays lazy: --version and --help import no scan machinery, and what the CLI
states without importing it (severity names, feature commands' help) matches the real thing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scanner import cli, cli_common
from scanner.models import Severity

HEAVY = ["asyncio", "pydantic", "scanner.engine", "scanner.models", "scanner.history",
         "scanner.lab", "scanner.report", "probes", "aiohttp", "importlib.metadata"]


def _imported_after(args: list[str]) -> set[str]:
    code = (
        "import sys, json\n"
        "from scanner.cli import main\n"
        f"rc = main({args!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_version_and_help_import_no_scan_machinery() -> None:
    for args in (["--version"], ["--help"], ["scan", "--help"]):
        mods = _imported_after(args)
        loaded = [h for h in HEAVY if h in mods or any(m.startswith(h + ".") for m in mods)]
        assert loaded == [], f"{args}: {loaded}"


def test_fail_on_choices_are_the_severities() -> None:
    assert set(cli_common.FAIL_ON) == {s.value for s in Severity} | {"none"}


def test_lazy_command_help_matches_the_commands() -> None:
    from scanner.history.cli import COMMANDS
    from scanner.lab.cli import lab

    real = {c.name: (c.help or "").split("\n\n")[0].strip() for c in [*COMMANDS, lab]}
    assert real == cli.LAZY_COMMANDS


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    import scanner

    assert scanner.__version__ == version("nasscan")
    out = subprocess.run([sys.executable, "-m", "scanner.cli", "--version"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip() == f"nasscan, version {scanner.__version__}"


def test_a_quiet_scan_does_not_load_the_terminal_renderer(tmp_path: Path) -> None:
    """rich (about 50 ms of imports) is for a person at a terminal: a quiet scan writing JSON
    to a file loads it neither for the report nor for the progress line."""
    code = (
        "import sys, json\n"
        "from scanner.cli import main\n"
        "try:\n"
        f"    main(['scan', '127.0.0.1', '-p', 'T:9', '--probes', 'none', '--quiet', '--yes',\n"
        f"          '--no-history', '--format', 'json', '-o', {str(tmp_path / 'r.json')!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    mods = set(json.loads(out.strip().splitlines()[-1]))
    assert "scanner.engine" in mods and (tmp_path / "r.json").exists()  # it did scan
    assert not [m for m in mods if m == "rich" or m.startswith("rich.")]
