#!/bin/sh
# docker compose entry: render the namespace lab's templates (@@LAB@@=/lab, @@CONTENT@@=/lab/content,
# @@ADDR@@=0.0.0.0: the container has one address) and run rpcbind + ganesha in the foreground.
set -e
mkdir -p /lab/nfs/secure /lab/nfs/recovery /run/rpcbind /run/ganesha
cp /src/nfs/data/secure/* /lab/nfs/secure/
sed -e 's|@@LAB@@|/lab|g' -e 's|@@CONTENT@@|/lab/content|g' -e 's|@@ADDR@@|0.0.0.0|g' \
    /src/nfs/ganesha.conf > /lab/nfs/ganesha.conf
exec /src/nfs/run-nfs.sh /run /lab/nfs/ganesha.conf /dev/stderr
