"""The registry snapshot file: signed, atomic, owner-only; refused when changed, foreign or damaged."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import pickle
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from routing import snapshot_file
from routing.policy import decide
from routing.snapshot import EMPTY, SnapshotHolder
from routing.snapshot_file import (
    MAGIC,
    KeepingRefresher,
    SnapshotFileError,
    SnapshotStore,
    StoredSnapshot,
    describe_age,
    dumps,
    loads,
    snapshot_key,
)
from tests.unit.routing.test_policy import LIFT, build, centers, facts

KEY = snapshot_key("instance-secret")
TAKEN = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def stored() -> StoredSnapshot:
    return StoredSnapshot(build(), TAKEN)


def test_a_saved_snapshot_loads_back_and_routes_the_same(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshot", KEY)
    original = stored()
    store.save(original)
    back = store.load()
    assert back is not None
    assert back.revision == 7
    assert back.taken_at == TAKEN
    assert centers(decide(back.snapshot, facts(LIFT))) == centers(decide(original.snapshot, facts(LIFT)))
    assert back.snapshot.trunk_for("127.0.0.1") == original.snapshot.trunk_for("127.0.0.1")


def test_the_snapshot_file_is_owner_only_in_an_owner_only_folder(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshot", KEY)
    store.save(stored())
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert [p.name for p in store.path.parent.iterdir()] == ["registry.snapshot"]  # no temp file left


def test_saving_again_replaces_the_file_whole(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshot", KEY)
    store.save(stored())
    store.save(StoredSnapshot(EMPTY, TAKEN + timedelta(hours=1)))
    back = store.load()
    assert back is not None
    assert (back.revision, back.taken_at) == (0, TAKEN + timedelta(hours=1))


def test_no_file_is_no_snapshot(tmp_path: Path) -> None:
    assert SnapshotStore(tmp_path / "snapshot", KEY).load() is None


def test_a_changed_byte_is_refused_before_anything_is_unpickled() -> None:
    data = bytearray(dumps(stored(), KEY))
    data[-10] ^= 0x01
    with pytest.raises(SnapshotFileError, match="signature does not verify"):
        loads(bytes(data), KEY)


def test_a_file_signed_with_another_secret_key_is_refused() -> None:
    data = dumps(stored(), snapshot_key("another-secret"))
    with pytest.raises(SnapshotFileError, match="signature does not verify"):
        loads(data, KEY)


def test_a_pickle_without_the_signature_is_refused() -> None:
    with pytest.raises(SnapshotFileError, match="not a registry snapshot file"):
        loads(pickle.dumps({"snapshot": build()}), KEY)


def test_a_truncated_file_is_refused() -> None:
    data = dumps(stored(), KEY)
    with pytest.raises(SnapshotFileError):
        loads(data[: len(data) // 2], KEY)
    with pytest.raises(SnapshotFileError, match="not a registry snapshot file"):
        loads(MAGIC + b"short", KEY)


def test_a_signed_file_of_another_layout_is_refused() -> None:
    payload = pickle.dumps(
        {"layout": "old", "revision": 7, "taken_at": TAKEN.isoformat(), "snapshot": build()}
    )
    data = MAGIC + hmac.new(KEY, MAGIC + payload, hashlib.sha256).digest() + payload
    with pytest.raises(SnapshotFileError, match="another version"):
        loads(data, KEY)


def test_a_refused_file_is_logged_and_treated_as_absent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SnapshotStore(tmp_path / "snapshot", KEY)
    store.save(stored())
    data = bytearray(store.path.read_bytes())
    data[len(MAGIC) + 40] ^= 0xFF
    store.path.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="routing.snapshot_file"):
        assert store.load() is None
    assert f"registry snapshot {store.path} refused: its signature does not verify" in caplog.text


def test_the_status_file_says_what_the_worker_answers_from(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshot", KEY)
    store.write_status(stored(), "disk")
    status = json.loads(store.status_path.read_text())
    assert (status["revision"], status["taken_at"], status["source"]) == (7, TAKEN.isoformat(), "disk")
    assert stat.S_IMODE(store.status_path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59, "59 s"),
        (61, "1 min 1 s"),
        (600, "10 min"),
        (3 * 3600 + 5 * 60, "3 h 5 min"),
        (2 * 86400 + 4 * 3600, "2 d 4 h"),
    ],
)
def test_the_age_reads_as_a_person_would_say_it(seconds: int, text: str) -> None:
    assert describe_age(seconds) == text


class Unreachable:
    """A session factory whose database is away."""

    def __call__(self) -> None:
        raise ConnectionRefusedError("connection refused")


def test_a_refresher_started_from_disk_answers_from_it_and_says_how_old_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SnapshotStore(tmp_path / "snapshot", KEY)
    store.save(stored())
    holder = SnapshotHolder()
    now = [TAKEN + timedelta(minutes=12)]
    refresher = KeepingRefresher(holder, Unreachable(), store, clock=lambda: now[0])  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="routing.snapshot_file"):
        assert refresher.start_from_disk() is not None
        assert holder.current.revision == 7
        assert (
            "answering from the registry snapshot of 2026-11-25T09:30:00+00:00 (r7, 12 min old)"
            in caplog.text
        )
        monkeypatch.setattr(snapshot_file, "REMIND_EVERY", 0.0)
        now[0] += timedelta(hours=1)
        with pytest.raises(ConnectionRefusedError):
            refresher.refresh()
        refresher._remind(ConnectionRefusedError("connection refused"))
    assert "WARNING" in caplog.text
    assert "still answering from the registry snapshot of 2026-11-25T09:30:00+00:00 (r7, 1 h 12 min old)" in (
        caplog.text
    )
    assert holder.current.revision == 7  # a failed refresh keeps it
    assert json.loads(store.status_path.read_text())["source"] == "disk"


def test_without_a_usable_file_the_refresher_has_nothing_to_start_from(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshot", KEY)
    holder = SnapshotHolder()
    refresher = KeepingRefresher(holder, Unreachable(), store)  # type: ignore[arg-type]
    assert refresher.start_from_disk() is None
    assert holder.current is EMPTY
