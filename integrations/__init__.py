"""Adapters that carry anigate's events out: MQTT, SNMP, webhooks (through the outbox)."""
