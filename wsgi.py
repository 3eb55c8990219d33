"""WSGI entry point for gunicorn (``gunicorn wsgi:app``): the web app only, no SIP, no scheduler.

Each gunicorn worker imports this module after the fork and starts its CSV job thread at once, so
jobs queued or left running by a worker that stopped are taken up without waiting for a request.
A process whose secret key is not the one the database is served with does not boot
(``bootstrap.check_secret_key``: the reason is in the log).
"""

import os
import socket

from app import create_app
from bootstrap import check_secret_key

app = create_app()
_services = app.extensions["anigate"]
# several hosts on one database must share ANIGATE_SECRET_KEY: a host with another one does not boot
check_secret_key(_services.session_factory, _services.settings, f"web {socket.gethostname()}:{os.getpid()}")
_services.csv_jobs.start()
