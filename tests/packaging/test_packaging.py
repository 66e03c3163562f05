"""What `pip install nasscan` pulls in: exactly the libraries the running code imports.

The runtime dependencies declared in pyproject.toml are compared with the third-party imports
found in ``scanner/`` and ``probes/`` (every ``import``, also inside functions); PostgreSQL
support is an extra whose absence is a one-line error, never a traceback.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions, version
from pathlib import Path

from repo_paths import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
OWN = {"scanner", "probes"}
# Imported only behind an ImportError guard that names the extra to install.
OPTIONAL_IMPORTS = {"psycopg": "postgres", "celery": "fleet", "redis": "fleet"}


def _dist(requirement: str) -> str:
    m = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert m, requirement
    return re.sub(r"[-_.]+", "-", m.group(0)).lower()


def _imported_modules() -> dict[str, list[str]]:
    """Top-level module name -> files importing it, for scanner/ and probes/ (package data
    scripts under scanner/lab/data run as separate programs and are left out)."""
    found: dict[str, list[str]] = {}
    for pkg in OWN:
        for f in (REPO_ROOT / pkg).rglob("*.py"):
            if "data" in f.relative_to(REPO_ROOT).parts:
                continue
            for node in ast.walk(ast.parse(f.read_text(), str(f))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for n in names:
                    found.setdefault(n.split(".")[0], []).append(str(f.relative_to(REPO_ROOT)))
    return found


def _third_party(modules: dict[str, list[str]]) -> dict[str, str]:
    """Third-party module -> the distribution that provides it (from installed metadata)."""
    providers = packages_distributions()
    out: dict[str, str] = {}
    for mod, files in modules.items():
        if mod in OWN or mod in sys.stdlib_module_names or mod == "__future__":
            continue
        dists = providers.get(mod)
        assert dists, f"{mod} (imported by {files[0]}) is provided by no installed distribution"
        out[mod] = _dist(dists[0])
    return out


def test_declared_runtime_dependencies_are_exactly_the_imports() -> None:
    declared = {_dist(r) for r in PYPROJECT["project"]["dependencies"]}
    imported = _third_party(_imported_modules())
    required = {d for m, d in imported.items() if m not in OPTIONAL_IMPORTS}
    assert declared - required == set(), "declared but never imported"
    assert required - declared == set(), "imported but not declared"
    # the known offenders of the past stay out
    assert not {"scapy", "smbprotocol", "psycopg"} & declared


def test_optional_imports_live_in_their_extra() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    imported = _third_party(_imported_modules())
    for mod, extra in OPTIONAL_IMPORTS.items():
        assert mod in imported, f"{mod} is no longer imported: drop it from OPTIONAL_IMPORTS"
        assert imported[mod] in {_dist(r) for r in extras[extra]}, (mod, extra)
        # the tests install every extra
        assert imported[mod] in {_dist(r) for r in extras["dev"]}, mod


def test_postgres_url_without_psycopg_names_the_extra(tmp_path: Path) -> None:
    # psycopg is installed here: make it unimportable in a child process only
    code = ("import sys; sys.modules['psycopg'] = None; sys.argv[0] = 'nasscan'; "
            "from scanner.cli import main; main()")
    r = subprocess.run(
        [sys.executable, "-c", code, "history", "--db", "postgresql://nobody@127.0.0.1:1/none"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "pip install 'nasscan[postgres]'" in lines[0]


def test_version_comes_from_package_metadata() -> None:
    r = subprocess.run([str(Path(sys.executable).parent / "nasscan"), "--version"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"nasscan, version {version('nasscan')}"
    # one source: pyproject's dynamic version is scanner/_version.py, which --version reads
    # without importing importlib.metadata (start-up time)
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "scanner._version.__version__"}
    from scanner._version import __version__
    assert version("nasscan") == __version__
