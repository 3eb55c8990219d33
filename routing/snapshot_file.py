"""The registry snapshot kept on disk, so that a worker started while the database is away still
answers calls: saved (atomically, owner-only, HMAC-signed) by the refresher thread after each new
revision, read back at start when the database cannot be read. Imports routing.snapshot and
registry.db only; never flask, the web packages or the SIP listener.

The file is a pickle of the :class:`~routing.snapshot.Snapshot`: unpickling runs code, so the bytes
are signed with HMAC-SHA256 under a key derived from the instance secret key and are unpickled only
once the signature verifies. A file written by another version of the snapshot classes (the
``layout`` fingerprint differs) is refused too: an old pickle could lack an attribute a call needs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from registry.db import PRIVATE_FILE_MODE, private_dir
from routing import snapshot as snapshot_module
from routing.snapshot import (
    EMPTY,
    Snapshot,
    SnapshotHolder,
    SnapshotOptions,
    SnapshotRefresher,
    load_snapshot,
    registry_revision,
)

log = logging.getLogger(__name__)

MAGIC = b"anigate-registry-snapshot 1\n"
_MAC_SIZE = hashlib.sha256().digest_size
#: how often the log says, while it lasts, that calls are answered from the snapshot on disk
REMIND_EVERY = 60.0


class SnapshotFileError(Exception):
    """The snapshot file cannot be used (bad signature, damaged, another version)."""


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    snapshot: Snapshot
    #: when it was read from the database (UTC)
    taken_at: datetime

    @property
    def revision(self) -> int:
        return self.snapshot.revision


def snapshot_key(secret: str) -> bytes:
    """The signing key of snapshot files: derived from the instance secret key, used for nothing else."""
    return hmac.new(secret.encode(), b"anigate/registry-snapshot/v1", hashlib.sha256).digest()


def layout() -> str:
    """A fingerprint of the snapshot classes' fields: a file of another layout is refused."""
    parts = []
    for name in sorted(vars(snapshot_module)):
        cls = getattr(snapshot_module, name)
        if (
            isinstance(cls, type)
            and dataclasses.is_dataclass(cls)
            and cls.__module__ == snapshot_module.__name__
        ):
            parts.append(f"{name}({','.join(f.name for f in dataclasses.fields(cls))})")
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]


def dumps(stored: StoredSnapshot, key: bytes) -> bytes:
    payload = pickle.dumps(
        {
            "layout": layout(),
            "revision": stored.revision,
            "taken_at": stored.taken_at.isoformat(),
            "snapshot": stored.snapshot,
        },
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    mac = hmac.new(key, MAGIC + payload, hashlib.sha256).digest()
    return MAGIC + mac + payload


def loads(data: bytes, key: bytes) -> StoredSnapshot:
    """The snapshot in ``data``; :class:`SnapshotFileError` unless it is signed with ``key``, whole,
    and of this version's layout. Nothing is unpickled before the signature verifies."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _MAC_SIZE:
        raise SnapshotFileError("not a registry snapshot file")
    mac = data[len(MAGIC) : len(MAGIC) + _MAC_SIZE]
    payload = data[len(MAGIC) + _MAC_SIZE :]
    if not hmac.compare_digest(mac, hmac.new(key, MAGIC + payload, hashlib.sha256).digest()):
        raise SnapshotFileError("its signature does not verify (changed, or signed with another secret key)")
    try:
        content = pickle.loads(payload)  # signed by us: verified just above
        snap = content["snapshot"]
        taken_at = datetime.fromisoformat(content["taken_at"])
        if content["layout"] != layout():
            raise SnapshotFileError("it was written by another version of anigate")
        if not isinstance(snap, Snapshot) or snap.revision != content["revision"]:
            raise SnapshotFileError("it holds no registry snapshot")
    except SnapshotFileError:
        raise
    except Exception as exc:  # a signed file that does not unpickle: a bug, still never fatal
        raise SnapshotFileError(f"it cannot be read: {exc!r}") from exc
    return StoredSnapshot(snap, taken_at)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: a 0600 temp file, fsync, rename, fsync the folder.
    A reader (or a crash) sees the old file or the new one, never part of one."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def describe_age(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 and s % 60 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


class SnapshotStore:
    """The snapshot file (``<instance>/snapshot/registry.snapshot``) and its status file
    (``status.json``: revision, taken_at, source "database"|"disk") for anyone who cannot ask the
    database what this worker answers from."""

    def __init__(self, folder: Path, key: bytes):
        self.path = Path(folder) / "registry.snapshot"
        self.status_path = Path(folder) / "status.json"
        self.key = key

    def save(self, stored: StoredSnapshot) -> None:
        write_private(self.path, dumps(stored, self.key))

    def load(self) -> StoredSnapshot | None:
        """The snapshot on disk; None when there is none or it is refused (logged at ERROR, why)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("registry snapshot %s refused: it cannot be read (%s)", self.path, exc)
            return None
        try:
            return loads(data, self.key)
        except SnapshotFileError as exc:
            log.error("registry snapshot %s refused: %s", self.path, exc)
            return None

    def write_status(self, stored: StoredSnapshot, source: str) -> None:
        status = {
            "revision": stored.revision,
            "taken_at": stored.taken_at.isoformat(),
            "source": source,
            "written_at": datetime.now(UTC).isoformat(),
        }
        try:
            write_private(self.status_path, (json.dumps(status) + "\n").encode())
        except OSError as exc:
            log.warning("cannot write the snapshot status %s: %s", self.status_path, exc)


class KeepingRefresher(SnapshotRefresher):
    """A :class:`SnapshotRefresher` that keeps each new snapshot on disk (from its own thread, never
    the SIP loop's) and can start from the one on disk: calls are then answered from it, with its age
    logged every ``REMIND_EVERY`` seconds, until the database answers and a live snapshot (even of
    the same revision: the routing settings may differ) replaces it."""

    def __init__(
        self,
        holder: SnapshotHolder,
        factory: sessionmaker[Session],
        store: SnapshotStore,
        options: SnapshotOptions | None = None,
        interval: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        super().__init__(holder, factory, options or SnapshotOptions(), interval)
        self.store = store
        self.clock = clock
        #: the snapshot from disk calls are answered from (None: a live one)
        self.from_disk: StoredSnapshot | None = None
        #: when the snapshot calls are answered from was read from the database
        self.taken_at: datetime | None = None
        self._unsaved: StoredSnapshot | None = None
        self._saved_revision: int | None = None  # per process: the first live snapshot is always saved
        self._reminded = 0.0
        self._failing = False

    def age(self, stored: StoredSnapshot) -> str:
        return describe_age((self.clock() - stored.taken_at).total_seconds())

    def refresh(self) -> bool:
        with self.factory() as session:
            current = self.holder.current
            if (
                self.from_disk is None
                and current is not EMPTY
                and registry_revision(session) == current.revision
            ):
                return False
            snap = load_snapshot(session, self.options)
        taken_at = self.clock()
        self.holder.swap(snap)
        self.taken_at = taken_at
        log.info(
            "registry snapshot r%d: %d devices, %d trunks", snap.revision, len(snap.devices), len(snap.trunks)
        )
        if self.from_disk is not None:
            log.warning(
                "the database answers again: calls are answered from the live registry snapshot r%d, "
                "no longer from the one on disk of %s (r%d)",
                snap.revision,
                self.from_disk.taken_at.isoformat(timespec="seconds"),
                self.from_disk.revision,
            )
            self.from_disk = None
        self._unsaved = StoredSnapshot(snap, taken_at)
        return True

    def start_from_disk(self) -> StoredSnapshot | None:
        """Answer from the snapshot on disk, if there is a usable one (logged either way)."""
        stored = self.store.load()
        if stored is None:
            return None
        self.holder.swap(stored.snapshot)
        self.from_disk = stored
        self.taken_at = stored.taken_at
        self._reminded = time.monotonic()
        self._failing = True
        log.error(
            "answering from the registry snapshot of %s (r%d, %s old): the database is unreachable",
            stored.taken_at.isoformat(timespec="seconds"),
            stored.revision,
            self.age(stored),
        )
        self.store.write_status(stored, "disk")
        return stored

    def keep(self) -> None:
        """Save the last live snapshot if its revision is new (runs in the refresher thread)."""
        stored, self._unsaved = self._unsaved, None
        if stored is None:
            return
        if stored.revision != self._saved_revision:
            try:
                self.store.save(stored)
                self._saved_revision = stored.revision
                log.info("registry snapshot r%d kept on disk in %s", stored.revision, self.store.path)
            except OSError as exc:  # calls go on; the next revision tries again
                log.error("cannot keep the registry snapshot on disk (%s): %s", self.store.path, exc)
        self.store.write_status(stored, "database")

    def _remind(self, error: BaseException | None) -> None:
        stored = self.from_disk
        if stored is None or time.monotonic() - self._reminded < REMIND_EVERY:
            return
        self._reminded = time.monotonic()
        log.warning(
            "still answering from the registry snapshot of %s (r%d, %s old): the database is unreachable%s",
            stored.taken_at.isoformat(timespec="seconds"),
            stored.revision,
            self.age(stored),
            f" ({error})" if error is not None else "",
        )

    def _run(self) -> None:
        self.keep()
        while not self._stop.wait(self.interval):
            error: BaseException | None = None
            try:
                self.refresh()
                self._failing = False
            except Exception as exc:  # the database may be away: keep the last snapshot
                error = exc
                if not self._failing:  # once per outage with its traceback; then the reminders
                    log.exception(
                        "snapshot refresh failed; keeping revision %d", self.holder.current.revision
                    )
                elif self.from_disk is None:
                    log.warning(
                        "snapshot refresh failed; keeping revision %d: %s", self.holder.current.revision, exc
                    )
                self._failing = True
            self.keep()
            self._remind(error)


def store_for(instance_dir: Path, secret: str) -> SnapshotStore:
    return SnapshotStore(Path(instance_dir) / "snapshot", snapshot_key(secret))
