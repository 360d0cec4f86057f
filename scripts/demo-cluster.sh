#!/usr/bin/env bash
# A one-node cluster on this host: `gantry server` (the control plane plus this host's node
# agent, as k3s's server is), a busybox image imported into the node's engine, a Deployment of
# two web servers behind a Service, answered from the host; then everything it made is removed.
# kubectl talks to it with the admin kubeconfig the server writes.
# Usage: scripts/demo-cluster.sh [--keep]   (--keep leaves the cluster running and prints how
# to reach and stop it)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
[ "${1:-}" = --keep ] && keep=true
command -v kubectl >/dev/null || { echo "demo-cluster: kubectl is not installed" >&2; exit 1; }
# A stale bundle could lack the Service proxy, and the ClusterIP request below would then leave
# the machine by the default route: build when any source is newer than the bundle.
if [ ! -f dist/gantry.mjs ] || [ -n "$(find src native/build -newer dist/gantry.mjs -print -quit)" ]; then npm run -s build; fi

work="$(mktemp -d /tmp/gantry-demo-cluster-XXXXXX)"
data="$work/server"
port=$((20000 + RANDOM % 20000))
export KUBECONFIG="$data/admin.kubeconfig"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    # Pods outlive their agent by design (a restarted agent adopts them), so the workloads are
    # deleted, and their pods gone, before the server stops.
    kubectl delete service web --ignore-not-found >/dev/null 2>&1 || true
    kubectl delete deployment web --ignore-not-found >/dev/null 2>&1 || true
    kubectl wait --for=delete pod -l app=web --timeout=60s >/dev/null 2>&1 || true
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  ip link del demopods0 2>/dev/null || true
  # The node engine keeps its pod network's masquerade table across restarts (containers outlive
  # it); the demo is over, so it goes too: ruleNamesOf(<engine root>/network).
  nft delete table inet "gantry-$(printf %s "$data/agent/network" | sha256sum | cut -c1-10)" 2>/dev/null || true
  rm -rf "$work"
}
$keep || trap cleanup EXIT

echo "== gantry server (control plane + this host's node) on 127.0.0.1:$port, state in $work"
bin/gantry server --data-dir "$data" --listen "127.0.0.1:$port" --name gantry-demo \
  --pod-bridge demopods0 --pod-subnet 10.42.77.0/24 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do grep -q "runs pods" "$work/server.log" 2>/dev/null && break; sleep 0.1; done
grep -q "runs pods" "$work/server.log" || { echo "demo-cluster: the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
engine="$(sed -n 's/.*its engine: //p' "$work/server.log")"

echo "== a busybox image, built here from Debian's busybox-static, into the node's engine ($engine)"
GANTRY_HOST="$engine" scripts/make-busybox-image.sh gantry.local/busybox:demo >/dev/null

echo "== kubectl get nodes"
kubectl get nodes -o wide

echo "== a Deployment of two web servers and a Service in front of them"
kubectl create deployment web --image gantry.local/busybox:demo --replicas 2 --port 8080 -- \
  sh -c 'mkdir -p /www && echo "hello from $(hostname)" >/www/index.html && exec httpd -f -v -p 8080 -h /www'
kubectl expose deployment web --port 80 --target-port 8080
kubectl rollout status deployment/web --timeout=120s
kubectl get deployment,pods,service,endpoints -o wide

echo "== each pod answers on its own address"
for ip in $(kubectl get pods -l app=web -o jsonpath='{.items[*].status.podIP}'); do
  printf '%s: ' "$ip"
  busybox wget -qO- "http://$ip:8080/"
done
echo "== the Service's ClusterIP spreads requests over both pods (nftables, as kube-proxy does)"
cip="$(kubectl get service web -o jsonpath='{.spec.clusterIP}')"
# Only through the node's Service rules: without them the address would be routed off the host.
table="gantry-svc-$(printf %s "$data/agent" | sha256sum | cut -c1-10)"   # proxyTableName(the node's data root)
nft list table ip "$table" >/dev/null 2>&1 || { echo "demo-cluster: the node's Service proxy table $table is missing; not sending to $cip" >&2; exit 1; }
for _ in $(seq 1 16); do
  printf '%s: ' "$cip"
  busybox wget -qO- "http://$cip/"
done
echo "== kubectl exec and logs through the API server to the node"
pod="$(kubectl get pods -l app=web -o jsonpath='{.items[0].metadata.name}')"
kubectl exec "$pod" -- sh -c 'echo "$(hostname) runs as uid $(id -u); httpd is pid $(pidof httpd)"'
kubectl logs "$pod" --tail 3

if $keep; then
  echo
  echo "The cluster keeps running (server pid $server_pid). Use it with:"
  echo "  export KUBECONFIG=$KUBECONFIG"
  echo "Stop it: kubectl delete deployment,service web; kill $server_pid; ip link del demopods0; rm -rf $work"
fi
