#!/bin/bash
# Runs rpcbind + nfs-ganesha as one unit (the lab's "nfs" daemon and the docker image's CMD).
# usage: run-nfs.sh RUNDIR GANESHA_CONF GANESHA_LOG [KEEP_VISIBLE_DIR...]
#
# rpcbind's /run/rpcbind.sock and /run/rpcbind.lock are filesystem paths shared by every
# network namespace, so the namespace lab gives rpcbind and ganesha a private /run: a new mount
# namespace (unshare --mount) with RUNDIR bind-mounted over /run. Several labs then coexist.
# In docker (RUNDIR=/run) the container's own /run is used as is.
# Exits (killing the other) as soon as either daemon exits, so the supervisor sees the crash.
set -u
rundir=$1 conf=$2 log=$3
if [ "$rundir" != /run ] && [ "${NASSCAN_PRIVATE_RUN:-}" != 1 ]; then
    exec unshare --mount --propagation private env NASSCAN_PRIVATE_RUN=1 "$0" "$@"
fi
if [ "$rundir" != /run ]; then
    # paths under /run that must stay visible (the lab state dir: configs, content, logs)
    for keep in "${@:4}"; do
        case "$keep" in
        /run/*)
            mkdir -p "$rundir/${keep#/run/}"
            mount --bind "$keep" "$rundir/${keep#/run/}" || exit 1
            ;;
        esac
    done
    mount --rbind "$rundir" /run || exit 1
fi
rm -f /run/rpcbind.sock /run/rpcbind.lock
mkdir -p /run/rpcbind /run/ganesha
rpcbind -f &
rpcb=$!
for _ in $(seq 100); do
    [ -S /run/rpcbind.sock ] && break
    sleep 0.05
done
ganesha.nfsd -F -f "$conf" -L "$log" -p /run/ganesha/ganesha.pid &
gan=$!
trap 'kill -TERM "$gan" "$rpcb" 2>/dev/null' TERM INT
wait -n
status=$?
kill -TERM "$gan" "$rpcb" 2>/dev/null
wait
exit "$status"
