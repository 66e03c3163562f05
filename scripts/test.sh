#!/usr/bin/env bash
# The README's test command: set up, lint, type-check, bring the lab up, run pytest inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
# A tiny third-party probe package: tests/test_plugin_entrypoint.py checks it is found through
# the `nasscan.probes` entry point. Test-only: the main job's environment does not need it.
python -m pip install -q -e tests/plugin_pkg
ruff check .
mypy
nasscan lab up
trap 'nasscan lab down' EXIT
# pytest runs inside the lab's loopback-only network namespace: nothing it sends can leave it.
nasscan lab exec -- python -m pytest "$@"
