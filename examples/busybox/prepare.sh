#!/bin/sh
# Copies Debian's static busybox (apt-get install busybox-static) into this build context.
set -eu
cd "$(dirname "$0")"
busybox="${BUSYBOX:-/bin/busybox}"
"$busybox" --list >/dev/null 2>&1 || { echo "prepare.sh: $busybox is missing; apt-get install busybox-static" >&2; exit 1; }
cp "$busybox" busybox
