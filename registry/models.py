"""Registry tables as typed SQLAlchemy 2 models.

Domain meaning lives in each class docstring. Must not import flask, routing, alarms or integrations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.choices import (
    AniHeader,
    CallPriority,
    ChangeAction,
    CsvJobPhase,
    CsvJobState,
    DeviceKind,
    DeviceStatus,
    FloodEffect,
    FloodScope,
    LineKind,
    ListKind,
    LocationKind,
    Role,
    TrunkTrust,
)
from registry.db import Base, utcnow


def enum_column(cls: type, name: str, length: int = 32) -> Enum:
    """A choice set stored as its values in a VARCHAR with a CHECK constraint (no native ENUM type,
    so that a new value needs no ALTER TYPE)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SecurityCenter(Timestamped, Base):
    """A monitoring room whose operators answer emergency calls.

    ``sip_uris`` are tried in order: the first is where a redirected call goes first.
    ``countries`` are the center's region: an unknown caller from one of them comes here first,
    before any center that only speaks the caller's language (``routing.policy``).
    """

    __tablename__ = "security_centers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    sip_uris: Mapped[list[str]] = mapped_column(default=list)
    phone: Mapped[str] = mapped_column(String(32), default="")
    #: ISO 639-1 codes, in order of preference
    languages: Mapped[list[str]] = mapped_column(default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: ISO 3166-1 alpha-2 codes of the countries whose unknown callers this center takes first
    countries: Mapped[list[str]] = mapped_column(default=list)
    #: seconds within which this center must acknowledge an alarm of a severity before it escalates
    #: (``{"critical": 30}``); a severity missing here takes ANIGATE_ACK_DEADLINES
    ack_deadlines: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:
        return f"<SecurityCenter {self.id} {self.name!r}>"


class Schedule(Timestamped, Base):
    """Weekly time windows plus holidays, read in the timezone of whoever uses it (a site).

    ``windows``: ``[{"days": [0..6 Monday=0], "start": "HH:MM", "end": "HH:MM"}]``; ``end`` at or
    before ``start`` crosses midnight. ``holidays``: ISO dates on which no window applies.
    """

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    holidays: Mapped[list[str]] = mapped_column(default=list)


class Site(Timestamped, Base):
    """A property (office tower, car park, hospital) whose devices call one of the centers.

    Inside ``business_hours`` (site timezone, minus ``holidays``) calls go to ``day_center``,
    otherwise to ``out_of_hours_center``. A site without ``business_hours`` is always inside
    hours, except on its own ``holidays``.
    """

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(Text, default="")
    #: ISO 3166-1 alpha-2
    country: Mapped[str] = mapped_column(String(2))
    #: IANA timezone name, e.g. Europe/Berlin
    timezone: Mapped[str] = mapped_column(String(64))
    day_center_id: Mapped[int | None] = mapped_column(ForeignKey("security_centers.id", ondelete="RESTRICT"))
    out_of_hours_center_id: Mapped[int | None] = mapped_column(
        ForeignKey("security_centers.id", ondelete="RESTRICT")
    )
    business_hours_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="RESTRICT"))
    holidays: Mapped[list[str]] = mapped_column(default=list)
    #: SIP URI of the maintenance company: calls of the site's devices in maintenance go there first
    maintenance_contact: Mapped[str] = mapped_column(String(255), default="")
    notes: Mapped[str] = mapped_column(Text, default="")

    day_center: Mapped[SecurityCenter | None] = relationship(foreign_keys=[day_center_id])
    out_of_hours_center: Mapped[SecurityCenter | None] = relationship(foreign_keys=[out_of_hours_center_id])
    business_hours: Mapped[Schedule | None] = relationship()

    def __repr__(self) -> str:
        return f"<Site {self.id} {self.slug}>"


class Location(Timestamped, Base):
    """A place inside a site where a device hangs: a lift cabin, a car-park level, an entrance.

    ``notes`` are for responders ("machine-room key at reception"); ``camera_ref`` is the VMS
    camera id or ONVIF profile token that shows the place.
    """

    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("site_id", "building", "name", name="uq_locations_place"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    building: Mapped[str] = mapped_column(String(120), default="")
    kind: Mapped[LocationKind] = mapped_column(enum_column(LocationKind, "location_kind"))
    name: Mapped[str] = mapped_column(String(120))
    floor: Mapped[str] = mapped_column(String(32), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    camera_ref: Mapped[str] = mapped_column(String(200), default="")

    site: Mapped[Site] = relationship()


class Trunk(Timestamped, Base):
    """A carrier or PBX connection that delivers calls, recognised by its source addresses.

    Only a trusted trunk's asserted identity headers are believed (RFC 3325 trust domain).
    """

    __tablename__ = "trunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    carrier: Mapped[str] = mapped_column(String(120), default="")
    #: IP addresses and CIDR networks, normalised (``ipaddress``)
    source_addresses: Mapped[list[str]] = mapped_column(default=list)
    trust: Mapped[TrunkTrust] = mapped_column(enum_column(TrunkTrust, "trunk_trust"))
    ani_header: Mapped[AniHeader] = mapped_column(enum_column(AniHeader, "ani_header"))
    #: ISO 3166-1 alpha-2 region used to read national-format numbers from this trunk
    default_region: Mapped[str] = mapped_column(String(2))
    expects_attestation: Mapped[bool] = mapped_column(Boolean, default=False)
    #: header that marks an EN 81-28 test call on this trunk: ``Name`` (present) or ``Name: value``
    #: (value contained, case-insensitive); empty: no marker
    test_call_marker: Mapped[str] = mapped_column(String(200), default="")
    #: header that marks a "rescue ended" call of a lift phone (EN 81-28: it closes the device's
    #: latched lift alarm), written like ``test_call_marker``; empty: operators reset by hand
    rescue_ended_marker: Mapped[str] = mapped_column(String(200), default="")
    #: opt-in: an unknown caller on this trunk is added to this site as a *pending* device, for a
    #: facility manager of the site to adopt (status active) or reject (status decommissioned)
    pending_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    notes: Mapped[str] = mapped_column(Text, default="")

    pending_site: Mapped[Site | None] = relationship()


class Device(Timestamped, Base):
    """A SIP emergency device (lift phone, help point, intercom), known by its ANI.

    The ANI is the network-asserted number in E.164 and is unique. ``test_interval_hours`` is the
    EN 81-28 periodic test-call interval (72 h for lift phones); None means no test calls expected.
    ``active_schedule`` None means the device may call at any time.
    """

    __tablename__ = "devices"
    __table_args__ = (
        Index("ix_devices_site_kind", "site_id", "kind"),
        Index("ix_devices_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ani: Mapped[str] = mapped_column(String(16), unique=True)
    #: a second number the device uses only for its periodic test calls (E.164), if any
    test_ani: Mapped[str | None] = mapped_column(String(16), unique=True)
    kind: Mapped[DeviceKind] = mapped_column(enum_column(DeviceKind, "device_kind"))
    vendor: Mapped[str] = mapped_column(String(120), default="")
    model: Mapped[str] = mapped_column(String(120), default="")
    serial: Mapped[str] = mapped_column(String(120), default="")
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"), index=True
    )
    trunk_id: Mapped[int | None] = mapped_column(ForeignKey("trunks.id", ondelete="RESTRICT"), index=True)
    active_schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="RESTRICT"))
    test_interval_hours: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[DeviceStatus] = mapped_column(
        enum_column(DeviceStatus, "device_status"), default=DeviceStatus.ACTIVE
    )
    maintenance_until: Mapped[datetime | None]
    last_call_at: Mapped[datetime | None]
    last_test_call_at: Mapped[datetime | None]
    #: last SIP OPTIONS keep-alive seen from the device
    last_heartbeat_at: Mapped[datetime | None]
    #: SIP URI called first while the device is in maintenance (else the site's)
    maintenance_contact: Mapped[str] = mapped_column(String(255), default="")
    notes: Mapped[str] = mapped_column(Text, default="")

    site: Mapped[Site] = relationship()
    location: Mapped[Location | None] = relationship()
    trunk: Mapped[Trunk | None] = relationship()
    active_schedule: Mapped[Schedule | None] = relationship()

    def __repr__(self) -> str:
        return f"<Device {self.id} {self.ani}>"


class DnisRule(Timestamped, Base):
    """A dialled number (DNIS) anigate answers for, and what kind of line it is.

    ``number`` is E.164 when it reads as a phone number, else the digits as dialled (short codes).
    A call to a *test* line is an EN 81-28 periodic test call: it goes to ``target_uri`` (the test
    receiver), never to a person. On other lines ``target_uri`` is unused. A call to a number with
    no rule is treated as an emergency call.
    """

    __tablename__ = "dnis_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    line: Mapped[LineKind] = mapped_column(enum_column(LineKind, "line_kind"))
    priority: Mapped[CallPriority] = mapped_column(enum_column(CallPriority, "call_priority"))
    target_uri: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(200), default="")


class NumberListEntry(Timestamped, Base):
    """A calling number (E.164, or a prefix ending in ``*``) on the blocklist or the graylist.

    Lists apply to callers that are not registered devices: a blocked caller on an intercom line
    gets ``603 Decline``; on an emergency line (or one without a rule) it is routed and flagged.
    A registered device is never blocked, whatever any list says.
    """

    __tablename__ = "number_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    pattern: Mapped[str] = mapped_column(String(17), unique=True)
    kind: Mapped[ListKind] = mapped_column(enum_column(ListKind, "list_kind"))
    reason: Mapped[str] = mapped_column(Text, default="")
    #: the entry stops applying at this instant (None: never)
    expires_at: Mapped[datetime | None]


class FloodRule(Timestamped, Base):
    """More than ``max_calls`` within ``window_seconds``, counted per ANI, per site or per trunk,
    is a call flood. ``device_kind`` None applies to callers without a more specific rule,
    unknown callers included. Replaces the built-in default for the same scope and kind."""

    __tablename__ = "flood_rules"
    __table_args__ = (UniqueConstraint("scope", "device_kind", name="uq_flood_rules_scope_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[FloodScope] = mapped_column(enum_column(FloodScope, "flood_scope"))
    device_kind: Mapped[DeviceKind | None] = mapped_column(enum_column(DeviceKind, "device_kind"))
    max_calls: Mapped[int] = mapped_column(Integer)
    window_seconds: Mapped[int] = mapped_column(Integer)
    effect: Mapped[FloodEffect] = mapped_column(enum_column(FloodEffect, "flood_effect"))


user_sites = Table(
    "user_sites",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)


class User(Timestamped, Base):
    """A person: admin (everything), facility manager (own sites), operator (own center)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    center_id: Mapped[int | None] = mapped_column(ForeignKey("security_centers.id", ondelete="SET NULL"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: failed logins since the last good one; reaching the limit locks the account for a while
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]

    sites: Mapped[list[Site]] = relationship(secondary=user_sites)
    center: Mapped[SecurityCenter | None] = relationship()


class ApiToken(Base):
    """A bearer token for the REST API. Only a SHA-256 digest is stored; the secret is shown once.

    ``scopes`` narrow what the owner may do; they never widen the owner's role or sites.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    #: first characters of the secret, shown to tell tokens apart
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A logged-in browser: the session cookie carries a random secret, the table its SHA-256 digest.

    Logging out, a password reset or a deactivation sets ``revoked_at``, so a copied cookie stops
    working at once; ``expires_at`` moves on with use (idle timeout), ``last_seen_at`` is coarse.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class CsvJob(Base):
    """A CSV file uploaded in the web app, checked (a dry run) and, once its owner confirms,
    imported by the job thread of some web process (``registry.csvjobs``), never in the request.

    The file waits in ``<instance dir>/uploads/<token>.csv`` (0600) until the job ends or expires.
    A process claims a queued job by a conditional UPDATE (``claimed_by`` = host:pid:random) and
    moves ``heartbeat_at`` as it goes; ``report`` keeps the counts and the first row errors.
    """

    __tablename__ = "csv_jobs"
    __table_args__ = (Index("ix_csv_jobs_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: device, site or location (registry.csvio.COLUMNS)
    object_type: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(120))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    default_region: Mapped[str] = mapped_column(String(2))
    phase: Mapped[CsvJobPhase] = mapped_column(enum_column(CsvJobPhase, "csv_job_phase"))
    state: Mapped[CsvJobState] = mapped_column(enum_column(CsvJobState, "csv_job_state"))
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    #: runs started, for this phase; a job whose process died this often fails instead of retrying
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str] = mapped_column(String(160), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: why it failed, or a note for its owner (started again after a process stopped)
    message: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User] = relationship()


class ChangeLog(Base):
    """Who changed which registry object, when, from where, with before/after snapshots."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: human-readable actor: user name, "cli", "demo", "token:<name>"
    actor: Mapped[str] = mapped_column(String(160))
    #: entry point: api, csv, web, cli, demo
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[ChangeAction] = mapped_column(enum_column(ChangeAction, "change_action"))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int] = mapped_column(Integer)
    object_repr: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RegistryRevision(Base):
    """The registry's revision: one row whose value moves by one with every committed registry
    change, in the change's own transaction, just before it commits (``registry.changelog``).

    Its row lock puts registry commits in revision order, so a reader that sees value N sees every
    change up to N; the SIP snapshot rebuilds when it moves (``routing.snapshot``).
    """

    __tablename__ = "registry_revision"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime]


class SecretKeyFingerprint(Base):
    """The fingerprint (an HMAC of a fixed text under the key, which reveals nothing of it) of the
    secret key of the first process that served this database: every host serving one database
    needs the same ``ANIGATE_SECRET_KEY`` (web sessions and CSRF tokens across a load balancer,
    sink secrets sealed by one host and opened by another), and one with another key is refused
    at start with that reason (``bootstrap.check_secret_key``)."""

    __tablename__ = "secret_key_fingerprint"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime]
    set_by: Mapped[str] = mapped_column(String(255))


class OutboxEvent(Base):
    """A domain event (``registry.events``), written in the transaction of the change that caused it.

    ``seq`` is given at commit, under the ``outbox_sequence`` row lock (``registry.outbox``): events
    become visible in ``seq`` order, so a reader that has seen ``seq`` N has seen every event before
    it. ``id`` is the insert order and is not: on PostgreSQL a late commit can hold a lower id.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_center_seq", "center_id", "seq"),
        Index("ix_outbox_site_seq", "site_id", "seq"),
        Index("ix_outbox_device_seq", "device_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(48), index=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    #: what the event is about, for scoped readers (an operator's center, a manager's sites)
    center_id: Mapped[int | None] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(Integer)
    device_id: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutboxSequence(Base):
    """The outbox's commit-order counter: one row, moved by the number of events a transaction
    writes, as its last statement before the commit (``registry.outbox``)."""

    __tablename__ = "outbox_sequence"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)
