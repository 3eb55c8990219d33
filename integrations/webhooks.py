"""Webhooks: each event as an HTTP POST of its JSON envelope to a configured URL, signed with
HMAC-SHA256 over the timestamp and the body (as Stripe and NetBox sign theirs).

Headers: ``Content-Type: application/json``, ``X-Anigate-Event`` (the type), ``X-Anigate-Event-Id``
(de-duplicate on it), ``X-Anigate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
A receiver recomputes the HMAC with the shared secret, compares in constant time, and refuses a
timestamp more than 5 minutes from its clock (the replay window; see docs/events.md). A 2xx is a
delivery; 408, 429 and 5xx are retried; any other status is a dead letter at once. The standard
library's HTTP client suffices for one POST per event; no dependency is added for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from integrations.ports import Outgoing, Result, SinkConfigError

REPLAY_WINDOW_SECONDS = 300
_RETRY = {408, 429}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Anigate-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float, window: int = REPLAY_WINDOW_SECONDS) -> bool:
    """What a receiver does with the header (our tests use it as the reference)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - ts) > window:
        return False
    return hmac.compare_digest(sign(secret, ts, body), header)


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()


class WebhookSink:
    kind: ClassVar[str] = "webhook"
    setting_fields: ClassVar[Mapping[str, str]] = {
        "url": "http:// or https:// URL the events are POSTed to",
        "timeout": "seconds to wait for an answer (default 10)",
    }
    secret_fields: ClassVar[Mapping[str, str]] = {"secret": "shared secret of the HMAC-SHA256 signature"}
    event_types: ClassVar[frozenset[str] | None] = None  # every event

    def __init__(
        self, name: str, url: str, secret: str, timeout: float = 10.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.name = name
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.clock = clock

    @classmethod
    def validate(cls, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
        errors = {}
        url = str(settings.get("url", "")).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors["url"] = "an http:// or https:// URL with a host"
        try:
            timeout = float(settings.get("timeout", 10))
            if not 0 < timeout <= 60:
                raise ValueError
        except (TypeError, ValueError):
            errors["timeout"] = "seconds, more than 0 and at most 60"
            timeout = 10.0
        if not secrets.get("secret"):
            errors["secret"] = "a shared secret signs every request"
        if errors:
            raise SinkConfigError(errors)
        return {"url": url, "timeout": timeout}

    @classmethod
    def build(
        cls, name: str, settings: Mapping[str, Any], secrets: Mapping[str, str], instance: str = ""
    ) -> WebhookSink:
        clean = cls.validate(settings, secrets)
        return cls(name, clean["url"], secrets["secret"], clean["timeout"])

    def open(self) -> None:
        return None  # one request per event; nothing to hold open

    def close(self) -> None:
        return None

    def send(self, batch: Sequence[Outgoing], timeout: float) -> list[Result]:
        deadline = time.monotonic() + timeout
        results = []
        for item in batch:
            left = deadline - time.monotonic()
            if left <= 0:
                results.append(Result.failed(item, "no time left in this round"))
                continue
            results.append(self._post(item, min(self.timeout, left)))
        return results

    def _post(self, item: Outgoing, timeout: float) -> Result:
        body = encode(item.payload)
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "anigate-webhook/1",
                "X-Anigate-Event": item.event.type,
                "X-Anigate-Event-Id": str(item.event.event_id),
                "X-Anigate-Signature": sign(self.secret, int(self.clock()), body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                resp.read(65536)
                return Result.delivered(item)
        except urllib.error.HTTPError as exc:
            permanent = exc.code < 500 and exc.code not in _RETRY
            return Result.failed(item, f"HTTP {exc.code} {exc.reason}", permanent=permanent)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            return Result.failed(item, f"no answer: {getattr(exc, 'reason', exc)}")
