#!/usr/bin/env bash
# Sets nasscan up in layers, each one command (Debian 12; the Debian part needs root):
#   scripts/setup.sh --scanner   the scanner alone in .venv (no root, no Debian package); the
#                                same as `pip install .` or `pipx install .`
#   scripts/setup.sh --lab       + the lab's daemons (Debian packages) and the lab extra in .venv
#                                (what scripts/demo.sh needs)
#   scripts/setup.sh --test      + the tests' tools (Debian packages, the dev extra, a wheelhouse
#                                of the runtime dependencies); the default (scripts/test.sh)
#   --docker                     + the Docker engine (docker.io), docker-compose and mmdebstrap
#                                (scripts/compose-lab-test.sh); with any layer above
#   --no-venv                    the Debian packages only
# The daemons are installed so that none of them runs or is enabled as a system service
# afterwards: a temporary /usr/sbin/policy-rc.d forbids starting them while apt-get runs (removed
# when this script exits; an existing one is used and left as it is), then every service unit
# of the packages this run installed is disabled and stopped (systemd), or its init script
# disabled (no systemd). The lab starts its own copies in a network namespace. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# For tests/packaging/test_setup_script.py only: a scratch root for policy-rc.d, /run/systemd, /etc/init.d.
ROOT=${NASSCAN_SETUP_ROOT:-}

LAB_DEBS=(samba smbclient vsftpd nfs-ganesha nfs-ganesha-vfs rpcbind rsync nginx
          libnginx-mod-http-dav-ext apache2 lighttpd tgt tftpd-hpa iproute2 openssl procps
          nftables util-linux webfs mini-httpd minidlna)
TEST_DEBS=(nfs-common tftp-hpa nmap libnfs-utils curl postgresql chromium docker-compose
           python3-pyftpdlib time tmux poppler-utils redis-server)
DOCKER_DEBS=(docker.io docker-compose mmdebstrap python3-venv)

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

mode=test
venv=1
docker=0
for arg in "$@"; do
  case $arg in
    --scanner) mode=scanner ;;
    --lab) mode=lab ;;
    --test) mode=test ;;
    --no-venv) venv=0 ;;
    --docker) docker=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup: unknown option $arg" >&2; usage >&2; exit 2 ;;
  esac
done

case $mode in
  scanner) DEBS=() ;;
  lab) DEBS=("${LAB_DEBS[@]}") ;;
  test) DEBS=("${LAB_DEBS[@]}" "${TEST_DEBS[@]}") ;;
esac
[ "$docker" = 0 ] || DEBS+=("${DOCKER_DEBS[@]}")

# ------------------------------------------------------------------ Debian packages

POLICY="$ROOT/usr/sbin/policy-rc.d"
POLICY_MARK="# nasscan scripts/setup.sh: temporary, removed when setup.sh exits"
policy_created=0

remove_policy() {
  if [ "$policy_created" = 1 ] && [ -f "$POLICY" ] && grep -qxF "$POLICY_MARK" "$POLICY"; then
    rm -f "$POLICY"
  fi
  policy_created=0
}

installed_packages() {
  dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 2>/dev/null | awk '$1 == "ii" {print $2}' \
    | sort -u
}

has_systemd() { [ -d "$ROOT/run/systemd/system" ]; }

# unit files (but the system's own), init scripts and programs a package ships
units_of() {
  dpkg -L "$1" 2>/dev/null \
    | grep -E '^/(usr/)?lib/systemd/system/[^/@]+\.(service|socket|timer|path|target)$' \
    | sed 's|.*/||' | grep -vE '^(systemd-|dbus|getty|user-)' || true
}
initscripts_of() { dpkg -L "$1" 2>/dev/null | grep -E '^/etc/init\.d/[^/]+$' | sed 's|.*/||' || true; }
programs_of() { dpkg -L "$1" 2>/dev/null | grep -E '/s?bin/[^/]+$' || true; }

# PIDs in this network namespace (not in a lab's) running a program of the given packages
running_programs_of() {
  local progs=() p pid exe mine
  for p in "$@"; do mapfile -t -O "${#progs[@]}" progs < <(programs_of "$p"); done
  [ ${#progs[@]} -gt 0 ] || return 0
  mine=$(readlink /proc/$$/ns/net)
  for pid in /proc/[0-9]*; do
    exe=$(readlink "$pid/exe" 2>/dev/null) || continue
    [ "$(readlink "$pid/ns/net" 2>/dev/null)" = "$mine" ] || continue
    for p in "${progs[@]}"; do
      if [ "$exe" = "$p" ]; then echo "${pid#/proc/} $exe"; fi
    done
  done
}

# Leave no service of the packages this run installed enabled or running.
quiesce() {
  local units=() scripts=() p u
  for p in "$@"; do
    mapfile -t -O "${#units[@]}" units < <(units_of "$p")
    mapfile -t -O "${#scripts[@]}" scripts < <(initscripts_of "$p")
  done
  if has_systemd; then
    # an init script without a unit of its own runs as the unit systemd generates for it
    for u in "${scripts[@]}"; do
      case " ${units[*]} " in *" $u.service "*) ;; *) units+=("$u.service") ;; esac
    done
    for u in "${units[@]}"; do
      systemctl disable --now --quiet "$u" >/dev/null 2>&1 || systemctl stop "$u" >/dev/null 2>&1 || true
    done
    [ ${#units[@]} -eq 0 ] || echo "setup: disabled and stopped ${units[*]}" >&2
    local left=()
    for u in "${units[@]}"; do
      if systemctl is-active --quiet "$u" 2>/dev/null; then left+=("$u"); fi
    done
    if [ ${#left[@]} -gt 0 ]; then
      echo "setup: still running as system services: ${left[*]}" >&2
      return 1
    fi
  else
    for u in "${scripts[@]}"; do
      update-rc.d "$u" disable >/dev/null 2>&1 || true
    done
    if [ -n "$(running_programs_of "$@")" ]; then  # started despite a permissive policy-rc.d
      for u in "${scripts[@]}"; do "$ROOT/etc/init.d/$u" stop >/dev/null 2>&1 || true; done
    fi
  fi
  local still
  still=$(running_programs_of "$@")
  if [ -n "$still" ]; then
    echo "setup: daemons running outside the lab after installing them:" >&2
    echo "$still" >&2
    return 1
  fi
}

install_debs() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  local before
  before=$(installed_packages)
  # Debian starts a daemon on every address when installing it: forbid that while apt-get runs.
  if [ ! -e "$POLICY" ] && [ ! -L "$POLICY" ]; then
    trap remove_policy EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$(dirname "$POLICY")"
    printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" > "$POLICY"
    chmod 755 "$POLICY"
    policy_created=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
  local new
  mapfile -t new < <(comm -13 <(echo "$before") <(installed_packages))
  quiesce "${new[@]}"
  remove_policy
}

if [ ${#DEBS[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    install_debs "${DEBS[@]}"
  else
    echo "setup: not root (or no apt-get): skipping Debian packages; $mode needs: ${DEBS[*]}" >&2
  fi
fi

# ------------------------------------------------------------------ the Python environment

[ "$venv" = 1 ] || exit 0
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
case $mode in
  scanner) .venv/bin/python -m pip install -q -e . ;;
  lab) .venv/bin/python -m pip install -q -e '.[lab]' ;;
  test)
    .venv/bin/python -m pip install -q -e '.[dev]'
    # The test plug-in probe lives only in the tests' temporary directories: take it out of a
    # .venv an older version of this script installed it into.
    if .venv/bin/python -m pip show -q nasscan-plugin-test >/dev/null 2>&1; then
      .venv/bin/python -m pip uninstall -q -y nasscan-plugin-test
    fi
    # The runtime dependencies as wheels: tests/packaging/test_install.py installs the built wheel into
    # a fresh venv from there (pytest runs in the lab's namespace, which has no network).
    mkdir -p .cache/wheelhouse
    .venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > .cache/runtime-requirements.txt
    .venv/bin/python -m pip wheel -q -w .cache/wheelhouse -r .cache/runtime-requirements.txt
    ;;
esac
