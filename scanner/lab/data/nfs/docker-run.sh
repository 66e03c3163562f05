#!/bin/sh
# docker compose entry (what scanner/lab/services/nfs.py does): render ganesha.conf and run
# rpcbind + ganesha. The container has one address, so ADDR=0.0.0.0 and no nft rules.
set -eu
export LAB=/lab CONTENT=/lab/content ADDR=0.0.0.0
mkdir -p /lab/nfs/secure /lab/nfs/recovery
cp /cfg/nfs/data/secure/* /lab/nfs/secure/
/cfg/render.sh /cfg/nfs/ganesha.conf /lab/nfs/ganesha.conf
exec /cfg/nfs/run-nfs.sh /run /lab/nfs/ganesha.conf /dev/stderr
