#!/bin/sh
# entrypoint.sh INSTANCE PORT PASV_MIN PASV_MAX: what scanner/lab/services/ftp.py does.
# INSTANCE: ftp-anon | ftp-local | ftps. Passive data goes to 127.0.0.1 (published ports).
set -eu
INST=$1
export LAB=/lab CONTENT=/lab/content RUN=/lab/ftp/$INST-$2 ADDR=0.0.0.0 PORT=$2
export PASV_ADDR=127.0.0.1 PASV_MIN=$3 PASV_MAX=$4
export CERT=/lab/tls/$INST-$2.crt KEY=/lab/tls/$INST-$2.key
mkdir -p "$RUN"/empty /lab/tls
chmod 555 "$RUN"/empty
cp /cfg/ftp/pam.vsftpd /etc/pam.d/nasscan-lab-vsftpd
[ -s "$KEY" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=nasscan-lab \
  -keyout "$KEY" -out "$CERT" 2>/dev/null
/cfg/render.sh /cfg/ftp/common.conf "$RUN"/common.part
/cfg/render.sh "/cfg/ftp/$INST.conf" "$RUN"/instance.part
cat "$RUN"/common.part "$RUN"/instance.part > "$RUN"/vsftpd.conf
chmod 600 "$RUN"/vsftpd.conf
exec vsftpd "$RUN"/vsftpd.conf
