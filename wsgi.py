"""WSGI entry point for gunicorn (``gunicorn wsgi:app``): the web app only, no SIP, no scheduler.

Each gunicorn worker imports this module after the fork and starts its CSV job thread at once, so
jobs queued or left running by a worker that stopped are taken up without waiting for a request.
A process whose secret key is not the one the database is served with does not boot
(``bootstrap.check_secret_key``: the reason is in the log).
"""

from app import check_serving_key, create_app

app = create_app()
check_serving_key(app)
app.extensions["anigate"].csv_jobs.start()
