"""The admin pages of events out: a sink made in a form with a write-only secret, its backlog and
dead letters with retry, a test event, and nobody but admins."""

from __future__ import annotations

from sqlalchemy import select

from integrations.models import DEAD, PENDING, Delivery, SinkConfig
from integrations.secretbox import SecretBox
from registry.outbox import read_events
from tests import factories as f
from tests.api_support import bearer
from tests.web_support import csrf_token, login, post_form, text_of, user

URL = "http://127.0.0.1:9/hook"


def make_sink(client) -> SinkConfig:
    resp = post_form(
        client,
        "/admin/sinks/new?kind=webhook",
        {
            "name": "bms-hook",
            "enabled": "y",
            "setting_url": URL,
            "secret_secret": "s3cret-value",
            "max_attempts": "5",
            "max_age_seconds": "3600",
        },
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return resp


def dead_letter(session, sink_id: int) -> Delivery:
    d = Delivery(
        sink_id=sink_id,
        seq=1,
        event_id="00000000-0000-0000-0000-000000000001",
        event_type="call.routed",
        order_key="d1",
        state=DEAD,
        attempts=5,
        last_error="HTTP 500 Internal Server Error",
    )
    session.add(d)
    session.commit()
    return d


def test_an_admin_makes_a_webhook_sink_whose_secret_is_never_shown_again(client, session, app) -> None:
    user(session, "ada")
    login(client, "ada")
    resp = make_sink(client)
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "s3cret-value" not in page and "secret set (never shown)" in page
    sink = session.scalars(select(SinkConfig)).one()
    assert "s3cret-value" not in sink.secrets
    assert SecretBox(app.config["SECRET_KEY"]).open(sink.secrets) == {"secret": "s3cret-value"}
    edit = client.get(f"/admin/sinks/{sink.id}/edit").get_data(as_text=True)
    assert "s3cret-value" not in edit and "leave empty to keep it" in edit
    resp = post_form(
        client,
        f"/admin/sinks/{sink.id}/edit",
        {
            "setting_url": URL + "2",
            "secret_secret": "",
            "enabled": "y",
            "max_attempts": "5",
            "max_age_seconds": "3600",
        },
    )
    assert resp.status_code == 303
    session.expire_all()
    assert SecretBox(app.config["SECRET_KEY"]).open(sink.secrets) == {"secret": "s3cret-value"}
    assert sink.settings["url"] == URL + "2"


def test_a_bad_url_is_shown_on_its_field(client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    resp = post_form(
        client,
        "/admin/sinks/new?kind=webhook",
        {
            "name": "x",
            "setting_url": "ftp://nowhere",
            "secret_secret": "s",
            "max_attempts": "5",
            "max_age_seconds": "3600",
        },
    )
    assert resp.status_code == 422
    assert "an http:// or https:// URL with a host" in resp.get_data(as_text=True)
    assert session.scalars(select(SinkConfig)).first() is None


def test_the_list_shows_backlog_and_dead_letters_and_retry_queues_them_again(client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    make_sink(client)
    sink = session.scalars(select(SinkConfig)).one()
    d = dead_letter(session, sink.id)
    listing = client.get("/admin/sinks/").get_data(as_text=True)
    assert text_of(listing, f"sink-{sink.id}") is not None and "bms-hook" in text_of(
        listing, f"sink-{sink.id}"
    )
    detail = client.get(f"/admin/sinks/{sink.id}/").get_data(as_text=True)
    assert "HTTP 500 Internal Server Error" in text_of(detail, f"dead-{d.id}")
    token = csrf_token(client, f"/admin/sinks/{sink.id}/")
    resp = client.post(f"/admin/sinks/{sink.id}/retry", data={"csrf_token": token, "delivery": d.id})
    assert resp.status_code == 303
    session.expire_all()
    assert (d.state, d.attempts) == (PENDING, 0)
    assert "1 dead letter of bms-hook queued again." in client.get(resp.headers["Location"]).get_data(
        as_text=True
    )


def test_send_test_event_puts_a_sink_test_in_the_outbox(client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    make_sink(client)
    sink = session.scalars(select(SinkConfig)).one()
    token = csrf_token(client, f"/admin/sinks/{sink.id}/")
    assert client.post(f"/admin/sinks/{sink.id}/test", data={"csrf_token": token}).status_code == 303
    events = [e.event for e in read_events(session) if e.event.type == "sink.test"]
    assert [(e.sink_id, e.by) for e in events] == [(sink.id, "ada")]
    assert client.post(f"/admin/sinks/{sink.id}/test").status_code == 400  # no CSRF token


def test_only_admins_see_the_sinks(client, session) -> None:
    site = f.site(session)
    session.commit()
    user(session, "fay", "facility_manager", sites=[site.id])
    login(client, "fay")
    assert client.get("/admin/sinks/").status_code == 403


def test_the_api_lists_sinks_with_their_backlog_and_retries_dead_letters(client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    make_sink(client)
    sink = session.scalars(select(SinkConfig)).one()
    d = dead_letter(session, sink.id)
    auth = bearer(session, "root", role="admin", scopes=["registry:read", "registry:write"])
    body = client.get("/api/v1/sinks", headers=auth).get_json()
    (item,) = body["items"]
    assert (item["name"], item["kind"], item["dead"], item["pending"], item["secrets_set"]) == (
        "bms-hook",
        "webhook",
        1,
        0,
        ["secret"],
    )
    assert "s3cret-value" not in client.get(f"/api/v1/sinks/{sink.id}", headers=auth).get_data(as_text=True)
    letters = client.get(f"/api/v1/sinks/{sink.id}/dead-letters", headers=auth).get_json()
    assert [x["id"] for x in letters["items"]] == [d.id]
    assert client.post(f"/api/v1/sinks/{sink.id}/dead-letters/{d.id}/retry", headers=auth).get_json() == {
        "retried": 1
    }
    assert client.post(f"/api/v1/sinks/{sink.id}/dead-letters/{d.id}/retry", headers=auth).status_code == 404
    assert client.post(f"/api/v1/sinks/{sink.id}/test", headers=auth).status_code == 202
    site = f.site(session)
    session.commit()
    manager = bearer(session, "fm", role="facility_manager", scopes=["registry:read"], sites=[site.id])
    assert client.get("/api/v1/sinks", headers=manager).status_code == 403
