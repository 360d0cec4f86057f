#!/usr/bin/env bash
# Runs a container from Debian's static busybox with Gantry's OCI runtime: builds an OCI
# bundle (rootfs + config.json from `gantry-runtime spec`), gives it a hostname and
# limits, and runs the given command (default: a short tour of what the container sees).
# Usage: scripts/run-busybox.sh [COMMAND...]
set -euo pipefail
cd "$(dirname "$0")/.."
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "run-busybox: $busybox missing; run scripts/install-deps.sh" >&2; exit 1; }

bundle="$(mktemp -d /tmp/gantry-demo-XXXXXX)"
id="demo-$$"
cleanup() { bin/gantry-runtime delete --force "$id" 2>/dev/null || true; rm -rf "$bundle"; }
trap cleanup EXIT
mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp "$busybox" "$bundle/rootfs/bin/busybox"
for applet in $("$busybox" --list); do [ -e "$bundle/rootfs/bin/$applet" ] || ln -s busybox "$bundle/rootfs/bin/$applet"; done
echo "root:x:0:0:root:/:/bin/sh" > "$bundle/rootfs/etc/passwd"

(cd "$bundle" && "$OLDPWD/bin/gantry-runtime" spec)
if [ "$#" -eq 0 ]; then
  set -- sh -c 'echo "hello from $(hostname): I am pid $$"; echo "my network devices: $(ls /sys/class/net)"; echo "my processes:"; ps; echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"'
fi
node -e '
  const fs = require("fs"); const f = process.argv[1]; const c = JSON.parse(fs.readFileSync(f));
  c.process.terminal = false; c.process.args = process.argv.slice(2); c.hostname = "gantry-demo";
  c.linux.resources = { ...c.linux.resources, memory: { limit: 256 * 1024 * 1024 }, pids: { limit: 100 }, cpu: { shares: 512 } };
  fs.writeFileSync(f, JSON.stringify(c, null, 2));
' "$bundle/config.json" "$@"
bin/gantry-runtime run --bundle "$bundle" "$id"
