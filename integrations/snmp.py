"""The SNMP sink: alarm events (and, when asked, routed calls) as ANIGATE-MIB notifications to one
manager, v2c or v3 USM, trap or inform, with pysnmp 7 (asyncio) on the sink's own loop thread.
Imports ``integrations.ports``/``snmp_mib``, pysnmp and the stdlib; no database, no web.

One sink is one manager: the relay keeps the delivery state per sink, so a manager that is down
retries and dead-letters on its own while the others get their notifications. Several managers
are several sinks.

An inform is delivered when the manager answers it (pysnmp resends it ``retries`` times, each
after ``timeout`` seconds); a trap has no answer and counts as delivered once sent. SNMPv3: an
inform discovers the manager's engine id by itself; a trap is sent under this sink's own engine
id (``engine_id``), which the manager must know the user by (net-snmp: ``createUser -e
<engine_id> <user> SHA-256 <auth key> AES <priv key>`` in snmptrapd.conf).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, ClassVar

from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB192_AES_BLUMENTHAL,
    USM_PRIV_CFB256_AES,
    USM_PRIV_CFB256_AES_BLUMENTHAL,
    USM_PRIV_NONE,
    CommunityData,
    ContextData,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    send_notification,
)
from pysnmp.proto import rfc1902

from integrations import snmp_mib
from integrations.ports import Outgoing, Result, SinkConfigError

#: USM authentication protocols by their net-snmp names (RFC 3414 SHA-1 and RFC 7860 SHA-2)
AUTH_PROTOCOLS: dict[str, tuple[int, ...]] = {
    "SHA": USM_AUTH_HMAC96_SHA,
    "SHA-224": USM_AUTH_HMAC128_SHA224,
    "SHA-256": USM_AUTH_HMAC192_SHA256,
    "SHA-384": USM_AUTH_HMAC256_SHA384,
    "SHA-512": USM_AUTH_HMAC384_SHA512,
}
#: USM privacy protocols: AES-128 is RFC 3826; the longer keys follow draft-blumenthal-aes-usm
#: (as net-snmp) or, with "-Reeder", the key extension of Cisco devices
PRIV_PROTOCOLS: dict[str, tuple[int, ...]] = {
    "AES-128": USM_PRIV_CFB128_AES,
    "AES-192": USM_PRIV_CFB192_AES_BLUMENTHAL,
    "AES-256": USM_PRIV_CFB256_AES_BLUMENTHAL,
    "AES-192-Reeder": USM_PRIV_CFB192_AES,
    "AES-256-Reeder": USM_PRIV_CFB256_AES,
}
SECURITY_LEVELS = ("authPriv", "authNoPriv")

_DEFAULTS: dict[str, Any] = {
    "port": 162,
    "version": "2c",
    "notify": "inform",
    "enterprise_oid": snmp_mib.DEFAULT_ENTERPRISE_OID,
    "calls": False,
    "timeout": 2.0,
    "retries": 1,
    "user": "",
    "auth_protocol": "SHA-256",
    "priv_protocol": "AES-128",
    "security_level": "authPriv",
    "engine_id": "",
}
_V3_ONLY = ("user", "auth_protocol", "priv_protocol", "security_level", "engine_id")
_HOST = re.compile(r"^[A-Za-z0-9._:-]{1,253}$")
_HEX = re.compile(r"^[0-9a-f]+$")
#: net-snmp refuses USM passphrases shorter than 8 characters (RFC 3414 §11.2 recommends 8)
_MIN_KEY = 8
#: 2020-01-01T00:00:00Z, where snmpEngineBoots counts from (31 bits last until 2088)
_BOOTS_EPOCH = 1_577_836_800


class SnmpSink:
    """Sends each event of a batch as one notification to the manager ``host:port``."""

    kind: ClassVar[str] = "snmp"
    setting_fields: ClassVar[Mapping[str, str]] = {
        "host": "The manager's host name or IP address (one manager per sink: add a sink per manager).",
        "port": "The manager's UDP port (162).",
        "version": "'2c' (community) or '3' (USM user).",
        "notify": "'inform' (delivered when the manager answers; retried, then dead-lettered) or "
        "'trap' (no answer: delivered once sent).",
        "enterprise_oid": "Where ANIGATE-MIB sits: 1.3.6.1.4.1.32473 (RFC 5612's documentation "
        "number) unless you assign the module under your own enterprise number.",
        "calls": "Also send anigateCallRouted for every routed call (true/false; default false).",
        "timeout": "Seconds to wait for an inform's answer before sending it again (default 2).",
        "retries": "How often an unanswered inform is sent again within one delivery (default 1).",
        "user": "SNMPv3 user name.",
        "auth_protocol": "SNMPv3 authentication: SHA-256 (default), SHA-512, SHA-384, SHA-224 or SHA.",
        "priv_protocol": "SNMPv3 privacy: AES-128 (default), AES-192, AES-256 (net-snmp key "
        "extension) or AES-192-Reeder, AES-256-Reeder (Cisco's).",
        "security_level": "SNMPv3: authPriv (default) or authNoPriv.",
        "engine_id": "SNMPv3 traps only: this sender's engine id in hex (5-32 octets), as the "
        "manager knows the user by (snmptrapd: createUser -e <engine id> ...).",
    }
    secret_fields: ClassVar[Mapping[str, str]] = {
        "community": "SNMPv2c community.",
        "auth_key": "SNMPv3 authentication passphrase (at least 8 characters).",
        "priv_key": "SNMPv3 privacy passphrase (at least 8 characters; authPriv).",
    }
    #: the event types this sink sends (the relay may filter on them); an instance without
    #: ``calls`` leaves call.routed out. Any other event is answered delivered, with nothing sent.
    event_types: frozenset[str] = snmp_mib.ALARM_EVENT_TYPES | snmp_mib.CALL_EVENT_TYPES

    def __init__(self, name: str, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        self.name = name
        self.settings = dict(settings)
        self._secrets = dict(secrets)
        self._root = snmp_mib.parse_oid(self.settings["enterprise_oid"])
        if not self.settings["calls"]:
            self.event_types = snmp_mib.ALARM_EVENT_TYPES
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: SnmpEngine | None = None
        self._auth: CommunityData | UsmUserData | None = None
        self._target: UdpTransportTarget | None = None

    # ---- configuration ----------------------------------------------------------------------

    @classmethod
    def validate(cls, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
        """The settings normalised (defaults filled, types made); SinkConfigError per field."""
        errors: dict[str, str] = {}
        unknown = set(settings) - set(cls.setting_fields)
        for key in sorted(unknown):
            errors[key] = "not a setting of an SNMP sink"
        given = {k: v for k, v in settings.items() if k not in unknown and v not in (None, "")}
        out: dict[str, Any] = _DEFAULTS | given

        host = str(out.get("host", "")).strip()
        if not host:
            errors["host"] = "the manager's host name or address is required"
        elif not _HOST.match(host):
            errors["host"] = "a host name, an IPv4 address or an IPv6 address"
        out["host"] = host
        out["port"] = _integer(out["port"], "port", 1, 65535, errors)
        out["version"] = version = str(out["version"]).strip().lower().removeprefix("v")
        if version not in ("2c", "3"):
            errors["version"] = "'2c' or '3'"
        out["notify"] = notify = str(out["notify"]).strip().lower()
        if notify not in ("trap", "inform"):
            errors["notify"] = "'trap' or 'inform'"
        try:
            root = snmp_mib.parse_oid(str(out["enterprise_oid"]))
            if root[:6] != (1, 3, 6, 1, 4, 1) or len(root) < 7 or len(root) > 100:
                raise ValueError
            out["enterprise_oid"] = ".".join(map(str, root))
        except ValueError:
            errors["enterprise_oid"] = "dotted decimals under 1.3.6.1.4.1, e.g. 1.3.6.1.4.1.32473"
        out["calls"] = _boolean(out["calls"], "calls", errors)
        out["timeout"] = _number(out["timeout"], "timeout", 0.1, 60.0, errors)
        out["retries"] = _integer(out["retries"], "retries", 0, 10, errors)

        if version == "2c":
            if not secrets.get("community"):
                errors["community"] = "the community is required for SNMPv2c"
            for key in _V3_ONLY:
                out.pop(key, None)
        elif version == "3":
            _validate_v3(out, secrets, notify, errors)
        if errors:
            raise SinkConfigError(errors)
        return out

    @classmethod
    def build(
        cls, name: str, settings: Mapping[str, Any], secrets: Mapping[str, str], instance: str = ""
    ) -> SnmpSink:
        return cls(name, cls.validate(settings, secrets), secrets)

    # ---- the port ---------------------------------------------------------------------------

    def open(self) -> None:
        """Start the loop thread, make the engine and resolve the manager's address; raises when
        the address does not resolve (the relay retries with backoff)."""
        with self._lock:
            if self._loop is not None:
                return
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=f"snmp-sink-{self.name}", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            try:
                asyncio.run_coroutine_threadsafe(self._start(), loop).result(30)
            except BaseException:
                self._stop_loop()
                raise

    def send(self, batch: Sequence[Outgoing], timeout: float) -> list[Result]:
        """One notification per item, all in flight together; an inform not answered within
        ``timeout`` seconds (with pysnmp's own resends) is a failed item. Never raises."""
        notes = [self._notification(item) for item in batch]
        results: dict[int, Result] = {}
        wanted: list[tuple[int, Outgoing, snmp_mib.Notification]] = []
        for i, (item, note) in enumerate(zip(batch, notes, strict=True)):
            if isinstance(note, Result):
                results[i] = note
            else:
                wanted.append((i, item, note))
        if wanted:
            with self._lock:
                loop = self._loop
                if loop is None:
                    for i, item, _ in wanted:
                        results[i] = Result.failed(item, "the SNMP sink is not open")
                else:
                    sent = asyncio.run_coroutine_threadsafe(self._send_all(wanted, timeout), loop)
                    try:
                        results |= sent.result(timeout + 5)
                    except (FutureTimeout, Exception) as exc:  # never raise: the relay retries
                        sent.cancel()
                        for i, item, _ in wanted:
                            results.setdefault(i, Result.failed(item, f"SNMP send failed: {exc!r}"))
        return [results[i] for i in range(len(batch))]

    def close(self) -> None:
        with self._lock:
            if self._loop is None:
                return
            try:
                asyncio.run_coroutine_threadsafe(self._finish(), self._loop).result(10)
            finally:
                self._stop_loop()

    # ---- inside the loop thread -------------------------------------------------------------

    async def _start(self) -> None:
        s = self.settings
        self._engine = _engine(s.get("engine_id") or None)
        if s["version"] == "2c":
            self._auth = CommunityData(self._secrets["community"], mpModel=1)
        else:
            priv = s["security_level"] == "authPriv"
            self._auth = UsmUserData(
                s["user"],
                authKey=self._secrets["auth_key"],
                privKey=self._secrets["priv_key"] if priv else None,
                authProtocol=AUTH_PROTOCOLS[s["auth_protocol"]],
                privProtocol=PRIV_PROTOCOLS[s["priv_protocol"]] if priv else USM_PRIV_NONE,
            )
        self._target = await UdpTransportTarget.create(
            (s["host"], s["port"]), timeout=s["timeout"], retries=s["retries"]
        )

    async def _finish(self) -> None:
        if self._engine is not None:
            self._engine.close_dispatcher()
        self._engine = self._auth = self._target = None

    async def _send_all(
        self, wanted: list[tuple[int, Outgoing, snmp_mib.Notification]], timeout: float
    ) -> dict[int, Result]:
        tasks = {asyncio.ensure_future(self._send_one(item, note)): (i, item) for i, item, note in wanted}
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        results: dict[int, Result] = {}
        for task in pending:
            # pysnmp drops the answer of a cancelled request; the item is sent again later
            task.cancel()
            i, item = tasks[task]
            results[i] = Result.failed(item, f"no answer from the manager within {timeout:g} s")
        for task in done:
            i, item = tasks[task]
            exc = task.exception()
            results[i] = task.result() if exc is None else Result.failed(item, f"SNMP: {exc!r}")
        return results

    async def _send_one(self, item: Outgoing, note: snmp_mib.Notification) -> Result:
        assert self._engine is not None and self._auth is not None and self._target is not None
        indication, status, index, _ = await send_notification(
            self._engine,
            self._auth,
            self._target,
            ContextData(),
            self.settings["notify"],
            *_pdu_varbinds(note),
            lookupMib=False,
        )
        if indication:
            return Result.failed(item, f"SNMP: {indication}")
        if status:
            return Result.failed(item, f"the manager answered {status.prettyPrint()} at {index}")
        return Result.delivered(item)

    # ---- helpers ----------------------------------------------------------------------------

    def _notification(self, item: Outgoing) -> snmp_mib.Notification | Result:
        """The notification of ``item``, or its Result when there is nothing to send."""
        if item.event.type not in self.event_types:
            return Result.delivered(item)
        try:
            note = snmp_mib.notification(item.event, self._root)
        except Exception as exc:  # an event this version cannot map: retrying cannot help
            return Result.failed(item, f"cannot make a notification: {exc!r}", permanent=True)
        return Result.delivered(item) if note is None else note

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        if loop is not None and not loop.is_running():
            loop.close()


def _engine(engine_id: str | None) -> SnmpEngine:
    """A pysnmp engine, under ``engine_id`` (hex) when given, whose snmpEngineBoots is the seconds
    since 2020 at open: it grows across restarts with no state file. A v3 trap receiver keeps the
    sender's boots and time and drops a trap whose boots went back (RFC 3414 §3.2.7); pysnmp's own
    engine id option would keep boots in a file under /tmp instead (and leaks its handle)."""
    engine = SnmpEngine()
    builder = engine.get_mib_builder()
    boots, own_id = builder.import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineBoots", "snmpEngineID")
    boots.syntax = boots.syntax.clone(min(int(time.time()) - _BOOTS_EPOCH, 2**31 - 1))
    if engine_id:
        own_id.syntax = own_id.syntax.clone(rfc1902.OctetString(hexValue=engine_id))
        engine.snmpEngineID = own_id.syntax
    return engine


def _pdu_varbinds(note: snmp_mib.Notification) -> list[tuple[tuple[int, ...], Any]]:
    """snmpTrapOID.0 and the objects as pysnmp values (pysnmp puts sysUpTime.0 first)."""
    out: list[tuple[tuple[int, ...], Any]] = [(snmp_mib.SNMP_TRAP_OID, rfc1902.ObjectIdentifier(note.oid))]
    for vb in note.varbinds:
        if vb.syntax == "unsigned":
            out.append((vb.oid, rfc1902.Unsigned32(vb.value)))
        elif vb.syntax == "integer":
            out.append((vb.oid, rfc1902.Integer32(vb.value)))
        else:
            out.append((vb.oid, rfc1902.OctetString(vb.value)))
    return out


def _validate_v3(
    out: dict[str, Any], secrets: Mapping[str, str], notify: str, errors: dict[str, str]
) -> None:
    user = str(out["user"]).strip()
    if not 1 <= len(user) <= 32:
        errors["user"] = "the SNMPv3 user name is required (at most 32 characters)"
    out["user"] = user
    if out["auth_protocol"] not in AUTH_PROTOCOLS:
        errors["auth_protocol"] = "one of " + ", ".join(AUTH_PROTOCOLS)
    if out["security_level"] not in SECURITY_LEVELS:
        errors["security_level"] = "authPriv or authNoPriv"
    if len(secrets.get("auth_key", "")) < _MIN_KEY:
        errors["auth_key"] = f"the authentication passphrase needs at least {_MIN_KEY} characters"
    if out["security_level"] == "authPriv":
        if out["priv_protocol"] not in PRIV_PROTOCOLS:
            errors["priv_protocol"] = "one of " + ", ".join(PRIV_PROTOCOLS)
        if len(secrets.get("priv_key", "")) < _MIN_KEY:
            errors["priv_key"] = f"the privacy passphrase needs at least {_MIN_KEY} characters"
    engine_id = str(out["engine_id"]).strip().lower().removeprefix("0x")
    out["engine_id"] = engine_id
    if engine_id and (not _HEX.match(engine_id) or len(engine_id) % 2 or not 10 <= len(engine_id) <= 64):
        errors["engine_id"] = "hex digits, 5 to 32 octets (RFC 3411 SnmpEngineID)"
    elif not engine_id and notify == "trap":
        errors["engine_id"] = (
            "an SNMPv3 trap needs this sender's engine id, as the manager knows the user by "
            "(e.g. 80007ed904616e6967617465: enterprise 32473, text 'anigate')"
        )


def _integer(value: Any, field: str, low: int, high: int, errors: dict[str, str]) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        errors[field] = f"a whole number from {low} to {high}"
    return number


def _number(value: Any, field: str, low: float, high: float, errors: dict[str, str]) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        errors[field] = f"a number of seconds from {low:g} to {high:g}"
    return number


def _boolean(value: Any, field: str, errors: dict[str, str]) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    errors[field] = "true or false"
    return False
