#!/usr/bin/env bash
# Installs every system package Gantry and its tests need (Debian 12), then the npm
# dependencies (which compiles native/ through the package's install script), then builds
# the bundled CLIs. Idempotent: safe to run again. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential libseccomp-dev pkg-config   # native/ helper
  busybox-static                               # test and example images
  iproute2 util-linux procps                   # ip, nsenter, ps
  runc crun podman uidmap                      # reference runtimes and engine for comparisons; uidmap: rootless daemon
  slirp4netns                                  # rootless daemon: a user-space network per container, -p forwarding
  containerd                                   # interop: containerd's runc shim driving gantry-runtime (ctr)
  skopeo umoci docker-registry                 # image interoperability tests
  attr zstd openssl                            # layer xattrs/opaque dirs (setfattr), zstd layers, test token certs
  containernetworking-plugins iptables nftables
  etcd-server etcd-client
  hyperfine
  docker-compose                               # compose end-to-end tests (test/compose) against the daemon
  chromium                                     # the dashboard's browser tests (playwright-core drives it)
)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  make -s -C native
fi
npm run -s build
