"""Settings come from ANIGATE_* variables with documented defaults; bad values fail fast."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config import Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.http_host, s.http_port, s.sip_host, s.sip_port) == ("127.0.0.1", 8000, "127.0.0.1", 5060)
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("instance/anigate.db")
    assert s.demo is True


def test_environment_overrides() -> None:
    s = Settings.from_env(
        {
            "ANIGATE_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/db",
            "ANIGATE_SIP_PORT": "5070",
            "ANIGATE_DEMO": "0",
            "ANIGATE_INSTANCE_DIR": "/tmp/x",
        }
    )
    assert s.database_url == "postgresql+psycopg://u@127.0.0.1/db"
    assert s.sip_port == 5070 and s.demo is False and s.instance_dir == Path("/tmp/x")


@pytest.mark.parametrize(("var", "value"), [("ANIGATE_HTTP_PORT", "eighty"), ("ANIGATE_DEMO", "maybe")])
def test_bad_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(ValueError, match=var):
        Settings.from_env({var: value})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("sip:a@127.0.0.1\x01\x7f\x1bX\u200b?X-Evil=1", "control character U+0001"),
        ("sip:rx@127.0.0.1?Route=%3Csip:evil@198.51.100.66%3E", "URI headers"),
        ("sip:rx@127.0.0.1\u200b", "non-ASCII character U+200B"),
        ("tel:+493023905099", "not a sip: or sips: URI"),
    ],
)
def test_a_test_receiver_a_302_cannot_carry_stops_the_start(value: str, reason: str) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"ANIGATE_TEST_RECEIVER must be a SIP URI a 302 can carry: {reason}")
    ):
        Settings.from_env({"ANIGATE_TEST_RECEIVER": value})
    assert Settings.from_env({"ANIGATE_TEST_RECEIVER": "sip:rx@127.0.0.1:5090"}).test_receiver


def test_tcp_slot_settings() -> None:
    s = Settings.from_env({})
    assert (s.sip_tcp_max_per_source, s.sip_tcp_max_per_trusted_source, s.sip_tcp_message_timeout) == (
        32,
        128,
        10.0,
    )
    s = Settings.from_env({"ANIGATE_SIP_TCP_MAX_PER_SOURCE": "4", "ANIGATE_SIP_TCP_MESSAGE_TIMEOUT": "2.5"})
    assert (s.sip_tcp_max_per_source, s.sip_tcp_message_timeout) == (4, 2.5)
    with pytest.raises(ValueError, match="ANIGATE_SIP_TCP_MAX_PER_SOURCE must be at least 1"):
        Settings.from_env({"ANIGATE_SIP_TCP_MAX_PER_SOURCE": "0"})
    with pytest.raises(ValueError, match="ANIGATE_SIP_TCP_MESSAGE_TIMEOUT must be more than 0"):
        Settings.from_env({"ANIGATE_SIP_TCP_MESSAGE_TIMEOUT": "0"})
