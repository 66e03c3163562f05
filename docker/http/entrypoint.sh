#!/bin/sh
# entrypoint.sh INSTANCE: what scanner/lab/services/http.py does (and `content`, which writes the
# synthetic tree with scanner/lab/content.py into the shared volume).
set -eu
INST=$1
CFG=${CFG:-/cfg}
export LAB=${LAB:-/lab}
export CONTENT=$LAB/content RUN=$LAB/http/$INST ADDR=0.0.0.0
export CERT=$LAB/tls/$INST.crt KEY=$LAB/tls/$INST.key HTPASSWD=$CFG/http/htpasswd HTTP_DIR=$CFG/http
mkdir -p "$RUN" $LAB/tls
site() {
  for d in client_body proxy fastcgi uwsgi scgi; do mkdir -p "$RUN/$d"; done
  [ -s "$KEY" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=nasscan-lab \
    -keyout "$KEY" -out "$CERT" 2>/dev/null
  $CFG/render.sh "$CFG/http/$1" "$RUN"/site.conf
  SITE=$RUN/site.conf $CFG/render.sh $CFG/http/nginx.conf "$RUN"/nginx.conf
  exec nginx -p "$RUN" -c "$RUN"/nginx.conf -e stderr -g 'daemon off;'
}
case "$INST" in
  content)
    exec python3 -c 'import os, sys; sys.path.insert(0, os.environ.get("CONTENT_PY_DIR", "/opt/nasscan"))
import content, pathlib; content.generate(pathlib.Path(os.environ["CONTENT"]))' ;;
  http-nginx-443) site site-autoindex.conf ;;
  http-webdav) site site-webdav.conf ;;
  http-auth) site site-auth.conf ;;
  http-https-auth) site site-https-auth.conf ;;
  http-trap) site site-trap.conf ;;
  http-apache)
    $CFG/render.sh $CFG/http/apache2.conf "$RUN"/apache2.conf
    exec apache2 -d "$RUN" -f "$RUN"/apache2.conf -DFOREGROUND ;;
  http-lighttpd)
    $CFG/render.sh $CFG/http/lighttpd.conf "$RUN"/lighttpd.conf
    touch "$RUN"/error.log && chown www-data:www-data "$RUN"/error.log
    exec lighttpd -D -f "$RUN"/lighttpd.conf ;;
  http-python)
    exec python3 -m http.server 8080 --bind 0.0.0.0 --directory "$CONTENT" ;;
  http-webfs)
    exec webfsd -F -p 80 -r "$CONTENT" -u nobody -g nogroup ;;
  http-mini-httpd)
    exec mini_httpd -D -p 8000 -d "$CONTENT" -u nobody -l "$RUN"/access.log ;;
  *) echo "unknown instance $INST" >&2; exit 2 ;;
esac
