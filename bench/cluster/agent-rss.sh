#!/bin/bash
# A node agent's idle RSS for two builds side by side (e.g. before and after a change):
# one `gantry server --no-agent` from NEW, then each build's `gantry agent` joined in turn,
# VmRSS read after 25 s idle, ROUNDS times; for NEW also after 20 scrapes of the kubelet
# server's /metrics and one /stats/summary. Root (the agent makes a bridge).
#   bench/cluster/agent-rss.sh OLD_REPO NEW_REPO [ROUNDS]
# Each repo must be built (make -C native && npm run build). An older build is had with
# `git worktree add /tmp/old <commit>` + a node_modules symlink + the same build.
set -u
OLD=$(readlink -f "$1"); NEW=$(readlink -f "$2"); ROUNDS=${3:-2}
R=$(mktemp -d /tmp/gantry-agent-rss-XXXXXX)
SPID=""
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  for o in 11 12; do ip link del "gtrss$o" 2>/dev/null; done
  rm -rf "$R"
}
trap cleanup EXIT
"$NEW/bin/gantry" server --data-dir "$R/server" --listen 127.0.0.1:0 --no-agent --no-leader-elect >"$R/server.log" 2>&1 &
SPID=$!
for _ in $(seq 1 60); do [ -f "$R/server/admin.kubeconfig" ] && break; sleep 0.5; done
URL=$(grep -m1 "server:" "$R/server/admin.kubeconfig" | awk '{print $2}')
CERT=(--cert "$R/server/tls/kubelet-client.crt" --key "$R/server/tls/kubelet-client.key")
measure() { # build tag octet round
  local B=$1 T=$2 O=$3 N=$4
  "$NEW/bin/gantry" server token create --node "rss-$T-$N" --data-dir "$R/server" >"$R/token" 2>>"$R/server.log"
  "$B/bin/gantry" agent --server "$URL" --token-file "$R/token" --ca-file "$R/server/tls/ca.crt" --data-root "$R/agent-$T-$N" --pod-bridge "gtrss$O" --pod-subnet "10.98.$O.0/24" >"$R/agent.log" 2>&1 &
  local APID=$!
  for _ in $(seq 1 120); do grep -q joined "$R/agent.log" && break; sleep 0.5; done
  sleep 25
  echo "$T idle VmRSS $(awk '/VmRSS/{print $2}' "/proc/$APID/status") kB"
  if [ "$T" = new ]; then
    local PORT
    PORT=$(grep -o "kubelet server listens on [0-9]*" "$R/agent.log" | awk '{print $NF}')
    for _ in $(seq 1 20); do curl -sk "${CERT[@]}" "https://127.0.0.1:${PORT:-10250}/metrics" >/dev/null; done
    curl -sk "${CERT[@]}" "https://127.0.0.1:${PORT:-10250}/stats/summary" >/dev/null
    sleep 2
    echo "$T after 20 scrapes and a summary VmRSS $(awk '/VmRSS/{print $2}' "/proc/$APID/status") kB"
  fi
  kill "$APID"; wait "$APID" 2>/dev/null
  ip link del "gtrss$O" 2>/dev/null
}
for n in $(seq 1 "$ROUNDS"); do
  measure "$OLD" old 11 "$n"
  measure "$NEW" new 12 "$n"
done
