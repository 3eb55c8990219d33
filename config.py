"""Settings for every anigate process: the only module that reads ``os.environ``.

Frozen dataclass, built once by :meth:`Settings.from_env`; no I/O at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_INSTANCE_DIR = PROJECT_ROOT / "instance"


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


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
    #: Page size limits of the REST API.
    api_page_size: int = 50
    api_max_page_size: int = 1000
    #: Extra engine options (tests use them); not read from the environment.
    engine_options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.database_url:
            url = f"sqlite:///{Path(self.instance_dir) / 'anigate.db'}"
            object.__setattr__(self, "database_url", url)

    # name of the environment variable -> (field, parser)
    ENV = {
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
        "ANIGATE_API_PAGE_SIZE": ("api_page_size", int),
        "ANIGATE_API_MAX_PAGE_SIZE": ("api_max_page_size", int),
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
