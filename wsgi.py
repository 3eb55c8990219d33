"""WSGI entry point for gunicorn (``gunicorn wsgi:app``): the web app only, no SIP, no scheduler."""

from app import create_app

app = create_app()
