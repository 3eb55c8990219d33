"""Settings come from ANIGATE_* variables with documented defaults; bad values fail fast."""

from __future__ import annotations

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
