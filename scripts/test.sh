#!/usr/bin/env bash
# The whole test suite. Called by `make test` (after install, demo build and Chromium install).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ -f scripts/start_postgres.sh ]; then
  VEREDICTO_TEST_PG_URL="$(bash scripts/start_postgres.sh | tail -n 1)"
  export VEREDICTO_TEST_PG_URL
fi
mkdir -p test-output
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
