#!/usr/bin/env bash
# Installs what bench/engine/run-bench.ts compares Gantry with: Debian's docker.io (dockerd
# 20.10, containerd, runc) and podman. Installing docker.io starts no daemon here (the bench
# runs a private one); on a host with systemd, `systemctl disable --now docker docker.socket`
# keeps the system's own dockerd from changing the firewall under other work.
set -euo pipefail
want=()
command -v dockerd >/dev/null || want+=(docker.io)
command -v podman >/dev/null || want+=(podman)
command -v runc >/dev/null || want+=(runc)
if ((${#want[@]})); then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${want[@]}"
fi
dockerd --version
podman --version
