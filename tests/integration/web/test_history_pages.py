"""The call and alarm history pages (``/calls/``, ``/alarms/``): what each role sees, the filters
(the calling number in any written form, time ranges read as UTC), the call's identity as received
with the alarms it raised, and an alarm's transitions. Calls reach the database through the
recorder, alarms through the app's alarm engine."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from registry.actors import Actor
from registry.choices import Role
from tests import factories as f
from tests.integration.web.history_support import T0, XSS, XSS_ESCAPED, Calls, lift_record, minutes
from tests.web_support import login, text_of, user

_CALL_ROW = re.compile(r'<tr id="call-(\d+)">')
_ALARM_ROW = re.compile(r'<tr id="alarm-(\d+)">')


def html(resp: Any) -> str:
    assert resp.status_code == 200, resp.status_code
    return str(resp.get_data(as_text=True))


def cells(page: str, element_id: str, tag: str = "td") -> list[str]:
    """The text of each ``tag`` element in the element ``element_id`` (a row's cells, a select's options)."""
    match = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert match, f"no element #{element_id}"
    found = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", match.group(2), re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in found]


def call_ids(page: str) -> list[int]:
    return [int(i) for i in _CALL_ROW.findall(page)]


def alarm_ids(page: str) -> list[int]:
    return [int(i) for i in _ALARM_ROW.findall(page)]


@pytest.fixture
def est(session) -> dict[str, Any]:
    """Tower A (Berlin Control) with its lift phone, and Harbour (Hamburg Control) with an intercom."""
    e = f.estate(session)
    e["other_center"] = f.center(session, name="Hamburg Control", sip_uris=["sip:hh@127.0.0.1:5071"])
    e["other_site"] = f.site(
        session,
        name="Harbour",
        slug="harbour",
        day_center=e["other_center"].id,
        out_of_hours_center=e["other_center"].id,
    )
    e["other_device"] = f.device(session, e["other_site"].id, ani="+494012345678", kind="emergency_phone")
    session.commit()
    return e


@pytest.fixture
def calls(services, tmp_path) -> Calls:
    return Calls(services, tmp_path / "journal")


def harbour_record(est: dict[str, Any], n: int, **kw: Any) -> dict[str, Any]:
    dev, center = est["other_device"], est["other_center"]
    return (
        lift_record(
            est,
            n,
            ani=dev.ani,
            ani_raw=f"<tel:{dev.ani}>",
            display_name="Harbour gate",
            device_id=dev.id,
            site_id=est["other_site"].id,
            center_id=center.id,
            targets=list(center.sip_uris),
            target_center_ids=[center.id],
            reason="registered device at site Harbour",
        )
        | kw
    )


def recorded(session, calls: Calls, *records: dict[str, Any]) -> list[int]:
    """Record the calls; their ids in the order given."""
    from sqlalchemy import select

    from routing.models import CallRecord

    calls.record(*records)
    session.expire_all()
    by_record = dict(session.execute(select(CallRecord.record_id, CallRecord.id)).all())
    return [by_record[r["record_id"]] for r in records]


# ---- the call list ---------------------------------------------------------------------------------


def test_the_call_list_shows_every_call_newest_first_with_its_device_site_center_and_flags(
    client, session, est, calls
) -> None:
    test_call = lift_record(est, 1, T0, test_call=True, line="test", priority="non-urgent")
    flagged = lift_record(
        est,
        2,
        T0 + minutes(5),
        anomalies=[{"code": "wrong_trunk", "severity": "warning", "evidence": {"expected_trunk": "x"}}],
    )
    harbour = harbour_record(est, 3, received_at=(T0 + minutes(10)).isoformat())
    first, second, third = recorded(session, calls, test_call, flagged, harbour)
    user(session, "ada", "admin")
    login(client, "ada")

    page = html(client.get("/calls/"))
    assert call_ids(page) == [third, second, first]
    assert cells(page, f"call-{second}") == [
        "2026-11-26 03:05:00 UTC",
        "+493012345678 Lift 1 Tower A",
        "+493012345678",
        "Tower A",
        "Berlin Control",
        "302",
        "1 anomaly",
        "registered device at site Tower A; day center Berlin Control",
    ]
    assert "test call" in (text_of(page, f"call-{first}") or "")
    assert f'href="/devices/{est["device"].id}/"' in page
    assert f'href="/calls/{second}/"' in page
    assert "UTC" in (text_of(page, "calls-intro") or "")


@pytest.mark.parametrize("written", ["+49 30 1234-5678", "030 12345678", "0049 30 12345678"])
def test_the_calling_number_is_found_in_any_written_form(client, session, est, calls, written) -> None:
    ours, _theirs = recorded(session, calls, lift_record(est, 1), harbour_record(est, 2))
    user(session, "ada", "admin")
    login(client, "ada")

    page = html(client.get("/calls/", query_string={"ani": written}))
    assert call_ids(page) == [ours]
    assert text_of(page, "ani-normalised") == "+493012345678"


def test_a_calling_number_that_is_not_a_number_shows_its_error_next_to_the_field(
    client, session, est, calls
) -> None:
    recorded(session, calls, lift_record(est, 1))
    user(session, "ada", "admin")
    login(client, "ada")

    page = html(client.get("/calls/", query_string={"ani": "lift 3 please"}))
    assert "is not a telephone number" in (text_of(page, "error-ani") or "")
    assert call_ids(page) == []
    assert text_of(page, "calls-invalid") == "Correct the filters above to see calls."


def test_the_time_range_is_read_as_utc_from_inclusive_until_exclusive(client, session, est, calls) -> None:
    ids = recorded(session, calls, *(lift_record(est, n, T0 + minutes(10 * n)) for n in range(4)))
    user(session, "ada", "admin")
    login(client, "ada")

    page = html(
        client.get("/calls/", query_string={"since": "2026-11-26T03:10", "until": "2026-11-26T03:30"})
    )
    assert call_ids(page) == [ids[2], ids[1]]
    page = html(client.get("/calls/", query_string={"since": "2026-11-26T03:20:00"}))
    assert call_ids(page) == [ids[3], ids[2]]
    page = html(client.get("/calls/", query_string={"until": "yesterday"}))
    assert text_of(page, "error-until") and call_ids(page) == []


def test_device_site_and_center_filters_narrow_the_list(client, session, est, calls) -> None:
    ours, theirs = recorded(session, calls, lift_record(est, 1), harbour_record(est, 2))
    user(session, "ada", "admin")
    login(client, "ada")

    assert call_ids(html(client.get("/calls/", query_string={"device": est["device"].id}))) == [ours]
    assert call_ids(html(client.get("/calls/", query_string={"site": est["other_site"].id}))) == [theirs]
    assert call_ids(html(client.get("/calls/", query_string={"center": est["center"].id}))) == [ours]
    # a value that cannot be an id finds nothing, never everything
    assert call_ids(html(client.get("/calls/", query_string={"site": "99999999999"}))) == []


def test_the_call_list_pages_newest_first(client, session, est, calls) -> None:
    ids = recorded(session, calls, *(lift_record(est, n, T0 + minutes(n)) for n in range(55)))
    user(session, "ada", "admin")
    login(client, "ada")

    first = html(client.get("/calls/"))
    assert call_ids(first) == ids[::-1][:50]
    assert "Page 1 of 2 · 55 calls" in first
    assert call_ids(html(client.get("/calls/", query_string={"page": 2}))) == ids[::-1][50:]


# ---- scoping ---------------------------------------------------------------------------------------


def test_an_operator_of_another_center_sees_none_of_the_calls_and_a_404_on_their_detail(
    client, session, est, calls
) -> None:
    ours, theirs = recorded(session, calls, lift_record(est, 1), harbour_record(est, 2))
    user(session, "hana", "operator", center=est["other_center"].id)
    login(client, "hana")

    page = html(client.get("/calls/"))
    assert call_ids(page) == [theirs]
    assert "+493012345678" not in page
    resp = client.get(f"/calls/{ours}/")
    assert resp.status_code == 404 and "Not found" in resp.get_data(as_text=True)
    assert client.get(f"/calls/{theirs}/").status_code == 200
    # the selects offer only what the operator may see
    assert "Tower A" not in (text_of(page, "site") or "") and "Harbour" in (text_of(page, "site") or "")
    assert cells(page, "center", "option") == ["Any", "Hamburg Control"]


def test_a_facility_manager_sees_only_the_calls_and_alarms_of_their_sites(
    client, session, est, calls
) -> None:
    ours, theirs = recorded(session, calls, lift_record(est, 1), harbour_record(est, 2))
    user(session, "fay", "facility_manager", sites=[est["site"].id])
    login(client, "fay")

    assert call_ids(html(client.get("/calls/"))) == [ours]
    assert client.get(f"/calls/{theirs}/").status_code == 404
    alarms = html(client.get("/alarms/"))
    assert len(alarm_ids(alarms)) == 1 and "Lift emergency call" in alarms
    harbour_alarm = _alarm_of(session, est["other_device"].id)
    assert client.get(f"/alarms/{harbour_alarm}/").status_code == 404


def test_an_integration_account_sees_no_history_page_and_no_link(client, session, est) -> None:
    user(session, "pbx", "integration")
    login(client, "pbx")
    assert client.get("/calls/").status_code == 403
    assert client.get("/alarms/").status_code == 403
    user(session, "olga", "operator", center=est["center"].id)
    client.post("/logout")
    login(client, "olga")
    page = html(client.get("/calls/"))
    assert 'href="/calls/" aria-current="page">Calls</a>' in page and 'href="/alarms/"' in page


# ---- the call detail -------------------------------------------------------------------------------


def test_the_call_detail_shows_the_identity_as_received_the_decision_and_the_alarm_it_raised(
    client, session, est, calls
) -> None:
    evidence = {
        "code": "wrong_trunk",
        "severity": "warning",
        "evidence": {"expected_trunk": "pstn-1", "hops": 2},
    }
    (call_id,) = recorded(session, calls, lift_record(est, 1, anomalies=[evidence]))
    user(session, "olga", "operator", center=est["center"].id)
    login(client, "olga")

    page = html(client.get(f"/calls/{call_id}/"))
    assert text_of(page, "prop-ani") == "+493012345678"
    assert text_of(page, "prop-ani_source") == "pai-tel"
    assert text_of(page, "prop-ani_raw") == "<tel:+493012345678>"
    assert text_of(page, "prop-presented_number") == "+493099999999"
    assert text_of(page, "prop-display_name") == "Lift 1 Tower A"
    assert text_of(page, "prop-privacy") == "id"
    assert text_of(page, "prop-attestation") == "B"
    assert text_of(page, "prop-identity_verified") == "yes"
    assert text_of(page, "prop-source") == "127.0.0.1:5062"
    assert text_of(page, "prop-transport") == "UDP"
    assert text_of(page, "prop-trunk") == "loopback"
    assert text_of(page, "prop-dnis") == "+493023905000"
    assert text_of(page, "prop-targets") == "sip:berlin@127.0.0.1:5070"
    assert text_of(page, "prop-priority") == "emergency"
    assert text_of(page, "prop-latency") == "0.180 ms"
    assert [cells(page, "anomalies", tag) for tag in ("td", "dt", "dd")] == [
        ["wrong_trunk", "warning", "expected_trunk pstn-1 hops 2"],
        ["expected_trunk", "hops"],
        ["pstn-1", "2"],
    ]
    alarm_id = _alarm_of(session, est["device"].id)
    raised = text_of(page, "raised-alarms") or ""
    assert f"#{alarm_id} Lift emergency call · Critical" in raised and "Call on the wrong trunk" in raised
    assert f'href="/alarms/{alarm_id}/"' in page


# ---- alarms ------------------------------------------------------------------------------------------


def _alarm_of(session, device_id: int) -> int:
    from sqlalchemy import select

    from alarms.models import Alarm

    session.expire_all()
    emergency = Alarm.kind.in_(["lift_emergency", "emergency_call"])
    return int(session.scalars(select(Alarm.id).where(Alarm.device_id == device_id, emergency)).one())


def _operator(est: dict[str, Any], name: str = "olga") -> Actor:
    return Actor(name=name, role=Role.OPERATOR, source="web", user_id=None, center_id=est["center"].id)


def test_the_alarm_list_filters_by_state_kind_and_site(client, services, session, est, calls) -> None:
    recorded(session, calls, lift_record(est, 1), harbour_record(est, 2))
    lift, gate = _alarm_of(session, est["device"].id), _alarm_of(session, est["other_device"].id)
    services.alarms.reset(session, _operator(est), lift, "false alarm, checked by phone")
    session.commit()
    user(session, "ada", "admin")
    login(client, "ada")

    page = html(client.get("/alarms/"))
    assert alarm_ids(page) == [gate, lift]
    row = text_of(page, f"alarm-{lift}") or ""
    assert "Lift emergency call" in row and "Closed" in row and "Tower A" in row and "A / Lift 1" in row
    assert alarm_ids(html(client.get("/alarms/", query_string={"state": "open"}))) == [gate]
    assert alarm_ids(html(client.get("/alarms/", query_string={"state": "closed"}))) == [lift]
    assert alarm_ids(html(client.get("/alarms/", query_string={"kind": "lift_emergency"}))) == [lift]
    assert alarm_ids(html(client.get("/alarms/", query_string={"site": est["other_site"].id}))) == [gate]
    assert alarm_ids(html(client.get("/alarms/", query_string={"since": "2026-11-26T03:01"}))) == []
    assert alarm_ids(html(client.get("/alarms/", query_string={"until": "2026-11-26T03:01"}))) == [gate, lift]


def test_the_alarm_detail_shows_the_place_the_triggering_call_and_the_transitions_after_acknowledge(
    client, services, session, est, calls
) -> None:
    (call_id,) = recorded(session, calls, lift_record(est, 1))
    alarm_id = _alarm_of(session, est["device"].id)
    services.alarms.acknowledge(session, _operator(est), alarm_id, "on my way")
    session.commit()
    user(session, "olga", "operator", center=est["center"].id)
    login(client, "olga")

    page = html(client.get(f"/alarms/{alarm_id}/"))
    assert text_of(page, "prop-kind") == "Lift emergency call"
    assert text_of(page, "prop-state") == "Latched (awaiting rescue ended)"
    assert text_of(page, "prop-place") == "A / Lift 1"
    assert text_of(page, "prop-site") == "Tower A"
    assert text_of(page, "prop-call") == "2026-11-26 03:00:00 UTC from +493012345678 (Lift 1 Tower A)"
    assert f'href="/calls/{call_id}/"' in page
    assert "by olga" in (text_of(page, "prop-acked") or "")
    transitions = text_of(page, "transitions") or ""
    assert "Raised — → Active, unacknowledged anigate" in transitions
    assert (
        "Acknowledged Active, unacknowledged → Latched (awaiting rescue ended) olga on my way" in transitions
    )
    assert 'href="/console/"' in page

    user(session, "hana", "operator", center=est["other_center"].id)
    client.post("/logout")
    login(client, "hana")
    assert client.get(f"/alarms/{alarm_id}/").status_code == 404
    assert alarm_ids(html(client.get("/alarms/"))) == []


# ---- escaping ------------------------------------------------------------------------------------------


def test_a_hostile_display_name_is_shown_as_text_on_the_list_the_call_and_the_alarm(
    client, session, est, calls
) -> None:
    (call_id,) = recorded(session, calls, lift_record(est, 1, display_name=XSS, reason=XSS))
    alarm_id = _alarm_of(session, est["device"].id)
    user(session, "ada", "admin")
    login(client, "ada")

    for path in ("/calls/", f"/calls/{call_id}/"):
        page = html(client.get(path))
        assert XSS_ESCAPED in page and XSS not in page, path
    # the alarm detail names its triggering call with the caller's display name
    page = html(client.get(f"/alarms/{alarm_id}/"))
    assert XSS_ESCAPED in (page) and XSS not in page
