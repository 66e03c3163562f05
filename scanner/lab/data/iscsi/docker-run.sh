#!/bin/sh
# docker compose entry (what scanner/lab/services/iscsi.py does): LUN files, targets.conf, tgtd.
set -eu
export LAB=/lab
mkdir -p /lab/iscsi
for name in open chap; do
    img=/lab/iscsi/$name.img
    [ -f "$img" ] || { printf 'nasscan lab LUN (synthetic)\n' > "$img"; truncate -s 4M "$img"; }
done
/cfg/render.sh /cfg/iscsi/targets.conf /lab/iscsi/targets.conf
exec /cfg/iscsi/run-tgtd.sh /run 61 0.0.0.0:3260 /lab/iscsi/targets.conf
