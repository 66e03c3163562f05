#!/bin/bash
# Runs tgtd in the foreground and loads targets.conf (the lab's "iscsi" daemon and the docker
# image's CMD).  usage: run-tgtd.sh RUNDIR CONTROL_PORT PORTAL TARGETS_CONF [KEEP_VISIBLE_DIR...]
#
# tgtd's control socket lives in /run/tgtd (shared by every network namespace), so the
# namespace lab runs tgtd and tgt-admin in a private mount namespace with RUNDIR bind-mounted
# over /run (several labs then coexist). tgtd ignores SIGTERM: on TERM this script deletes the
# targets and the system through tgtadm, then SIGKILLs tgtd if it is still there.
set -u
rundir=$1 port=$2 portal=$3 conf=$4
if [ "$rundir" != /run ] && [ "${NASSCAN_PRIVATE_RUN:-}" != 1 ]; then
    exec unshare --mount --propagation private env NASSCAN_PRIVATE_RUN=1 "$0" "$@"
fi
if [ "$rundir" != /run ]; then
    # paths under /run that must stay visible (the lab state dir: configs, content, logs)
    for keep in "${@:5}"; do
        case "$keep" in
        /run/*)
            mkdir -p "$rundir/${keep#/run/}"
            mount --bind "$keep" "$rundir/${keep#/run/}" || exit 1
            ;;
        esac
    done
    mount --rbind "$rundir" /run || exit 1
fi
mkdir -p /run/tgtd
rm -f "/run/tgtd/socket.$port" "/run/tgtd/socket.$port.lock" "/run/tgtd/ready.$port"
tgtd -f -C "$port" --iscsi "portal=$portal" &
tgt=$!
stop() {
    rm -f "/run/tgtd/ready.$port"
    tgt-admin -C "$port" --delete ALL -f >/dev/null 2>&1
    tgtadm -C "$port" --op delete --mode system >/dev/null 2>&1
    for _ in $(seq 20); do kill -0 "$tgt" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$tgt" 2>/dev/null
    exit 0
}
trap stop TERM INT
for _ in $(seq 100); do
    [ -S "/run/tgtd/socket.$port" ] && break
    sleep 0.05
done
sleep 0.2
tgt-admin -C "$port" -c "$conf" -e || { kill -KILL "$tgt"; exit 1; }
# the readiness marker: targets are loaded
touch "/run/tgtd/ready.$port"
wait "$tgt"
