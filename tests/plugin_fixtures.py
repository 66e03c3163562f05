"""The test plug-in probe (``tests/plugin_pkg``) exists only while a test module asks for it.

It is never installed into an environment: ``plugin_build`` installs it once per session with
pip into a temporary directory (``pip install --target``: a real wheel build with real
``dist-info`` metadata and entry points), and ``plugin_probe`` puts that directory on
``sys.path`` and ``PYTHONPATH`` (for the ``nasscan`` subprocesses some tests start) for one
module, then takes it away again. A module uses it with
``pytestmark = pytest.mark.usefixtures("plugin_probe")``.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PLUGIN_SRC = Path(__file__).resolve().parent / "plugin_pkg"
PLUGIN_MODULE = "nasscan_plugin_test"


@pytest.fixture(scope="session")
def plugin_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the installed plug-in (package + dist-info), built once."""
    base = tmp_path_factory.mktemp("plugin")
    src = base / "src"
    # build from a copy: the build writes build/ and *.egg-info next to pyproject.toml
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = base / "site"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--no-build-isolation", "--no-compile", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert r.returncode == 0, f"installing tests/plugin_pkg failed:\n{r.stderr[-2000:]}"
    assert (target / PLUGIN_MODULE / "__init__.py").is_file()
    return target


@pytest.fixture(scope="module")
def plugin_probe(plugin_build: Path) -> Iterator[Path]:
    """The plug-in is importable and registered (entry point) for this module only."""
    site = str(plugin_build)
    old_pythonpath = os.environ.get("PYTHONPATH")
    sys.path.insert(0, site)
    os.environ["PYTHONPATH"] = os.pathsep.join(x for x in (site, old_pythonpath) if x)
    importlib.invalidate_caches()
    try:
        yield plugin_build
    finally:
        sys.path.remove(site)
        if old_pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_pythonpath
        sys.modules.pop(PLUGIN_MODULE, None)
        importlib.invalidate_caches()
