#!/usr/bin/env bash
# Mutation testing of the named modules with their own tests (mutmut 3; slow: not part of CI).
#   bench/mutation.sh scanner/targets.py scanner/ports.py     # or scanner.targets, or --all
#   bench/mutation.sh --diff scanner/masking.py                 # show each survivor's change
#   bench/mutation.sh --list                                    # module -> test files
#   bench/mutation.sh --json run.json scanner/protocols/listing.py  # keep the verdicts, then
#   bench/mutation.sh --rerun run.json scanner/protocols/listing.py # re-run only its survivors
#   bench/mutation.sh --mutant 'scanner.protocols.listing.x__items__*' scanner/protocols/listing.py
# Hypothesis tests run at most 20 examples each (derandomized) unless --examples N says otherwise.
# Which tests belong to which module: bench/mutation_targets.toml. Each module runs in its own
# temporary copy of the tree (deleted afterwards), so runs never leave files in the work tree and
# several may run at once. Details: bench/mutation.py's docstring; scores: bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" bench/mutation.py "$@"
