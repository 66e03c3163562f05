#!/usr/bin/env bash
# Installs everything nasscan, its lab and its tests need on a Debian 12 machine (as root),
# then the Python package into .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(samba smbclient vsftpd nfs-ganesha nfs-ganesha-vfs nfs-common rpcbind rsync nginx
      libnginx-mod-http-dav-ext apache2 lighttpd tgt tftpd-hpa tftp-hpa nmap libnfs-utils
      iproute2 curl openssl procps postgresql chromium nftables docker-compose
      python3-pyftpdlib time minidlna)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    # Debian would start every daemon on every address when installing it: forbid that.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # minidlna's package enables its system service (SSDP on every interface at boot): the lab
  # starts its own minidlnad in the namespace, so keep the system one off.
  if [ -e /etc/init.d/minidlna ]; then
    update-rc.d minidlna disable >/dev/null 2>&1 || true
    rm -f /etc/systemd/system/multi-user.target.wants/minidlna.service
  fi
else
  echo "setup: not root (or no apt-get): skipping Debian packages; the lab needs: ${DEBS[*]}" >&2
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
