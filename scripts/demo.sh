#!/usr/bin/env bash
# The README's first command: install everything, then run a container.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec scripts/run-busybox.sh "$@"
