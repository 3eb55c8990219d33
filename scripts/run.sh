#!/usr/bin/env bash
# `make run`: the web app (gunicorn) and the worker (SIP listener, recorder) together; Ctrl-C or
# SIGTERM stops both gracefully (the worker drains its call journal first).
set -euo pipefail
BIN="${VENV:-.venv}/bin"
HOST="${ANIGATE_HTTP_HOST:-127.0.0.1}"
PORT="${ANIGATE_HTTP_PORT:-8000}"

"$BIN/python" worker.py &
worker=$!
"$BIN/gunicorn" --bind "$HOST:$PORT" --workers 2 --access-logfile - --graceful-timeout 10 wsgi:app &
web=$!

stop() {
  trap - INT TERM
  kill -TERM "$web" "$worker" 2>/dev/null || true
  wait "$web" 2>/dev/null || true
  wait "$worker" 2>/dev/null || true
}
trap stop INT TERM
echo "anigate: http://$HOST:$PORT/api/v1/openapi.json  SIP udp+tcp ${ANIGATE_SIP_HOST:-127.0.0.1}:${ANIGATE_SIP_PORT:-5060}  (Ctrl-C stops)"
# when either process ends, stop the other
wait -n "$web" "$worker" || true
stop
