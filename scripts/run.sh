#!/usr/bin/env bash
# `make run`: the web app (gunicorn, settings in gunicorn.conf.py) and the worker (SIP listener, call
# recorder) together. Ctrl-C or SIGTERM, to this script or to the whole process group, stops both
# gracefully within 10 s (the worker's recorder drains the call journal first).
set -euo pipefail
BIN="${VENV:-.venv}/bin"
HOST="${ANIGATE_HTTP_HOST:-127.0.0.1}"
PORT="${ANIGATE_HTTP_PORT:-8000}"

"$BIN/python" worker.py &
worker=$!
"$BIN/gunicorn" -c gunicorn.conf.py wsgi:app &
web=$!

stop() {
  # one stop only: a signal to the group reaches this script, and make relays SIGTERM once more
  trap '' INT TERM
  kill -TERM "$web" "$worker" 2>/dev/null || true
  wait "$web" 2>/dev/null || true
  wait "$worker" 2>/dev/null || true
}
trap stop INT TERM
echo "anigate: http://$HOST:$PORT/api/v1/openapi.json  SIP udp+tcp ${ANIGATE_SIP_HOST:-127.0.0.1}:${ANIGATE_SIP_PORT:-5060}  (Ctrl-C stops)"
# when either process ends, stop the other
wait -n "$web" "$worker" || true
stop
