"""The JSON log line: its fields, the call id when given, and the text formats left as they were."""

from __future__ import annotations

import json
import logging
import sys

from ops.logs import TEXT_FORMATS, json_formatter


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("routing.api", logging.WARNING, __file__, 1, "call %s: %s", ("x", "ü"), None)
    rec.created = 1_800_000_000.25
    rec.__dict__.update(extra)
    return rec


def test_a_json_line_has_time_level_logger_message_process_and_the_call_id() -> None:
    line = json_formatter("web").format(record(call_id="abc@pbx"))
    assert json.loads(line) == {
        "level": "WARNING",
        "logger": "routing.api",
        "message": "call x: ü",
        "process": "web",
        "call_id": "abc@pbx",
        "time": "2027-01-15T08:00:00.250000+00:00",
    }
    assert "\n" not in line and "ü" in line


def test_a_line_about_no_call_has_no_call_id_and_keeps_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record()
        rec.exc_info = sys.exc_info()
    data = json.loads(json_formatter("worker").format(rec))
    assert "call_id" not in data
    assert data["process"] == "worker"
    assert data["exc_info"].startswith("Traceback") and "ValueError: boom" in data["exc_info"]


def test_the_text_formats_are_the_old_ones() -> None:
    assert (
        logging.Formatter(TEXT_FORMATS["recorder"]).format(record()).endswith(" WARNING recorder: call x: ü")
    )
    assert TEXT_FORMATS["worker"] == "%(asctime)s %(levelname)s %(name)s: %(message)s"
