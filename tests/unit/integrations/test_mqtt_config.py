"""The MQTT sink's configuration as admins write it: defaults, normalised values (form strings
too), and a message per wrong field."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrations.mqtt import MqttSink
from integrations.ports import SinkConfigError


def test_a_host_alone_gets_the_documented_defaults():
    assert MqttSink.validate({"host": "broker.local"}, {}) == {
        "host": "broker.local",
        "port": 1883,
        "protocol": "5",
        "client_id": "",
        "topic_prefix": "anigate",
        "tls": False,
        "ca_file": "",
        "keepalive": 60,
        "session_expiry_seconds": 86400,
        "call_expiry_seconds": 300,
        "ha_discovery": False,
        "ha_prefix": "homeassistant",
    }


def test_form_strings_are_normalised():
    clean = MqttSink.validate(
        {"host": " b ", "port": "8883", "protocol": "3.1.1", "ha_discovery": "on", "keepalive": "30"}, {}
    )
    assert (clean["host"], clean["port"], clean["protocol"], clean["ha_discovery"], clean["keepalive"]) == (
        "b",
        8883,
        "3.1.1",
        True,
        30,
    )


def test_the_client_id_defaults_to_the_sink_name():
    assert MqttSink.build("bms", {"host": "b"}, {}).config.client_id == "anigate-bms"
    assert MqttSink.build("bms", {"host": "b", "client_id": "x"}, {}).config.client_id == "x"


def test_each_instance_connects_with_its_own_client_id_stable_across_restarts(tmp_path):
    from config import Settings
    from integrations import sinks
    from worker import instance_name

    one = Settings(instance_dir=str(tmp_path / "a"))
    two = Settings(instance_dir=str(tmp_path / "b"))
    assert instance_name(one) == instance_name(Settings(instance_dir=str(tmp_path / "a")))  # a restart
    assert instance_name(one) != instance_name(two)  # another instance on this host
    ids = {
        sinks.build("mqtt", "bms", {"host": "b"}, {}, instance=instance_name(s)).config.client_id  # type: ignore[attr-defined]
        for s in (one, two)
    }
    assert len(ids) == 2 and all(i.startswith("anigate-bms-") for i in ids)
    explicit = sinks.build("mqtt", "bms", {"host": "b", "client_id": "x"}, {}, instance="h-1")
    assert explicit.config.client_id == "x-h-1"  # type: ignore[attr-defined]


def test_each_wrong_field_gets_its_message():
    with pytest.raises(SinkConfigError) as err:
        MqttSink.validate(
            {
                "host": "",
                "port": 70000,
                "protocol": "4",
                "topic_prefix": "a/#",
                "ha_prefix": "$SYS",
                "tls": "maybe",
                "keepalive": 1,
                "qos": 2,
                "colour": "red",
            },
            {"password": "x"},
        )
    assert err.value.errors == {
        "qos": "fixed: QoS 1 and a persistent session",
        "colour": "unknown setting",
        "port": "must be between 1 and 65535",
        "protocol": 'must be "3.1.1" or "5"',
        "tls": "must be true or false",
        "keepalive": "must be between 5 and 3600",
        "host": "required",
        "topic_prefix": "must not contain +, # or NUL",
        "ha_prefix": "levels separated by single /, not starting with / or $, not ending with /",
        "username": "required with a password",
    }


def test_a_ca_file_needs_tls_and_must_exist(tmp_path: Path):
    with pytest.raises(SinkConfigError) as err:
        MqttSink.validate({"host": "b", "ca_file": "/nope.pem"}, {})
    assert err.value.errors == {"ca_file": "only with tls"}
    with pytest.raises(SinkConfigError) as err:
        MqttSink.validate({"host": "b", "tls": True, "ca_file": str(tmp_path / "nope.pem")}, {})
    assert err.value.errors == {"ca_file": "no such file"}
    (tmp_path / "ca.pem").write_text("x")
    assert MqttSink.validate({"host": "b", "tls": True, "ca_file": str(tmp_path / "ca.pem")}, {})["tls"]


def test_the_fields_for_the_admin_forms_name_every_setting_and_secret():
    assert set(MqttSink.setting_fields) == set(MqttSink.validate({"host": "b"}, {}))
    assert set(MqttSink.secret_fields) == {"username", "password"}
    assert MqttSink.kind == "mqtt"
