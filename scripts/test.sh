#!/usr/bin/env bash
# The README's test command: set up, lint, type-check, bring the lab up, run pytest inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"
# (the test plug-in probe is not installed here: the tests that need it put it on their path)
ruff check .
mypy
mypy --strict scanner probes  # the shipped code: strict (pyproject names the few exceptions)
nasscan lab up
trap 'nasscan lab down' EXIT
# The tests start nasscan as a subprocess many times: with bytecode writing turned off (some
# shells export PYTHONDONTWRITEBYTECODE=1) every one of them would compile every module again.
unset PYTHONDONTWRITEBYTECODE
# pytest runs inside the lab's loopback-only network namespace: nothing it sends can leave it.
nasscan lab exec -- python -m pytest "$@"
