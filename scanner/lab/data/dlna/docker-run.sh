#!/bin/sh
# docker compose entry (what scanner/lab/services/dlna.py does): `docker-run.sh minidlna` renders
# minidlna.conf and runs minidlnad in the foreground on the container's eth0; `docker-run.sh twin`
# serves the plain page (not UPnP) on 8200. One container each: no nft needed.
set -eu
export LAB=/lab CONTENT=/lab/content
export DBDIR=/lab/dlna/db LOGDIR=/lab/dlna/log IFACE=eth0
case "${1:-minidlna}" in
  minidlna)
    mkdir -p "$DBDIR" "$LOGDIR"
    /cfg/render.sh /cfg/dlna/minidlna.conf /lab/dlna/minidlna.conf
    rm -f /lab/dlna/minidlna.pid
    exec minidlnad -S -R -f /lab/dlna/minidlna.conf -P /lab/dlna/minidlna.pid ;;
  twin)
    mkdir -p /lab/dlna/twin
    cp /cfg/dlna/twin-index.html /lab/dlna/twin/index.html
    exec python3 -m http.server 8200 --bind 0.0.0.0 --directory /lab/dlna/twin ;;
  *) echo "docker-run.sh: minidlna or twin" >&2; exit 2 ;;
esac
