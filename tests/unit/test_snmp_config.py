"""The SNMP sink's configuration as an admin writes it: defaults, normalised values, and a message
per wrong field. No sockets: nothing here opens the sink."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.ports import SinkConfigError
from integrations.snmp import SnmpSink
from tests.unit import snmp_events as ev

V3_SECRETS = {"auth_key": "auth-key-0123", "priv_key": "priv-key-4567"}


def errors(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    with pytest.raises(SinkConfigError) as caught:
        SnmpSink.validate(settings, secrets)
    return caught.value.errors


def test_a_v2c_manager_needs_only_a_host_and_a_community() -> None:
    settings = SnmpSink.validate({"host": "nms.example"}, {"community": "c0mmunity"})
    assert settings == {
        "host": "nms.example",
        "port": 162,
        "version": "2c",
        "notify": "inform",
        "enterprise_oid": "1.3.6.1.4.1.32473",
        "calls": False,
        "timeout": 2.0,
        "retries": 1,
    }


def test_values_from_a_form_are_normalised() -> None:
    settings = SnmpSink.validate(
        {
            "host": " 127.0.0.1 ",
            "port": "10162",
            "version": "v3",
            "notify": "TRAP",
            "enterprise_oid": ".1.3.6.1.4.1.99999.7",
            "calls": "yes",
            "timeout": "0.5",
            "retries": "3",
            "user": "anigate",
            "engine_id": "0x80007ED904616E6967617465",
        },
        V3_SECRETS,
    )
    assert settings["port"] == 10162
    assert settings["version"] == "3"
    assert settings["notify"] == "trap"
    assert settings["enterprise_oid"] == "1.3.6.1.4.1.99999.7"
    assert settings["calls"] is True
    assert (settings["timeout"], settings["retries"]) == (0.5, 3)
    assert settings["engine_id"] == "80007ed904616e6967617465"
    # SNMPv3 defaults: SHA-256 and AES-128 with privacy
    assert (settings["auth_protocol"], settings["priv_protocol"], settings["security_level"]) == (
        "SHA-256",
        "AES-128",
        "authPriv",
    )


def test_each_wrong_field_gets_its_own_message() -> None:
    found = errors(
        {
            "port": 70000,
            "version": "1",
            "notify": "email",
            "enterprise_oid": "1.3.6.1.2.1",
            "calls": "maybe",
            "timeout": "soon",
            "retries": -1,
            "colour": "red",
        },
        {},
    )
    assert set(found) == {
        "host",
        "port",
        "version",
        "notify",
        "enterprise_oid",
        "calls",
        "timeout",
        "retries",
        "colour",
    }
    assert "required" in found["host"]
    assert "1.3.6.1.4.1" in found["enterprise_oid"]
    assert found["colour"] == "not a setting of an SNMP sink"


def test_v2c_without_a_community_is_refused() -> None:
    assert "community" in errors({"host": "nms"}, {})


def test_v3_needs_a_user_and_passphrases_of_eight_characters() -> None:
    found = errors({"host": "nms", "version": "3"}, {"auth_key": "short", "priv_key": ""})
    assert set(found) == {"user", "auth_key", "priv_key"}


def test_v3_without_privacy_needs_no_privacy_passphrase() -> None:
    settings = SnmpSink.validate(
        {
            "host": "nms",
            "version": "3",
            "user": "u",
            "security_level": "authNoPriv",
            "auth_protocol": "SHA-512",
        },
        {"auth_key": "auth-key-0123"},
    )
    assert settings["security_level"] == "authNoPriv"


def test_unknown_protocols_are_refused_with_the_choices() -> None:
    found = errors(
        {"host": "nms", "version": "3", "user": "u", "auth_protocol": "MD5", "priv_protocol": "DES"},
        V3_SECRETS,
    )
    assert "SHA-256" in found["auth_protocol"]
    assert "AES-128" in found["priv_protocol"]


def test_a_v3_trap_needs_the_engine_id_the_manager_knows_the_sender_by() -> None:
    found = errors({"host": "nms", "version": "3", "user": "u", "notify": "trap"}, V3_SECRETS)
    assert "engine id" in found["engine_id"]
    # a v3 inform discovers the manager's engine id: none needed
    SnmpSink.validate({"host": "nms", "version": "3", "user": "u", "notify": "inform"}, V3_SECRETS)


@pytest.mark.parametrize("engine_id", ["80007ed9", "xyz0000000", "80007ed904a", "00" * 33])
def test_an_engine_id_is_5_to_32_octets_of_hex(engine_id: str) -> None:
    assert "engine_id" in errors(
        {"host": "nms", "version": "3", "user": "u", "engine_id": engine_id}, V3_SECRETS
    )


def test_a_host_with_spaces_or_markup_is_refused() -> None:
    assert "host" in errors({"host": "nms example"}, {"community": "c"})
    assert "host" in errors({"host": ev.XSS}, {"community": "c"})


def test_the_sink_says_which_events_it_sends_calls_only_when_asked() -> None:
    alarms_only = SnmpSink.build("nms", {"host": "127.0.0.1"}, {"community": "c"})
    with_calls = SnmpSink.build("nms", {"host": "127.0.0.1", "calls": True}, {"community": "c"})
    alarm_types = {"alarm.raised", "alarm.acknowledged", "alarm.cleared", "alarm.reset", "alarm.escalated"}
    assert alarms_only.event_types == alarm_types
    assert with_calls.event_types == alarm_types | {"call.routed"}
    assert SnmpSink.event_types == alarm_types | {"call.routed"}
    assert SnmpSink.kind == "snmp"


def test_every_field_has_help_text_and_the_secrets_are_apart() -> None:
    assert set(SnmpSink.secret_fields) == {"community", "auth_key", "priv_key"}
    assert not set(SnmpSink.secret_fields) & set(SnmpSink.setting_fields)
    assert all(SnmpSink.setting_fields.values()) and all(SnmpSink.secret_fields.values())


def test_a_sink_that_is_not_open_fails_each_item_without_raising() -> None:
    sink = SnmpSink.build("nms", {"host": "127.0.0.1"}, {"community": "c"})
    results = sink.send(ev.outgoing(ev.raised(), ev.acknowledged()), timeout=1)
    assert [(r.delivery_id, r.ok) for r in results] == [(1, False), (2, False)]
    assert "not open" in results[0].error
