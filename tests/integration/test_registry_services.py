"""Registry use cases against a real database: validation, conflicts, scoping, change log."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from registry.accounts import actor_for_user, create_user
from registry.actors import Actor
from registry.choices import ChangeAction, Role
from registry.errors import Conflict, Forbidden, NotFound, ValidationFailed
from registry.models import ChangeLog, Device
from registry.queries import device_by_ani, device_query
from registry.services import create_object, delete_object, update_object
from tests import factories as f


def test_device_number_is_normalised_with_the_trunk_region(session) -> None:
    est = f.estate(session)
    uk = f.trunk(session, name="BT", source_addresses=["127.0.0.3"], default_region="GB")
    dev = f.device(session, est["site"].id, ani="020 7946 0958", kind="door_intercom", trunk=uk.id)
    assert dev.ani == "+442079460958"
    # without a trunk, the site's country decides
    dev2 = f.device(session, est["site"].id, ani="030 2390 5601", kind="door_intercom")
    assert dev2.ani == "+493023905601"
    assert dev2.test_interval_hours is None
    assert est["device"].test_interval_hours == 72


def test_duplicate_ani_is_refused_with_the_existing_id(session) -> None:
    est = f.estate(session)
    with pytest.raises(Conflict) as info:
        f.device(session, est["site"].id, ani="tel:+49-30-1234-5678", kind="door_intercom")
    assert info.value.existing_id == est["device"].id
    assert f"registered to device {est['device'].id}" in str(info.value)


def test_bad_input_reports_every_field(session) -> None:
    f.estate(session)
    with pytest.raises(ValidationFailed) as info:
        f.device(session, "no-such-site", ani="12", kind="toaster", test_interval_hours="soon")
    assert info.value.errors == {
        "site": "no site 'no-such-site'",
        "kind": "'toaster' is not one of: elevator_phone, car_park_help_point, door_intercom, "
        "emergency_phone, other",
        "test_interval_hours": "'soon' is not a whole number",
        "ani": "'12' is too short: a local number needs its area code",
    }


def test_lift_phone_must_test_call_at_least_every_72_hours(session) -> None:
    est = f.estate(session)
    with pytest.raises(ValidationFailed) as info:
        update_object(session, f.ADMIN, "device", est["device"].id, {"test_interval_hours": 96})
    assert "EN 81-28" in info.value.errors["test_interval_hours"]


def test_every_change_leaves_a_change_log_row(session) -> None:
    est = f.estate(session)
    actor = Actor.system("api", "alice").with_source("api", request_id="req-1")
    dev = est["device"]
    update_object(session, actor, "device", dev.id, {"notes": "key at reception", "status": "maintenance"})
    delete_object(session, actor, "device", dev.id)
    session.commit()
    rows = session.scalars(
        select(ChangeLog).where(ChangeLog.object_type == "device", ChangeLog.object_id == dev.id)
    ).all()
    assert [r.action for r in rows] == [ChangeAction.CREATE, ChangeAction.UPDATE, ChangeAction.DELETE]
    create, update, delete = rows
    assert create.before is None and create.after["ani"] == "+493012345678"
    assert (update.before["notes"], update.after["notes"]) == ("", "key at reception")
    assert (update.before["status"], update.after["status"]) == ("active", "maintenance")
    assert (update.actor, update.source, update.request_id) == ("alice", "api", "req-1")
    assert delete.after is None and delete.before["notes"] == "key at reception"


def test_an_update_that_changes_nothing_is_not_logged(session) -> None:
    est = f.estate(session)
    update_object(session, f.ADMIN, "device", est["device"].id, {"notes": ""})
    n = session.scalars(select(ChangeLog).where(ChangeLog.action == ChangeAction.UPDATE)).all()
    assert n == []


def test_delete_of_a_site_in_use_is_refused(session) -> None:
    est = f.estate(session)
    with pytest.raises(Conflict, match="still used by 1 device"):
        delete_object(session, f.ADMIN, "site", est["site"].id)


def test_trunk_addresses_are_normalised_and_unique(session) -> None:
    t = f.trunk(session, name="carrier", source_addresses=["10.1.2.3/32", "192.0.2.77/24"])
    assert t.source_addresses == ["10.1.2.3", "192.0.2.0/24"]
    with pytest.raises(ValidationFailed, match="already belongs to trunk 'carrier'"):
        f.trunk(session, name="other", source_addresses=["10.1.2.3"])
    with pytest.raises(ValidationFailed, match="not an IP address"):
        f.trunk(session, name="bad", source_addresses=["pbx.example"])


def _manager(session, site_slug: str) -> Actor:
    user = create_user(
        session, f"fm-{site_slug}", "correct horse battery", Role.FACILITY_MANAGER, [site_slug]
    )
    return actor_for_user(user, "api")


def test_facility_manager_sees_and_changes_only_own_sites(session) -> None:
    est = f.estate(session)
    other = f.site(session, name="Other", slug="other")
    other_dev = f.device(session, other.id, ani="+493099887766", kind="door_intercom")
    fm = _manager(session, "tower-a")
    assert [d.id for d in session.scalars(device_query(fm))] == [est["device"].id]
    with pytest.raises(NotFound):
        update_object(session, fm, "device", other_dev.id, {"notes": "x"})
    with pytest.raises(NotFound):
        device_by_ani(session, fm, "+493099887766")
    with pytest.raises(ValidationFailed, match="no site 'other'"):
        create_object(session, fm, "device", {"ani": "+493011112222", "kind": "other", "site": "other"})
    # moving an own device to a foreign site is refused the same way
    with pytest.raises(ValidationFailed, match="no site"):
        update_object(session, fm, "device", est["device"].id, {"site": other.id})
    with pytest.raises(Forbidden):
        create_object(
            session,
            fm,
            "trunk",
            {"name": "x", "source_addresses": ["127.0.0.9"], "trust": "trusted", "default_region": "DE"},
        )
    own = create_object(session, fm, "device", {"ani": "+493011112222", "kind": "other", "site": "tower-a"})
    assert own.site_id == est["site"].id


def test_operator_reads_own_center_sites_and_cannot_write(session) -> None:
    est = f.estate(session)
    other_center = f.center(session, name="Elsewhere")
    f.site(session, name="Far", slug="far", day_center=other_center.id)
    user = create_user(session, "op", "correct horse battery", Role.OPERATOR, center=est["center"].id)
    op = actor_for_user(user, "api")
    assert [d.ani for d in session.scalars(device_query(op))] == ["+493012345678"]
    with pytest.raises(Forbidden, match="read-only"):
        update_object(session, op, "device", est["device"].id, {"notes": "x"})


def test_token_scopes_narrow_the_owner(session) -> None:
    est = f.estate(session)
    reader = Actor.system("api").__class__(
        name="reader", role=Role.ADMIN, source="api", scopes=frozenset({"registry:read"})
    )
    assert session.get(Device, est["device"].id) is not None
    with pytest.raises(Forbidden, match="registry:write"):
        update_object(session, reader, "device", est["device"].id, {"notes": "x"})


def test_nul_characters_are_refused_not_stored(session) -> None:
    est = f.estate(session)
    with pytest.raises(ValidationFailed) as info:
        update_object(session, f.ADMIN, "device", est["device"].id, {"notes": "key\x00at reception"})
    assert info.value.errors == {"notes": "must not contain NUL characters"}


def test_a_lone_surrogate_is_refused_with_its_reason_not_a_database_error(session) -> None:
    est = f.estate(session)
    with pytest.raises(ValidationFailed) as info:  # JSON allows "\ud800"; no database stores it
        update_object(session, f.ADMIN, "device", est["device"].id, {"notes": "key \ud800 at reception"})
    assert info.value.errors == {"notes": "must be valid Unicode text (a lone surrogate half was given)"}
    session.rollback()
    assert session.get(Device, est["device"].id).notes == ""  # type: ignore[union-attr]


def test_test_ani_is_read_like_the_ani_and_never_shared(session) -> None:
    est = f.estate(session)
    uk = f.trunk(session, name="BT", source_addresses=["127.0.0.3"], default_region="GB")
    help_point = f.device(
        session, est["site"].id, ani="020 7946 0958", test_ani="020 7946 0959", kind="other", trunk=uk.id
    )
    assert (help_point.ani, help_point.test_ani) == ("+442079460958", "+442079460959")
    lift = est["device"]
    with pytest.raises(Conflict) as info:
        update_object(session, f.ADMIN, "device", lift.id, {"test_ani": "+44 20 7946 0958"})
    assert (info.value.field, info.value.existing_id) == ("test_ani", help_point.id)
    assert info.value.message == f"test ANI +442079460958 is already the ANI of device {help_point.id}"
    with pytest.raises(Conflict) as info:
        update_object(session, f.ADMIN, "device", lift.id, {"ani": "+44 20 7946 0959"})
    assert (info.value.field, info.value.existing_id) == ("ani", help_point.id)
    assert info.value.message == f"ANI +442079460959 is already the test ANI of device {help_point.id}"
    # swapping its own two numbers is no conflict with itself
    swapped = update_object(
        session, f.ADMIN, "device", help_point.id, {"ani": "+442079460959", "test_ani": "+442079460958"}
    )
    assert (swapped.ani, swapped.test_ani) == ("+442079460959", "+442079460958")


def test_test_call_marker_is_a_header_name_with_an_optional_value(session) -> None:
    t = f.trunk(session, test_call_marker="  Call-Info :\tanswer-after=0 ")
    assert t.test_call_marker == "Call-Info: answer-after=0"
    t = update_object(session, f.ADMIN, "trunk", t.id, {"test_call_marker": "X-Test-Call"})
    assert t.test_call_marker == "X-Test-Call"
    message = "a SIP header name (letters, digits and -.!%*_+`'~), optionally followed by ': value'"
    for bad in ("X Test", "X-Test:", ": test", "X-Test: a\x01b", "Tést"):
        with pytest.raises(ValidationFailed) as info:
            update_object(session, f.ADMIN, "trunk", t.id, {"test_call_marker": bad})
        assert info.value.errors == {"test_call_marker": message}, bad
    with pytest.raises(ValidationFailed) as info:
        update_object(session, f.ADMIN, "trunk", t.id, {"test_call_marker": "X:" + "v" * 198})
    assert info.value.errors == {"test_call_marker": "at most 200 characters"}  # "X: vvv..." is 201


def test_maintenance_contacts_and_test_receivers_are_sip_uris(session) -> None:
    est = f.estate(session)
    with pytest.raises(ValidationFailed) as info:
        update_object(
            session, f.ADMIN, "site", est["site"].id, {"maintenance_contact": "http://lifts.example"}
        )
    assert info.value.errors == {"maintenance_contact": "not a sip: or sips: URI: 'http://lifts.example'"}
    with pytest.raises(ValidationFailed) as info:
        f.dnis_rule(session, line="test", target_uri="tel:+493023905099")
    assert info.value.errors == {"target_uri": "not a sip: or sips: URI: 'tel:+493023905099'"}
    with pytest.raises(ValidationFailed) as info:
        f.device(session, est["site"].id, ani="+493023905601", kind="other", maintenance_contact="lifts")
    assert info.value.errors == {"maintenance_contact": "not a sip: or sips: URI: 'lifts'"}


def test_rule_cleaners_require_their_fields(session) -> None:
    with pytest.raises(ValidationFailed) as info:
        create_object(session, f.ADMIN, "dnis_rule", {"number": " ", "priority": "high"})
    assert info.value.errors == {
        "number": "required",
        "line": "required",
        "priority": "'high' is not one of: emergency, urgent, normal, non-urgent",
    }
    with pytest.raises(ValidationFailed) as info:
        create_object(
            session, f.ADMIN, "number_list_entry", {"pattern": "+4930*", "expires_at": "2030-01-01"}
        )
    assert info.value.errors == {
        "kind": "required",
        "expires_at": "needs a UTC offset (e.g. 2026-12-01T08:00:00+01:00)",
    }
    with pytest.raises(ValidationFailed) as info:
        create_object(
            session, f.ADMIN, "flood_rule", {"device_kind": "toaster", "max_calls": 0, "effect": "panic"}
        )
    assert info.value.errors == {
        "scope": "required",
        "device_kind": "'toaster' is not one of: elevator_phone, car_park_help_point, door_intercom, "
        "emergency_phone, other",
        "max_calls": "must be between 1 and 100000",
        "window_seconds": "required",
        "effect": "'panic' is not one of: urgent, abuse, flag",
    }


def test_a_site_that_a_trunk_adds_pending_devices_to_cannot_be_deleted(session) -> None:
    other = f.site(session, name="Tower B", slug="tower-b")
    t = f.trunk(session, pending_site="tower-b")
    assert t.pending_site_id == other.id
    with pytest.raises(Conflict, match="still used by 1 trunk") as info:
        delete_object(session, f.ADMIN, "site", other.id)
    assert info.value.field == "pending_site_id"
