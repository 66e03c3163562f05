#!/bin/sh
# entrypoint.sh INSTANCE: what scanner/lab/services/http.py does (and `content`, which writes the
# synthetic tree with scanner/lab/content.py into the shared volume).
set -eu
INST=$1
export LAB=/lab CONTENT=/lab/content RUN=/lab/http/$INST ADDR=0.0.0.0
export CERT=/lab/tls/$INST.crt KEY=/lab/tls/$INST.key HTPASSWD=/cfg/http/htpasswd HTTP_DIR=/cfg/http
mkdir -p "$RUN" /lab/tls
site() {
  for d in client_body proxy fastcgi uwsgi scgi; do mkdir -p "$RUN/$d"; done
  [ -s "$KEY" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=nasscan-lab \
    -keyout "$KEY" -out "$CERT" 2>/dev/null
  /cfg/render.sh "/cfg/http/$1" "$RUN"/site.conf
  SITE=$RUN/site.conf /cfg/render.sh /cfg/http/nginx.conf "$RUN"/nginx.conf
  exec nginx -p "$RUN" -c "$RUN"/nginx.conf -e stderr -g 'daemon off;'
}
case "$INST" in
  content)
    exec python3 -c 'import sys; sys.path.insert(0, "/opt/nasscan")
import content, pathlib; content.generate(pathlib.Path("/lab/content"))' ;;
  http-nginx-443) site site-autoindex.conf ;;
  http-webdav) site site-webdav.conf ;;
  http-auth) site site-auth.conf ;;
  http-https-auth) site site-https-auth.conf ;;
  http-trap) site site-trap.conf ;;
  http-apache)
    /cfg/render.sh /cfg/http/apache2.conf "$RUN"/apache2.conf
    exec apache2 -d "$RUN" -f "$RUN"/apache2.conf -DFOREGROUND ;;
  http-lighttpd)
    /cfg/render.sh /cfg/http/lighttpd.conf "$RUN"/lighttpd.conf
    touch "$RUN"/error.log && chown www-data:www-data "$RUN"/error.log
    exec lighttpd -D -f "$RUN"/lighttpd.conf ;;
  http-python)
    exec python3 -m http.server 8080 --bind 0.0.0.0 --directory /lab/content ;;
  *) echo "unknown instance $INST" >&2; exit 2 ;;
esac
