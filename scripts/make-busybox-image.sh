#!/usr/bin/env bash
# Makes the first image offline: a root filesystem holding Debian's static busybox (package
# busybox-static, installed by scripts/install-deps.sh) with a symlink per applet, passwd and
# group files, imported with `gantry image import` into the running daemon's store (the daemon
# at GANTRY_HOST, default unix:///run/gantry/gantry.sock: start `gantry daemon` first).
# Usage: scripts/make-busybox-image.sh [NAME[:TAG]]   (default busybox:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-busybox:latest}"
busybox="${BUSYBOX:-/bin/busybox}"
if ! "$busybox" --list >/dev/null 2>&1; then
  echo "make-busybox-image: $busybox is missing; apt-get install busybox-static" >&2
  exit 1
fi
[ -f dist/gantry.mjs ] || npm run -s build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var/tmp,home}
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 700 "$root/root"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo "gantry" > "$root/etc/hostname"
tar --numeric-owner --owner=0 --group=0 -C "$root" -czf "$work/rootfs.tar.gz" .
bin/gantry image import \
  -c 'CMD ["/bin/sh"]' \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -m "busybox $("$busybox" 2>&1 | head -1 | awk '{print $2}') from $busybox" \
  "$work/rootfs.tar.gz" "$name"
