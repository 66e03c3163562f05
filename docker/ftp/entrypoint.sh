#!/bin/sh
# entrypoint.sh INSTANCE PORT PASV_MIN PASV_MAX: what scanner/lab/services/ftp.py does.
# INSTANCE: ftp-anon | ftp-local | ftps. Passive data goes to 127.0.0.1 (published ports).
set -eu
INST=$1
CFG=${CFG:-/cfg}
export LAB=${LAB:-/lab}
export CONTENT=$LAB/content RUN=$LAB/ftp/$INST-$2 ADDR=0.0.0.0 PORT=$2
export PASV_ADDR=127.0.0.1 PASV_MIN=$3 PASV_MAX=$4
export CERT=$LAB/tls/$INST-$2.crt KEY=$LAB/tls/$INST-$2.key
mkdir -p "$RUN"/empty $LAB/tls
chmod 555 "$RUN"/empty
cp $CFG/ftp/pam.vsftpd /etc/pam.d/nasscan-lab-vsftpd
[ -s "$KEY" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=nasscan-lab \
  -keyout "$KEY" -out "$CERT" 2>/dev/null
$CFG/render.sh $CFG/ftp/common.conf "$RUN"/common.part
$CFG/render.sh "$CFG/ftp/$INST.conf" "$RUN"/instance.part
cat "$RUN"/common.part "$RUN"/instance.part > "$RUN"/vsftpd.conf
chmod 600 "$RUN"/vsftpd.conf
exec vsftpd "$RUN"/vsftpd.conf
