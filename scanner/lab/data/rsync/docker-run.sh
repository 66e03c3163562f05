#!/bin/sh
# docker compose entry (what scanner/lab/services/rsync.py does): render and run the daemon.
set -eu
export LAB=/lab CONTENT=/lab/content
mkdir -p /lab/rsync/private /lab/rsync/hidden
cp /cfg/rsync/data/private/* /lab/rsync/private/
cp /cfg/rsync/data/hidden/* /lab/rsync/hidden/
install -m 600 /cfg/rsync/rsyncd.secrets /lab/rsync/rsyncd.secrets
/cfg/render.sh /cfg/rsync/rsyncd.conf /lab/rsync/rsyncd.conf
rm -f /lab/rsync/rsyncd.pid
exec rsync --daemon --no-detach --config=/lab/rsync/rsyncd.conf --port=873 --log-file=/dev/stderr
