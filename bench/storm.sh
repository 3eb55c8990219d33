#!/usr/bin/env bash
# Blackout storm benchmark (see bench/storm.py); results go to bench/RESULTS.md by hand.
#   bench/storm.sh [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--png bench/storm-sqlite.png]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh
exec .venv/bin/python bench/storm.py "$@"
