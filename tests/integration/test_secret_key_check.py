"""``bootstrap.check_secret_key`` on a real database: the first process records the fingerprint,
the same key passes, another key is refused naming ANIGATE_SECRET_KEY; a worker with another key
starts without its relay (the events wait in the outbox) and says so at CRITICAL; an unreachable
database is not a reason to refuse a worker its start (it must answer calls)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from sqlalchemy import select

from bootstrap import SecretKeyMismatch, check_secret_key, key_fingerprint
from registry.db import make_engine, make_session_factory
from registry.models import SecretKeyFingerprint


def test_the_first_key_is_recorded_the_same_passes_another_is_refused(services, session) -> None:
    settings = services.settings
    assert check_secret_key(services.session_factory, settings, "web a:1") is True
    row = session.scalars(select(SecretKeyFingerprint)).one()
    assert (row.fingerprint, row.set_by) == (key_fingerprint(settings.secret_key), "web a:1")
    assert check_secret_key(services.session_factory, settings, "web b:2") is True
    with pytest.raises(SecretKeyMismatch, match="ANIGATE_SECRET_KEY is set to another key"):
        check_secret_key(services.session_factory, replace(settings, secret_key="other"), "web c:3")
    session.expire_all()
    assert session.scalars(select(SecretKeyFingerprint.set_by)).all() == ["web a:1"]


def test_a_worker_with_another_key_runs_without_its_relay_and_says_why(services, caplog) -> None:
    from worker import start_relay

    check_secret_key(services.session_factory, services.settings, "web a:1")
    other = replace(services.settings, secret_key="other")
    with caplog.at_level(logging.CRITICAL, logger="worker"):
        assert start_relay(other, services.session_factory) is None
    assert any("events are not delivered from this host" in r.getMessage() for r in caplog.records)
    relay = start_relay(services.settings, services.session_factory)
    assert relay is not None
    relay.stop()


def test_an_unreachable_database_is_not_checked_and_not_refused(services, tmp_path) -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    try:
        assert check_secret_key(make_session_factory(engine), services.settings, "worker x") is False
    finally:
        engine.dispose()
