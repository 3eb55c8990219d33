"""How every anigate process logs: the text lines of old (``ANIGATE_LOG_FORMAT=text``, the default)
or one JSON object a line (``json``), written by python-json-logger.

A JSON line carries ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``process``
(``worker``, ``recorder``, ``relay`` or ``web``), ``call_id`` (the SIP Call-ID) when the line concerns a call
(the code passes it as ``extra={"call_id": ...}``), any other ``extra`` and ``exc_info`` with the
traceback. Like ``logging.basicConfig`` it does nothing when the root logger has handlers already
(a second ``create_app``, pytest's capture).
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from config import Settings

#: the text formats each process had before JSON existed (kept: people grep them)
TEXT_FORMATS = {
    "worker": "%(asctime)s %(levelname)s %(name)s: %(message)s",
    "recorder": "%(asctime)s %(levelname)s recorder: %(message)s",
    "relay": "%(asctime)s %(levelname)s relay: %(message)s",
    "web": logging.BASIC_FORMAT,
}


def json_formatter(process: str) -> logging.Formatter:
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        static_fields={"process": process},
        json_ensure_ascii=False,
    )


def configure_logging(settings: Settings, process: str) -> None:
    """Set up the root logger of ``process`` (``worker``, ``recorder``, ``relay``, ``web``) from
    ``settings``."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(json_formatter(process))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMATS[process]))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
