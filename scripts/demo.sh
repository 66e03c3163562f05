#!/usr/bin/env bash
# The README's main job: set up, bring the lab up, scan it, write the reports.
# Everything runs as root on Debian 12; the scan runs inside the lab's loopback-only namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --lab
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p reports
export NASSCAN_DB="$PWD/reports/history.sqlite3"

nasscan lab up
# Exit 1 means "findings at or above --fail-on": expected for a lab built to be exposed.
status=0
nasscan lab exec -- nasscan scan 127.0.10.0/24 --format console || status=$?
if [ "$status" -gt 1 ]; then
  echo "demo: the scan failed (exit $status)" >&2
  exit "$status"
fi
nasscan show last --format json -o reports/lab.json
nasscan report last --format html -o reports/lab.html
nasscan report last --format sarif -o reports/lab.sarif
echo
echo "Reports: reports/lab.json, reports/lab.html (open in a browser), reports/lab.sarif"
echo "History: $NASSCAN_DB  (nasscan history / nasscan diff with NASSCAN_DB set)"
echo "The lab stays up for you to explore: nasscan lab status; stop it with: nasscan lab down"
