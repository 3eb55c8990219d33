"""Settings for every anigate process: the only module that reads ``os.environ``.

Frozen dataclass, built once by :meth:`Settings.from_env`; no I/O at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import ClassVar

from sip.grammar import redirect_target_error

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_INSTANCE_DIR = PROJECT_ROOT / "instance"


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


#: severities whose alarms have an acknowledgement deadline (X.733 names)
DEADLINE_SEVERITIES = ("critical", "major", "minor", "warning")


def _deadlines(value: str) -> dict[str, float]:
    """``critical=45,major=300`` -> seconds per severity; ``none`` -> no deadline at all."""
    out: dict[str, float] = {}
    if value.strip().lower() == "none":
        return out
    for part in value.split(","):
        name, sep, seconds = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in DEADLINE_SEVERITIES:
            raise ValueError(f"expected severity=seconds with a severity of {', '.join(DEADLINE_SEVERITIES)}")
        out[name] = float(seconds)
        if not out[name] > 0:
            raise ValueError(f"the deadline of {name} must be more than 0 seconds")
    return out


@dataclass(frozen=True)
class Settings:
    """Every tunable of anigate, with its documented default (see README, "Configuration")."""

    #: SQLAlchemy URL. SQLite file under instance/ by default; PostgreSQL via postgresql+psycopg://.
    database_url: str = ""
    #: Where the instance folder lives (SQLite file, secret key).
    instance_dir: Path = DEFAULT_INSTANCE_DIR
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    #: Flask secret key; when empty a random one is generated and kept in instance/secret_key.
    secret_key: str = ""
    #: Load the demo estate on first start when the database is empty (``make run``).
    demo: bool = True
    #: Region used to read national-format numbers when neither trunk nor site gives one.
    default_region: str = "DE"
    log_level: str = "INFO"
    #: log lines as text (``text``) or one JSON object a line (``json``, with ``call_id`` and ``process``)
    log_format: str = "text"
    #: Prometheus metrics of the worker's SIP process over HTTP (0: off); bound to metrics_host
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    #: when set, the web app's /metrics wants ``Authorization: Bearer <token>`` (else it is open)
    metrics_token: str = ""
    #: Page size limits of the REST API.
    api_page_size: int = 50
    api_max_page_size: int = 1000
    #: gunicorn threads per web process; open consoles hold one each (see gunicorn.conf.py)
    web_threads: int = 48
    #: live console streams one web process serves at once; the rest of its threads stay for pages
    console_max_streams: int = 40
    #: SIP: answer sources outside every trunk with 403 ("reject") or stay silent ("drop")
    sip_unknown_source: str = "reject"
    #: SIP flood limit per source address (Kamailio pike defaults); trusted trunks are exempt
    sip_pike_requests: int = 30
    sip_pike_window: float = 2.0
    sip_pike_block: float = 120.0
    #: SIP over TCP: a connection completing no message for this long is closed (bytes don't count);
    #: a message begun must be complete within the message timeout
    sip_tcp_idle_timeout: float = 60.0
    sip_tcp_message_timeout: float = 10.0
    sip_tcp_max_connections: int = 512
    #: open TCP connections per source address (untrusted trunk / trusted trunk); others: none
    sip_tcp_max_per_source: int = 32
    sip_tcp_max_per_trusted_source: int = 128
    #: name of the security center that takes calls nobody else takes (default: the first center)
    default_center: str = ""
    #: SIP URI of the EN 81-28 test receiver for test calls recognised by calling number or header
    #: marker (a test line's DNIS rule names its own); empty: the first test line's receiver
    test_receiver: str = ""
    #: seconds within which a device calling again goes to the center that took its last call
    repeat_caller_window: float = 600.0
    #: at most this many pending devices per site from unknown callers of opted-in trunks
    max_pending_devices: int = 500
    #: where the call journal lives (default instance/journal)
    journal_dir: Path | None = None
    #: STIR/SHAKEN certificates: a folder with index.json mapping x5u URL -> PEM file name
    stir_trust_dir: Path | None = None
    #: Web sessions: send cookies only over HTTPS (set behind TLS; loopback HTTP needs it off)
    secure_cookies: bool = False
    #: wrong passwords in a row that lock an account, and for how long (seconds)
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    #: idle web sessions end after this many seconds
    session_lifetime_seconds: int = 12 * 3600
    #: seconds within which an alarm of a severity must be acknowledged before it is escalated to the
    #: next center of the call's targets (ASME A17.1: 45 s for a lift alarm)
    ack_deadlines: Mapping[str, float] = field(default_factory=lambda: {"critical": 45.0})
    #: EN 81-28: a lift phone's test call may be this late before ``missed_test_call`` is raised
    test_call_grace_minutes: float = 15.0
    #: a device that sent OPTIONS keep-alives and is quiet this long raises ``heartbeat_lost``
    heartbeat_timeout_minutes: float = 10.0
    #: calls, events and closed alarms are kept this long
    retention_days: int = 400
    #: run the supervision jobs in this worker (each tick runs once among all workers of a database)
    jobs: bool = True
    #: deliver the outbox's events to the configured sinks (MQTT, SNMP, webhooks, VMS) from the
    #: worker's background process
    relay: bool = True
    #: a TOML file of sinks, applied (created or updated by name) when the worker starts
    sinks_file: Path | None = None
    #: how often the supervision (test calls, heartbeats) and the deadline jobs run, in seconds
    supervision_interval: float = 60.0
    deadline_interval: float = 5.0
    #: alarm grouping per site (``alarms.groups``, like Alertmanager's ``group_wait`` and
    #: ``group_interval``): a new group gathers this many seconds, a busy site's next notification
    #: comes at most every ``alarm_group_interval`` seconds
    alarm_group_wait: float = 10.0
    alarm_group_interval: float = 60.0
    #: ``/readyz`` says unready while a worker's journal holds more than this many MB not yet in the
    #: database (its recorder is far behind)
    ready_journal_backlog_mb: float = 50.0
    #: Extra engine options (tests use them); not read from the environment.
    engine_options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.database_url:
            url = f"sqlite:///{Path(self.instance_dir) / 'anigate.db'}"
            object.__setattr__(self, "database_url", url)
        if self.journal_dir is None:
            object.__setattr__(self, "journal_dir", Path(self.instance_dir) / "journal")
        if self.log_format not in ("text", "json"):
            raise ValueError("ANIGATE_LOG_FORMAT must be text or json")
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError("ANIGATE_METRICS_PORT must be 0 (off) or a TCP port")
        if self.sip_unknown_source not in ("reject", "drop"):
            raise ValueError("ANIGATE_SIP_UNKNOWN_SOURCE must be reject or drop")
        problem = redirect_target_error(self.test_receiver) if self.test_receiver else None
        if problem is not None:
            raise ValueError(f"ANIGATE_TEST_RECEIVER must be a SIP URI a 302 can carry: {problem}")
        for name in ("sip_tcp_idle_timeout", "sip_tcp_message_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ANIGATE_{name.upper()} must be more than 0 seconds")
        if self.console_max_streams < 1 or self.web_threads <= self.console_max_streams:
            raise ValueError(
                "ANIGATE_CONSOLE_MAX_STREAMS must be at least 1 and less than ANIGATE_WEB_THREADS "
                "(open consoles must leave threads for the pages and the API)"
            )
        for name in ("sip_tcp_max_connections", "sip_tcp_max_per_source", "sip_tcp_max_per_trusted_source"):
            if getattr(self, name) < 1:
                raise ValueError(f"ANIGATE_{name.upper()} must be at least 1")
        for name in (
            "supervision_interval",
            "deadline_interval",
            "test_call_grace_minutes",
            "alarm_group_wait",
            "alarm_group_interval",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"ANIGATE_{name.upper()} must be more than 0")
        if self.retention_days < 1:
            raise ValueError("ANIGATE_RETENTION_DAYS must be at least 1")
        if self.repeat_caller_window < 0:
            raise ValueError("ANIGATE_REPEAT_CALLER_WINDOW must be 0 (off) or more seconds")

    # name of the environment variable -> (field, parser)
    ENV: ClassVar[dict[str, tuple[str, Callable[[str], object]]]] = {
        "ANIGATE_DATABASE_URL": ("database_url", str),
        "ANIGATE_INSTANCE_DIR": ("instance_dir", Path),
        "ANIGATE_HTTP_HOST": ("http_host", str),
        "ANIGATE_HTTP_PORT": ("http_port", int),
        "ANIGATE_SIP_HOST": ("sip_host", str),
        "ANIGATE_SIP_PORT": ("sip_port", int),
        "ANIGATE_SECRET_KEY": ("secret_key", str),
        "ANIGATE_DEMO": ("demo", _bool),
        "ANIGATE_DEFAULT_REGION": ("default_region", str),
        "ANIGATE_LOG_LEVEL": ("log_level", str),
        "ANIGATE_LOG_FORMAT": ("log_format", str),
        "ANIGATE_METRICS_PORT": ("metrics_port", int),
        "ANIGATE_METRICS_HOST": ("metrics_host", str),
        "ANIGATE_METRICS_TOKEN": ("metrics_token", str),
        "ANIGATE_API_PAGE_SIZE": ("api_page_size", int),
        "ANIGATE_API_MAX_PAGE_SIZE": ("api_max_page_size", int),
        "ANIGATE_WEB_THREADS": ("web_threads", int),
        "ANIGATE_CONSOLE_MAX_STREAMS": ("console_max_streams", int),
        "ANIGATE_SIP_UNKNOWN_SOURCE": ("sip_unknown_source", str),
        "ANIGATE_SIP_PIKE_REQUESTS": ("sip_pike_requests", int),
        "ANIGATE_SIP_PIKE_WINDOW": ("sip_pike_window", float),
        "ANIGATE_SIP_PIKE_BLOCK": ("sip_pike_block", float),
        "ANIGATE_SIP_TCP_IDLE_TIMEOUT": ("sip_tcp_idle_timeout", float),
        "ANIGATE_SIP_TCP_MAX_CONNECTIONS": ("sip_tcp_max_connections", int),
        "ANIGATE_SIP_TCP_MESSAGE_TIMEOUT": ("sip_tcp_message_timeout", float),
        "ANIGATE_SIP_TCP_MAX_PER_SOURCE": ("sip_tcp_max_per_source", int),
        "ANIGATE_SIP_TCP_MAX_PER_TRUSTED_SOURCE": ("sip_tcp_max_per_trusted_source", int),
        "ANIGATE_DEFAULT_CENTER": ("default_center", str),
        "ANIGATE_JOURNAL_DIR": ("journal_dir", Path),
        "ANIGATE_TEST_RECEIVER": ("test_receiver", str),
        "ANIGATE_MAX_PENDING_DEVICES": ("max_pending_devices", int),
        "ANIGATE_SECURE_COOKIES": ("secure_cookies", _bool),
        "ANIGATE_LOGIN_MAX_FAILURES": ("login_max_failures", int),
        "ANIGATE_LOGIN_LOCKOUT_SECONDS": ("login_lockout_seconds", int),
        "ANIGATE_SESSION_LIFETIME_SECONDS": ("session_lifetime_seconds", int),
        "ANIGATE_REPEAT_CALLER_WINDOW": ("repeat_caller_window", float),
        "ANIGATE_STIR_TRUST_DIR": ("stir_trust_dir", Path),
        "ANIGATE_ACK_DEADLINES": ("ack_deadlines", _deadlines),
        "ANIGATE_TEST_CALL_GRACE_MINUTES": ("test_call_grace_minutes", float),
        "ANIGATE_HEARTBEAT_TIMEOUT_MINUTES": ("heartbeat_timeout_minutes", float),
        "ANIGATE_RETENTION_DAYS": ("retention_days", int),
        "ANIGATE_JOBS": ("jobs", _bool),
        "ANIGATE_RELAY": ("relay", _bool),
        "ANIGATE_SINKS_FILE": ("sinks_file", Path),
        "ANIGATE_SUPERVISION_INTERVAL": ("supervision_interval", float),
        "ANIGATE_DEADLINE_INTERVAL": ("deadline_interval", float),
        "ANIGATE_ALARM_GROUP_WAIT": ("alarm_group_wait", float),
        "ANIGATE_ALARM_GROUP_INTERVAL": ("alarm_group_interval", float),
        "ANIGATE_READY_JOURNAL_BACKLOG_MB": ("ready_journal_backlog_mb", float),
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``ANIGATE_*`` variables; a bad value fails fast with the variable's name."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for var, (name, parse) in cls.ENV.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                raise ValueError(f"{var}={raw!r}: {exc}") from exc
        values.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return cls(**values)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
