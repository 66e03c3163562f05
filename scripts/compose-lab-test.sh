#!/usr/bin/env bash
# The docker-compose lab, for real: build it, start it, scan it, check it, tear it down.
# Debian 12, root. What it does, in order (README, "The lab as containers"):
#  1. installs the Docker engine, docker-compose and mmdebstrap if missing (scripts/setup.sh
#     --scanner --docker: no daemon is started or enabled on the host) and the scanner's .venv;
#  2. creates a network namespace of its own (nasscan-compose-PID, loopback only) and starts
#     containerd and dockerd inside it (nsenter --net), with their own sockets, data and exec
#     roots under $WORK, their own config (not /etc/docker) and bridge addresses that exist only
#     in that namespace: the bridge, the veths and the iptables rules Docker makes stay there;
#  3. makes the base image without a registry: mmdebstrap bookworm with every package the lab's
#     Dockerfiles install (on the host, which reaches the Debian mirror; cached in $CACHE), then
#     `docker import`, plus a wheelhouse (pip wheel on the host) that pip inside the builds reads
#     (PIP_NO_INDEX, PIP_FIND_LINKS): containers in the namespace reach no network;
#  4. builds every image of docker/docker-compose.yml with `--build-arg BASE=` that base (the
#     Dockerfiles are the ones a Docker Hub user builds; they skip apt-get when the packages are
#     already there), runs `docker-compose up -d` and waits until every server is healthy;
#  5. scans the published ports on 127.0.0.1 from inside the namespace with the host's nasscan,
#     and the lab from a container (the compose `scan` service), and checks both reports against
#     the lab manifest (scanner/lab/compose.py maps published ports and container addresses back
#     to the manifest's targets);
#  6. `docker-compose down -v`, stops dockerd and containerd by PID, removes the namespace, the
#     mounts, cgroups and files it made, and fails if anything is left: a namespace, a process,
#     a mount under $WORK, or any change of the host namespace's links, addresses, routes,
#     iptables/nftables rules, forwarding sysctls, cgroups or Docker's default paths.
# Every wait is bounded; cleanup runs on every exit path. Prints its time.
# Environment: NASSCAN_COMPOSE_CACHE (default /var/cache/nasscan-compose; `none`: no cache),
# NASSCAN_DEBIAN_MIRROR (default: the first URI of the host's apt sources).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
START=$(date +%s)
[ "$(id -u)" = 0 ] || { echo "compose-lab-test: needs root (a network namespace, dockerd)" >&2; exit 2; }

ID=$$
NS=nasscan-compose-$ID
WORK=/var/tmp/nasscan-compose.$ID
CACHE=${NASSCAN_COMPOSE_CACHE:-/var/cache/nasscan-compose}
PROJECT=nasscan-compose-$ID
CGROUP_PARENT=nasscan-compose-$ID
BASE_IMAGE=nasscan-compose-base
SUITE=bookworm
# every package the lab's Dockerfiles (docker/*/Dockerfile*) and docker/Dockerfile install
BASE_DEBS=(samba smbclient vsftpd openssl nginx libnginx-mod-http-dav-ext apache2 lighttpd python3
           webfs mini-httpd tgt nfs-ganesha nfs-ganesha-vfs rpcbind rsync tftpd-hpa minidlna
           python3-pip python3-venv)
DOCKER=/usr/bin/docker   # the docker.io client that matches its dockerd
COMPOSE=(docker-compose -p "$PROJECT" -f "$REPO/docker/docker-compose.yml")
export DOCKER_HOST=unix://$WORK/docker.sock DOCKER_CONFIG=$WORK/cli
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0 COMPOSE_INTERACTIVE_NO_CLI=1

step() { printf '[compose-lab %4ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }
fail() { echo "compose-lab-test: $*" >&2; exit 1; }

# ------------------------------------------------------------------ what must not change

# The host namespace's state that Docker could touch; compared before and after.
snapshot() {
  {
    echo "## links"; ip -o link show | sed -E 's/^[0-9]+: //; s/ link\/.*//; s/ qlen [0-9]+//'
    echo "## addresses"; ip -o addr show | sed -E 's/^[0-9]+: //; s/ valid_lft.*//'
    echo "## routes"; ip route show table all
    echo "## rules"; ip rule show
    echo "## netns"; ip netns list | grep '^nasscan-compose'  # (other labs come and go)
    echo "## iptables"; for t in iptables-save ip6tables-save iptables-legacy-save; do
      command -v $t >/dev/null && $t 2>/dev/null | grep -v '^#' ; done
    echo "## nft"; nft list ruleset 2>/dev/null
    echo "## sysctl"; sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding \
      net.bridge.bridge-nf-call-iptables 2>/dev/null
    echo "## cgroups"; find /sys/fs/cgroup -maxdepth 2 -type d 2>/dev/null | sort
    echo "## docker paths"; ls -d /var/lib/docker /var/lib/containerd /run/docker /run/containerd \
      /run/docker.sock /etc/docker/key.json /opt/containerd /var/run/docker 2>/dev/null
  } 2>/dev/null | grep -v '^$' | without_other_live_runs || true
}

# drop what another run of this script that is still going owns (its namespace, cgroups)
without_other_live_runs() {
  local pid others=()
  for pid in $(ip netns list | sed -nE 's/^nasscan-compose-([0-9]+).*/\1/p'); do
    [ "$pid" != "$ID" ] && kill -0 "$pid" 2>/dev/null && others+=("$pid")
  done
  if [ ${#others[@]} -eq 0 ]; then cat; return; fi
  grep -vE "nasscan-compose-($(IFS='|'; echo "${others[*]}"))\b"
}

# ------------------------------------------------------------------ cleanup, on every exit

CONTAINERD_PID= DOCKERD_PID= MNT_NS=
stop_pid() {  # stop_pid PID NAME: TERM, wait up to 30 s, then KILL
  local pid=$1 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  echo "compose-lab-test: $2 ($pid) ignored TERM for 30 s: KILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
}

# mount points at or under a directory
mounts_under() { findmnt -rn -o TARGET | awk -v d="$1" '$0 == d || index($0, d "/") == 1' | sort -r; }

# processes whose network namespace is $NS (the shims and containers dockerd left, if any)
pids_in_ns() {
  local ino pid
  ino=$(stat -L -c %i "/run/netns/$NS" 2>/dev/null) || return 0
  for pid in /proc/[0-9]*; do
    [ "$(stat -L -c %i "$pid/ns/net" 2>/dev/null)" = "$ino" ] && echo "${pid#/proc/}"
  done
  return 0
}

teardown() {
  set +e
  if [ -S "$WORK/docker.sock" ] && [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    step "docker-compose down -v"
    timeout 120 "${COMPOSE[@]}" --profile scan down -v --remove-orphans >"$WORK/down.log" 2>&1 \
      || { echo "compose-lab-test: docker-compose down failed:" >&2; tail -5 "$WORK/down.log" >&2; }
  fi
  stop_pid "$DOCKERD_PID" dockerd
  stop_pid "$CONTAINERD_PID" containerd
  local pid
  for pid in $(pids_in_ns); do  # only processes in our own namespace: shims and what they ran
    [ "$pid" != $$ ] && stop_pid "$pid" "left in $NS: $(cat /proc/$pid/comm 2>/dev/null)"
  done
  # mounts made under $WORK (by mmdebstrap, if it was killed)
  local m
  for m in $(mounts_under "$WORK"); do umount -l "$m"; done
  ip netns del "$NS" 2>/dev/null
  local d
  for d in /sys/fs/cgroup/*/"$CGROUP_PARENT"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf --one-file-system "$WORK"
  set -e
}

verify_clean() {
  local problems=0 pid
  if ip netns list | awk '{print $1}' | grep -qxF "$NS"; then echo "left: namespace $NS" >&2; problems=1; fi
  for pid in $DOCKERD_PID $CONTAINERD_PID; do
    if kill -0 "$pid" 2>/dev/null; then echo "left: process $pid" >&2; problems=1; fi
  done
  if [ -n "$MNT_NS" ]; then
    for pid in /proc/[0-9]*; do
      if [ "$(readlink "$pid/ns/mnt" 2>/dev/null)" = "$MNT_NS" ]; then
        echo "left: process ${pid#/proc/} in the engine's mount namespace" >&2; problems=1
      fi
    done
  fi
  if [ -n "$(mounts_under "$WORK")" ]; then
    echo "left: mounts under $WORK:" $(mounts_under "$WORK") >&2; problems=1
  fi
  if [ -e "$WORK" ]; then echo "left: $WORK" >&2; problems=1; fi
  if ls -d /sys/fs/cgroup/*/"$CGROUP_PARENT" >/dev/null 2>&1; then
    echo "left: cgroups $CGROUP_PARENT" >&2; problems=1
  fi
  if [ -s "$BEFORE" ]; then
    snapshot >"$AFTER"
    if ! diff -u "$BEFORE" "$AFTER" >&2; then
      echo "left: the host namespace changed (diff above)" >&2; problems=1
    fi
  fi
  return $problems
}

BEFORE=$(mktemp) AFTER=$(mktemp)
on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  teardown
  if verify_clean; then
    step "nothing left: no namespace, process, mount, cgroup or host network change"
  else
    echo "compose-lab-test: FAILED: something was left behind (see above)" >&2
    rc=1
  fi
  rm -f "$BEFORE" "$AFTER"
  step "$([ $rc = 0 ] && echo passed || echo "FAILED ($rc)") in $(( $(date +%s) - START )) s"
  exit $rc
}

# ------------------------------------------------------------------ 1. install

VENV=$REPO/.venv
if [ -x "$VENV/bin/nasscan" ]; then
  step "install: Docker engine, docker-compose, mmdebstrap (if missing)"
  ./scripts/setup.sh --scanner --docker --no-venv
else
  step "install: Docker engine, docker-compose, mmdebstrap (if missing), .venv"
  ./scripts/setup.sh --scanner --docker
fi
for prog in dockerd containerd docker-compose mmdebstrap $DOCKER; do
  command -v "$prog" >/dev/null || fail "$prog missing after setup.sh --docker"
done

# Stale namespaces of earlier runs that were killed before their cleanup (their PID is gone).
for old in $(ip netns list | awk '{print $1}' | grep -E '^nasscan-compose-[0-9]+$' || true); do
  kill -0 "${old#nasscan-compose-}" 2>/dev/null && continue
  echo "compose-lab-test: removing the stale namespace $old of a killed run" >&2
  NS=$old WORK=/var/tmp/nasscan-compose.${old#nasscan-compose-} \
    CGROUP_PARENT=$old DOCKERD_PID= CONTAINERD_PID= teardown
done

snapshot >"$BEFORE"
trap on_exit EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK"/{cli,containerd,data,exec,wheels}
chmod 700 "$WORK"

# ------------------------------------------------------------------ 2. engine in a namespace

step "namespace $NS, containerd and dockerd inside it"
ip netns add "$NS"
ip -n "$NS" link set lo up
cat >"$WORK/containerd.toml" <<EOF
version = 2
root = "$WORK/containerd/root"
state = "$WORK/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$WORK/containerd/containerd.sock"
[ttrpc]
  address = "$WORK/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$WORK/containerd/opt"
EOF
# containerd and dockerd share a private mount namespace: their mounts (overlays, netns
# files) and the paths they insist on (/run/docker/plugins, /run/containerd/runc,
# /etc/docker/key.json) live on tmpfs there and vanish with them.
nsenter --net="/run/netns/$NS" unshare --mount --propagation private -- sh -c '
  mount -t tmpfs -o mode=755 nasscan-compose /run
  if [ -d /etc/docker ]; then mount -t tmpfs -o mode=700 nasscan-compose /etc/docker; fi
  exec containerd --config "$1"' sh "$WORK/containerd.toml" >"$WORK/containerd.log" 2>&1 &
CONTAINERD_PID=$!
sleep 0.2
MNT_NS=$(readlink "/proc/$CONTAINERD_PID/ns/mnt" || true)
for i in $(seq 60); do [ -S "$WORK/containerd/containerd.sock" ] && break; sleep 0.5; done
[ -S "$WORK/containerd/containerd.sock" ] || { tail "$WORK/containerd.log" >&2; fail "containerd did not start"; }
echo '{}' >"$WORK/daemon.json"   # not /etc/docker/daemon.json
# The bridges and their addresses exist only inside the namespace (a private range, so that the
# scan service's targets are no "public" scope for nasscan's guard).
nsenter --mount="/proc/$CONTAINERD_PID/ns/mnt" --net="/run/netns/$NS" dockerd --config-file "$WORK/daemon.json" \
  --containerd "$WORK/containerd/containerd.sock" --data-root "$WORK/data" \
  --exec-root "$WORK/exec" -H "unix://$WORK/docker.sock" -p "$WORK/docker.pid" \
  --bip 172.31.250.1/24 --default-address-pool base=172.31.240.0/21,size=24 \
  --cgroup-parent "$CGROUP_PARENT" --exec-opt native.cgroupdriver=cgroupfs \
  --storage-driver overlay2 --log-level warn >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for i in $(seq 120); do $DOCKER version >/dev/null 2>&1 && break; sleep 0.5; done
$DOCKER version >/dev/null 2>&1 || { tail "$WORK/dockerd.log" >&2; fail "dockerd did not start"; }
[ "$(stat -L -c %i "/proc/$DOCKERD_PID/ns/net")" = "$(stat -L -c %i "/run/netns/$NS")" ] \
  || fail "dockerd is not in $NS"

# ------------------------------------------------------------------ 3. the base image

mirror=${NASSCAN_DEBIAN_MIRROR:-$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -v security \
  | head -1 | awk '{print $2}' || true)}
mirror=${mirror:-http://deb.debian.org/debian}
key=$(printf '%s\n' v2 "$SUITE" "${BASE_DEBS[@]}" | sha256sum | cut -c1-16)
tarball=$CACHE/rootfs-$SUITE-$key.tar
[ "$CACHE" = none ] && tarball=$WORK/rootfs.tar
if [ ! -s "$tarball" ]; then
  # mmdebstrap, not debootstrap: one apt download and one dpkg run (debootstrap configures
  # package by package: 12.5 min against 6.5 min here under the same load). It keeps every
  # daemon from starting while the packages are configured (its own policy-rc.d and
  # start-stop-daemon) and removes its chroot and mounts.
  step "mmdebstrap $SUITE (${#BASE_DEBS[@]} packages and their dependencies) from $mirror"
  include=$(IFS=,; echo "${BASE_DEBS[*]}")
  mkdir -p "$(dirname "$tarball")"
  TMPDIR=$WORK mmdebstrap --mode=root --variant=minbase --format=tar \
    --dpkgopt=force-unsafe-io --include="$include" "$SUITE" "$tarball.tmp" "$mirror" \
    >"$WORK/mmdebstrap.log" 2>&1 || { tail "$WORK/mmdebstrap.log" >&2; fail "mmdebstrap failed"; }
  for pid in /proc/[0-9]*; do
    case $(readlink "$pid/root" 2>/dev/null) in
      "$WORK"/*) fail "a process runs in the bootstrap chroot: ${pid#/proc/}" ;;
    esac
  done
  mv "$tarball.tmp" "$tarball"
else
  step "base rootfs from the cache: $tarball"
fi
$DOCKER import "$tarball" nasscan-compose-os >/dev/null
# resolved by Debian's python3, the images' Python (environment markers differ between 3.11.x)
step "wheelhouse for pip inside the builds (nasscan's dependencies, moto)"
/usr/bin/python3 -m venv "$WORK/pip"
"$WORK/pip/bin/python" -m pip wheel -q -w "$WORK/wheels" "$REPO[fleet,lab]" 'setuptools>=77'
rm -f "$WORK"/wheels/nasscan-*.whl   # the image builds nasscan from its own copy of the source
printf '%s\n' 'FROM nasscan-compose-os' 'COPY . /opt/nasscan-wheels/' \
  'ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/nasscan-wheels' \
  | $DOCKER build -q -t "$BASE_IMAGE" -f - "$WORK/wheels" >/dev/null

# ------------------------------------------------------------------ 4. build, up, healthy

step "docker-compose build (every lab image and nasscan's, BASE=$BASE_IMAGE)"
"${COMPOSE[@]}" --profile scan build --build-arg "BASE=$BASE_IMAGE" >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log" >&2; fail "docker-compose build failed"; }
step "docker-compose up -d"
"${COMPOSE[@]}" up -d >"$WORK/up.log" 2>&1 || { tail -30 "$WORK/up.log" >&2; fail "up failed"; }

state() {  # one line per container: service status health
  # shellcheck disable=SC2046
  $DOCKER inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}' \
    $("${COMPOSE[@]}" ps -q)
}
servers=$("${COMPOSE[@]}" config --services | grep -vxE 'content|scan' | sort)
ok=0
for i in $(seq 180); do   # 360 s at most
  st=$(state)
  bad=$(awk '($1 == "content" && !($2 == "exited" && $3 == 0)) || ($1 != "content" && $4 != "healthy")' <<<"$st")
  if [ -z "$bad" ] && [ "$(awk '$1 != "content" {print $1}' <<<"$st" | sort)" = "$servers" ]; then
    ok=1; break
  fi
  if grep -qE ' (unhealthy|exited [1-9])' <<<"$st" || grep -qE '^content exited [1-9]' <<<"$st"; then break; fi
  sleep 2
done
if [ $ok != 1 ]; then
  echo "$st" >&2
  for s in $(awk '$4 != "healthy" {print $1}' <<<"$st"); do
    echo "--- $s" >&2; "${COMPOSE[@]}" logs --tail 20 "$s" >&2 || true
  done
  fail "the lab did not become healthy"
fi
step "healthy: $(wc -l <<<"$servers") servers"

# ------------------------------------------------------------------ 5. scan and check

# shellcheck disable=SC2046
$DOCKER inspect $("${COMPOSE[@]}" ps -q) >"$WORK/inspect.json"
ports=$("$VENV/bin/python" -m scanner.lab.compose ports "$WORK/inspect.json")
step "scan from the namespace: nasscan scan 127.0.0.1 -p $ports"
nsenter --net="/run/netns/$NS" "$VENV/bin/nasscan" scan 127.0.0.1 -p "$ports" --format json \
  -o "$WORK/published.json" --fail-on none --no-history --quiet
step "scan from a container: docker-compose --profile scan run -T scan"
# the report is the container's stdout as the engine logged it (docker-compose run's own
# stdout came back empty)
"${COMPOSE[@]}" --profile scan run -T --name "$PROJECT-scan" scan >"$WORK/scan.out" 2>"$WORK/scan.err" \
  || { tail "$WORK/scan.err" >&2; fail "the scan service failed"; }
$DOCKER logs "$PROJECT-scan" >"$WORK/network.json" 2>>"$WORK/scan.err"
$DOCKER rm "$PROJECT-scan" >/dev/null
result=0
"$VENV/bin/python" -m scanner.lab.compose check published "$WORK/inspect.json" "$WORK/published.json" || result=1
"$VENV/bin/python" -m scanner.lab.compose check network "$WORK/inspect.json" "$WORK/network.json" || result=1
[ $result = 0 ] || fail "a scan of the compose lab does not match the manifest"
