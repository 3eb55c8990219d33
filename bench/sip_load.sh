#!/usr/bin/env bash
# SIP redirect load benchmark (see bench/sip_load.py); results go to bench/RESULTS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh
exec .venv/bin/python bench/sip_load.py "$@"
