#!/usr/bin/env bash
# The README's second command (and CI's): install everything, lint, type-check, run all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
npm run -s typecheck
npm run -s lint
npm test
