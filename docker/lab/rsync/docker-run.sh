#!/bin/sh
# docker compose entry: render docker/lab/rsync (mounted at /src/rsync) and run the daemon.
set -e
mkdir -p /lab/rsync/private /lab/rsync/hidden
cp /src/rsync/data/private/* /lab/rsync/private/
cp /src/rsync/data/hidden/* /lab/rsync/hidden/
install -m 600 /src/rsync/rsyncd.secrets /lab/rsync/rsyncd.secrets
sed -e 's|@@LAB@@|/lab|g' -e 's|@@CONTENT@@|/lab/content|g' \
    /src/rsync/rsyncd.conf > /lab/rsync/rsyncd.conf
exec rsync --daemon --no-detach --config=/lab/rsync/rsyncd.conf --port=873 --log-file=/dev/stderr
