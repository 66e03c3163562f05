#!/bin/sh
# docker compose entry: render targets.conf (@@LAB@@=/lab) and run tgtd with the targets loaded.
set -e
sed -e 's|@@LAB@@|/lab|g' /src/iscsi/targets.conf > /lab/iscsi/targets.conf
exec /src/iscsi/run-tgtd.sh /run 61 0.0.0.0:3260 /lab/iscsi/targets.conf
