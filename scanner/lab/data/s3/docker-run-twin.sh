#!/bin/sh
# docker compose entry for the S3 twin (what scanner/lab/services/s3.py does for s3-twin).
set -eu
export LAB=/lab ADDR=0.0.0.0
for sub in body proxy fastcgi uwsgi scgi; do mkdir -p "/lab/s3/twin/tmp/$sub"; done
/cfg/render.sh /cfg/s3/nginx-twin.conf /lab/s3/twin/nginx.conf
exec nginx -p /lab/s3/twin -c /lab/s3/twin/nginx.conf -e stderr -g 'daemon off;'
