"""WSGI entry point for gunicorn (``gunicorn wsgi:app``): the web app only, no SIP, no scheduler.

Each gunicorn worker imports this module after the fork and starts its CSV job thread at once, so
jobs queued or left running by a worker that stopped are taken up without waiting for a request.
"""

from app import create_app

app = create_app()
app.extensions["anigate"].csv_jobs.start()
