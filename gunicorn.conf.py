"""gunicorn settings of the web app (``gunicorn -c gunicorn.conf.py wsgi:app``, used by scripts/run.sh).

Bind address and instance folder come from config.Settings; the control socket (gunicorn 25.1+) lives
in the instance folder, so that two checkouts or instances on one machine never share one.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # gunicorn reads this file before its chdir

from config import Settings

_settings = Settings.from_env()

bind = [f"{_settings.http_host}:{_settings.http_port}"]
# threads: a slow request or an open console's event stream holds a thread, not a whole process.
# Each process serves at most ANIGATE_CONSOLE_MAX_STREAMS (40) consoles and keeps the remaining
# threads (48 - 40) for pages and the API; a console beyond that gets 503 and retries, usually on
# the other process. gevent would hold more streams per process, but it would have to patch the
# database drivers and the CSV job thread; 80 consoles per server is more than a center has.
worker_class = "gthread"
workers = 2
threads = _settings.web_threads
timeout = 30
# well inside the 10 s within which a stop of `make run` ends every process
graceful_timeout = 5

_ctl = Path(_settings.instance_dir).resolve() / "gunicorn.ctl"
control_socket = str(_ctl)
# a Unix socket path holds at most 107 bytes; rather none than one that fails to bind
control_socket_disable = len(str(_ctl).encode()) > 100

accesslog = "-"
# the path without its query string (%(U)s, not %(r)s): a token someone put in a URL, which the API
# refuses, must not end up in the log; no referrer either, it may carry one as well
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """On SIGTERM or SIGINT, open consoles end their event streams at once (they would hold the
    process for the whole graceful timeout); then gunicorn's own handler stops the worker."""
    import signal

    def ending_streams(previous):  # type: ignore[no-untyped-def]
        def handler(signum, frame):  # type: ignore[no-untyped-def]
            console = getattr(worker.wsgi, "extensions", {}).get("console")
            if console is not None:
                console.stopping.set()
            if callable(previous):
                previous(signum, frame)

        return handler

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, ending_streams(signal.getsignal(sig)))
