#!/usr/bin/env bash
# The whole stack on one host: start the engine (`gantry daemon`) on a private socket and
# state directories, import a busybox image built locally from Debian's busybox-static into
# it, run a container through it with the `gantry` CLI (the real `docker` CLI works the same
# way), then stop the engine and remove everything it made.
# Usage: scripts/demo-engine.sh [COMMAND...]
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d /tmp/gantry-demo-engine-XXXXXX)"
sock="$work/gantry.sock"
data="$work/data"
export GANTRY_HOST="unix://$sock"
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then
    bin/gantry -H "unix://$sock" rm -f demo >/dev/null 2>&1 || true
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

[ -f dist/gantry.mjs ] || npm run -s build
bin/gantry daemon -H "unix://$sock" --data-root "$data" --exec-root "$work/run" --no-networking >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "demo: the daemon did not start:" >&2; cat "$work/daemon.log" >&2; exit 1; }
scripts/make-busybox-image.sh busybox:latest >/dev/null

if [ "$#" -eq 0 ]; then
  set -- sh -c 'echo "hello from $(hostname), pid $$ in my own namespaces"; echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"; ps'
fi
bin/gantry -H "unix://$sock" images
bin/gantry -H "unix://$sock" run --rm --name demo --memory 128m --cpu-shares 512 busybox "$@"
