#!/usr/bin/env bash
# CI smoke run of the benchmarks: seconds, no timing assertions; fails only if nasscan's sweep
# (driver and CLI) does not find exactly the planted listeners. Keeps bench/ from rotting.
# As root it runs in its own loopback-only namespace (removed at the end); otherwise on 127.99.x.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
    exec "$PY" bench/run.py tiny --runs 1 --check --limit 60 "$@"
fi
exec "$PY" bench/run.py tiny --runs 1 --check --limit 60 --no-netns "$@"
