"""Sink secrets at rest: encrypted with Fernet (``cryptography``) under a key derived (HKDF-SHA256)
from the instance's secret key, so a database dump alone does not hand out MQTT passwords, SNMP keys
or webhook signing secrets. The web app and the worker of one instance share that secret key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"anigate sink secrets").derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def seal(self, secrets: Mapping[str, str]) -> str:
        if not secrets:
            return ""
        return self._fernet.encrypt(json.dumps(dict(secrets), sort_keys=True).encode()).decode()

    def open(self, sealed: str) -> dict[str, str]:
        """The secrets; ValueError when they were sealed under another secret key."""
        if not sealed:
            return {}
        try:
            return dict(json.loads(self._fernet.decrypt(sealed.encode())))
        except InvalidToken as exc:
            raise ValueError(
                "the sink's secrets were stored under another secret key (ANIGATE_SECRET_KEY): "
                "enter them again"
            ) from exc
