#!/usr/bin/env bash
# The README's first command: install everything, then run a container from a locally built
# busybox image through the engine (scripts/demo-engine.sh), then a one-node cluster serving a
# Deployment behind a Service (scripts/demo-cluster.sh). scripts/run-busybox.sh shows the OCI
# runtime alone.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/demo-engine.sh "$@"
scripts/demo-cluster.sh
