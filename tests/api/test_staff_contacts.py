"""Contacts through the staff API: recording, listing, reading and ending calls, every role,
every refusal changing nothing, the caller's number shown to supervisors and administrators
only (and their reading it audited), articles counted as answers given in the contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from open311.db.models import ArticleAnswer, AuditEntry, Contact
from open311.values import StaffRole
from tests.api.helpers import bearer, make_staff
from tests.factories import (
    make_agency,
    make_crew,
    make_jurisdiction,
    make_request,
    make_service,
)

API = "/api/v1"
ROLES = [role.value for role in StaffRole]
TAKERS = {"administrator", "supervisor", "call_taker"}
NUMBER = "+1 (512) 555-0142"


@pytest.fixture
def city(db):
    austin = make_jurisdiction(
        db, jurisdiction_id="austintexas.gov", name="Austin", time_zone="America/Chicago"
    )
    austin.bulky = make_service(db, austin, "BULKY-ITEM")
    return austin


@pytest.fixture
def tokens(db, city) -> dict[str, str]:
    crew = make_crew(db, make_agency(db, city))
    found = {}
    for role in ROLES:
        crews = [crew] if role == "crew_member" else []
        _user, token = make_staff(db, role, crews=crews, jurisdictions=[city])
        found[role] = token
    return found


def _as(tokens, role: str) -> dict[str, str]:
    return bearer(tokens[role])


def _count(db, model=Contact) -> int:
    return db.scalar(select(func.count()).select_from(model))


def _record(client, headers, **body: Any) -> dict[str, Any]:
    response = client.post(f"{API}/contacts", json={"channel": "phone"} | body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("role", ROLES)
def test_roles_record(client, db, tokens, role):
    response = client.post(f"{API}/contacts", json={"channel": "phone"}, headers=_as(tokens, role))
    if role in TAKERS:
        assert response.status_code == 201
        assert response.get_json()["staff_user"] == role.replace("_", "-")
    else:
        assert response.status_code == 403
        assert _count(db) == 0


def test_unauthenticated(client, db):
    for method, path in (("post", "/contacts"), ("get", "/contacts"), ("get", "/contacts/1")):
        response = getattr(client, method)(f"{API}{path}", json={"channel": "phone"})
        assert response.status_code == 401
    assert client.patch(f"{API}/contacts/1", json={}).status_code == 401


def test_recorded_live(client, db, tokens):
    before = datetime.now(UTC).replace(microsecond=0)
    found = _record(client, _as(tokens, "call_taker"), language="es_mx", interpreter=True)
    assert found["channel"] == "phone"
    assert found["language"] == "es-MX"
    assert found["interpreter"] is True
    assert found["queued_at"] == found["answered_at"]
    assert datetime.fromisoformat(found["queued_at"].replace("Z", "+00:00")) >= before
    assert found["ended_at"] is None
    assert found["abandoned"] is False
    assert found["jurisdiction_id"] == "austintexas.gov"
    assert "caller_phone" not in found  # a call-taker never sees it
    row = db.get(Contact, found["id"])
    assert row.staff_user_id is not None and row.hold_seconds == 0


def test_recorded_afterwards_with_everything(client, db, tokens, city):
    request = make_request(db, city.bulky)
    body = {
        "channel": "tty",
        "queued_at": _ago(minutes=10),
        "answered_at": _ago(minutes=9),
        "ended_at": _ago(minutes=2),
        "hold_seconds": 45,
        "outcome": "request",
        "caller_phone": NUMBER,
        "service_request_ids": [request.service_request_id],
    }
    found = _record(client, _as(tokens, "supervisor"), **body)
    assert found["caller_phone"] == NUMBER
    assert found["service_request_ids"] == [request.service_request_id]
    assert found["hold_seconds"] == 45
    assert found["queued_at"] == body["queued_at"]
    assert found["ended_at"] == body["ended_at"]


def test_transfer_and_abandoned(client, db, tokens):
    taker = _as(tokens, "call_taker")
    moved = _record(client, taker, outcome="transfer", transfer_agency="Travis County")
    assert moved["transfer_agency"] == "Travis County"
    gone = _record(client, taker, queued_at=_ago(minutes=3), abandoned=True)
    assert gone["abandoned"] is True and gone["answered_at"] is None


BAD = [
    ({"channel": "fax"}, "channel"),
    ({}, "channel"),
    ({"language": "xx-not-a-tag-really-too-long-for-anyone"}, "language"),
    ({"language": "qqq"}, "language"),
    ({"queued_at": "yesterday"}, "queued_at"),
    ({"queued_at": "2026-01-01T10:00:00"}, "queued_at"),  # no zone
    ({"queued_at": "2999-01-01T10:00:00Z"}, "queued_at"),
    ({"queued_at": _ago(minutes=5), "answered_at": _ago(minutes=6)}, "answered_at"),
    ({"queued_at": _ago(minutes=5), "ended_at": _ago(minutes=6)}, "ended_at"),
    (
        {"queued_at": _ago(minutes=5), "answered_at": _ago(minutes=3), "ended_at": _ago(minutes=4)},
        "ended_at",
    ),
    (
        {"abandoned": True, "queued_at": _ago(minutes=2), "answered_at": _ago(minutes=1)},
        "abandoned",
    ),
    ({"abandoned": True, "outcome": "request"}, "outcome"),
    ({"hold_seconds": -1}, "hold_seconds"),
    ({"hold_seconds": "12"}, "hold_seconds"),
    ({"hold_seconds": 90_000}, "hold_seconds"),
    ({"outcome": "transfer"}, "transfer_agency"),
    ({"outcome": "information", "transfer_agency": "County"}, "transfer_agency"),
    ({"outcome": "lunch"}, "outcome"),
    ({"caller_phone": "call me maybe"}, "caller_phone"),
    ({"service_request_ids": ["nope-1"]}, "service_request_ids"),
    ({"article_ids": ["no-such-article"]}, "article_ids"),
    ({"surprise": 1}, "surprise"),
    ({"interpreter": "perhaps"}, "interpreter"),
]


@pytest.mark.parametrize(("extra", "field"), BAD)
def test_bad_input_stores_nothing(client, db, tokens, extra, field):
    body = {"channel": "phone"} | extra
    if "channel" not in extra and extra == {}:
        body = {}
    response = client.post(f"{API}/contacts", json=body, headers=_as(tokens, "call_taker"))
    assert response.status_code == 400, response.get_json()
    assert response.headers["Content-Type"].startswith("application/json")
    text = " ".join(error["description"] for error in response.get_json())
    assert field in text
    assert "Traceback" not in text
    assert _count(db) == 0
    assert _count(db, ArticleAnswer) == 0


def test_another_citys_request_is_refused(client, db, tokens):
    elsewhere = make_jurisdiction(db, jurisdiction_id="elsewhere.gov", name="Elsewhere")
    other = make_request(db, make_service(db, elsewhere, "OTHER"))
    response = client.post(
        f"{API}/contacts",
        json={"channel": "phone", "service_request_ids": [other.service_request_id]},
        headers=_as(tokens, "call_taker"),
    )
    assert response.status_code == 400
    assert _count(db) == 0


def test_articles_count_as_answers_in_the_contact(client, db, tokens, city):
    editor = _as(tokens, "editor")
    article = {
        "article_id": "bulk-item-pickup",
        "variants": {"en": {"title": "Bulk pickup", "body": "<p>At the curb.</p>"}},
    }
    assert client.post(f"{API}/articles", json=article, headers=editor).status_code == 201
    assert (
        client.post(f"{API}/articles/bulk-item-pickup/publish", headers=editor).status_code == 200
    )
    found = _record(
        client,
        _as(tokens, "call_taker"),
        language="es",
        outcome="information",
        article_ids=["bulk-item-pickup"],
    )
    assert found["article_ids"] == ["bulk-item-pickup"]
    answer = db.scalar(select(ArticleAnswer))
    assert answer.contact_id == found["id"]
    assert answer.locale == "es"


def _three(client, tokens) -> list[dict[str, Any]]:
    taker = _as(tokens, "call_taker")
    return [
        _record(client, taker, queued_at=_ago(days=3), outcome="information"),
        _record(client, taker, channel="chat", queued_at=_ago(days=2), abandoned=True),
        _record(client, _as(tokens, "supervisor"), queued_at=_ago(days=1), caller_phone=NUMBER),
    ]


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()]


def test_list_by_role(client, db, tokens):
    first, second, third = _three(client, tokens)
    everything = _ids(client.get(f"{API}/contacts", headers=_as(tokens, "supervisor")))
    assert everything == [third["id"], second["id"], first["id"]]
    own = _ids(client.get(f"{API}/contacts", headers=_as(tokens, "call_taker")))
    assert own == [second["id"], first["id"]]
    for role in ("crew_member", "editor"):
        assert client.get(f"{API}/contacts", headers=_as(tokens, role)).status_code == 403


def test_list_filters(client, db, tokens):
    first, second, third = _three(client, tokens)
    boss = _as(tokens, "administrator")

    def ids(query: str) -> list[int]:
        return _ids(client.get(f"{API}/contacts?{query}", headers=boss))

    assert ids("channel=chat") == [second["id"]]
    assert ids("outcome=information") == [first["id"]]
    assert ids("abandoned=true") == [second["id"]]
    assert ids("abandoned=false") == [third["id"], first["id"]]
    assert ids("staff_user=supervisor") == [third["id"]]
    assert ids("staff_user=nobody") == []
    assert ids(f"start_date={_ago(days=2, minutes=30)}") == [third["id"], second["id"]]
    assert ids(f"end_date={_ago(days=2, minutes=30)}") == [first["id"]]
    assert ids("jurisdiction_id=austintexas.gov") == [third["id"], second["id"], first["id"]]
    # A call-taker asking for someone else's contacts gets none.
    taker = _as(tokens, "call_taker")
    assert _ids(client.get(f"{API}/contacts?staff_user=supervisor", headers=taker)) == []


def test_list_paging(client, db, tokens):
    _three(client, tokens)
    boss = _as(tokens, "supervisor")
    page = client.get(f"{API}/contacts?page_size=2", headers=boss)
    assert len(_ids(page)) == 2
    assert "page=2" in page.headers["Link"]
    last = client.get(f"{API}/contacts?page_size=2&page=2", headers=boss)
    assert len(_ids(last)) == 1 and "Link" not in last.headers


@pytest.mark.parametrize(
    "query",
    [
        "channel=fax",
        "outcome=x",
        "abandoned=maybe",
        "start_date=now",
        "page=0",
        "page_size=501",
        "stauts=open",
        # Fixed dates: a test id made of the clock differs between xdist's workers.
        "start_date=2026-11-02T00:00:00Z&end_date=2026-11-01T00:00:00Z",
    ],
)
def test_list_bad_arguments(client, db, tokens, query):
    response = client.get(f"{API}/contacts?{query}", headers=_as(tokens, "supervisor"))
    assert response.status_code == 400


def test_list_another_city(client, db, tokens):
    make_jurisdiction(db, jurisdiction_id="elsewhere.gov", name="Elsewhere")
    response = client.get(
        f"{API}/contacts?jurisdiction_id=elsewhere.gov", headers=_as(tokens, "supervisor")
    )
    assert response.status_code == 403


def test_caller_phone_only_for_overseers_and_audited(client, db, tokens):
    _first, _second, third = _three(client, tokens)
    audits = _count(db, AuditEntry)
    for role in ("supervisor", "administrator"):
        item = client.get(f"{API}/contacts/{third['id']}", headers=_as(tokens, role)).get_json()
        assert item["caller_phone"] == NUMBER
    reads = db.scalars(
        select(AuditEntry).where(AuditEntry.method == "GET").order_by(AuditEntry.id)
    ).all()
    assert len(reads) == 2 and _count(db, AuditEntry) == audits + 2
    assert [entry.fields for entry in reads] == [["caller_phone"], ["caller_phone"]]
    assert all(NUMBER not in str(entry.details) for entry in reads)
    listed = client.get(f"{API}/contacts", headers=_as(tokens, "supervisor")).get_json()
    assert listed[0]["caller_phone"] == NUMBER
    assert _count(db, AuditEntry) == audits + 3
    # The call-taker's own contacts: no number key at all, nothing audited.
    own = client.get(f"{API}/contacts", headers=_as(tokens, "call_taker")).get_json()
    assert all("caller_phone" not in item for item in own)
    assert _count(db, AuditEntry) == audits + 3


def test_get_one(client, db, tokens):
    first, _second, third = _three(client, tokens)
    taker = _as(tokens, "call_taker")
    assert client.get(f"{API}/contacts/{first['id']}", headers=taker).status_code == 200
    # Another's contact is not found for a call-taker, as an unknown one.
    assert client.get(f"{API}/contacts/{third['id']}", headers=taker).status_code == 404
    assert client.get(f"{API}/contacts/999999999", headers=taker).status_code == 404
    assert client.get(f"{API}/contacts/abc", headers=taker).status_code == 404
    assert client.get(f"{API}/contacts/1", headers=_as(tokens, "editor")).status_code == 403


def test_another_citys_contact_is_not_found(client, db, tokens):
    elsewhere = make_jurisdiction(db, jurisdiction_id="elsewhere.gov", name="Elsewhere")
    _user, token = make_staff(db, "supervisor", username="boss-2", jurisdictions=[elsewhere])
    found = _record(client, bearer(token))
    response = client.get(f"{API}/contacts/{found['id']}", headers=_as(tokens, "supervisor"))
    assert response.status_code == 404


def test_end_a_call(client, db, tokens, city):
    taker = _as(tokens, "call_taker")
    found = _record(client, taker, queued_at=_ago(minutes=8), answered_at=_ago(minutes=7))
    request = make_request(db, city.bulky)
    ended = _ago(minutes=1)
    response = client.patch(
        f"{API}/contacts/{found['id']}",
        json={
            "ended_at": ended,
            "outcome": "request",
            "hold_seconds": 30,
            "service_request_ids": [request.service_request_id],
        },
        headers=taker,
    )
    assert response.status_code == 200, response.get_json()
    done = response.get_json()
    assert done["ended_at"] == ended
    assert done["outcome"] == "request" and done["hold_seconds"] == 30
    assert done["service_request_ids"] == [request.service_request_id]
    assert done["queued_at"] == found["queued_at"]  # untouched
    # A supervisor may correct it too.
    boss = client.patch(
        f"{API}/contacts/{found['id']}",
        json={"hold_seconds": 40},
        headers=_as(tokens, "supervisor"),
    )
    assert boss.status_code == 200 and boss.get_json()["hold_seconds"] == 40


def test_end_refusals_change_nothing(client, db, tokens):
    taker = _as(tokens, "call_taker")
    found = _record(client, taker, queued_at=_ago(minutes=8))
    path = f"{API}/contacts/{found['id']}"
    for body, field in (
        ({"ended_at": _ago(minutes=9)}, "ended_at"),
        ({"outcome": "transfer"}, "transfer_agency"),
        ({"abandoned": True}, "abandoned"),
        ({"ended_at": "2999-01-01T00:00:00Z"}, "ended_at"),
        ({"hold_seconds": -5}, "hold_seconds"),
        ({"jurisdiction_id": "austintexas.gov"}, "jurisdiction_id"),
    ):
        response = client.patch(path, json=body, headers=taker)
        assert response.status_code == 400, body
        assert field in response.get_json()[0]["description"]
    db.expire_all()
    row = db.get(Contact, found["id"])
    assert row.ended_at is None and row.outcome is None and row.hold_seconds == 0
    assert row.abandoned is False
    # Someone else's contact: a call-taker cannot end it.
    _user, other = make_staff(db, "call_taker", username="taker-2")
    assert client.patch(path, json={"hold_seconds": 1}, headers=bearer(other)).status_code == 404


# --- intake records the call ----------------------------------------------------------------------


def _intake(client, headers, **extra: Any):
    body = {
        "service_code": "BULKY-ITEM",
        "address_string": "301 W 2nd St",
        "channel": "tty",
    } | extra
    return client.post(f"{API}/intake/requests", json=body, headers=headers)


def test_intake_records_a_contact(client, db, tokens):
    response = _intake(client, _as(tokens, "call_taker"))
    assert response.status_code == 201, response.get_json()
    filed = response.get_json()["service_request_id"]
    contact = db.scalar(select(Contact))
    assert contact.channel == "tty" and contact.outcome == "request"
    assert contact.answered_at == contact.queued_at and not contact.abandoned
    assert [request.service_request_id for request in contact.requests] == [filed]
    assert contact.staff_user_id is not None and contact.caller_number is None


def test_intake_with_the_calls_times(client, db, tokens):
    call = {
        "queued_at": _ago(minutes=6),
        "answered_at": _ago(minutes=5),
        "hold_seconds": 20,
        "language": "vi",
        "interpreter": True,
    }
    response = _intake(client, _as(tokens, "supervisor"), channel="phone", contact=call)
    assert response.status_code == 201, response.get_json()
    contact = db.scalar(select(Contact))
    assert contact.hold_seconds == 20 and contact.language == "vi" and contact.interpreter
    assert contact.answered_at - contact.queued_at == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"queued_at": _ago(minutes=1), "answered_at": _ago(minutes=2)}, "answered_at"),
        ({"queued_at": "2999-01-01T00:00:00Z"}, "queued_at"),
        ({"hold_seconds": -1}, "hold_seconds"),
        ({"outcome": "transfer"}, "outcome"),  # not the intake's to say
        ({"language": "??"}, "language"),
    ],
)
def test_intake_refuses_a_bad_call_and_files_nothing(client, db, tokens, call, field):
    from open311.db.models import ServiceRequest

    requests = _count(db, ServiceRequest)
    response = _intake(client, _as(tokens, "call_taker"), contact=call)
    assert response.status_code == 400
    assert field in " ".join(error["description"] for error in response.get_json())
    assert _count(db) == 0 and _count(db, ServiceRequest) == requests


def test_an_administrator_erases_and_exports_a_caller_by_phone(client, db, tokens):
    taker = _as(tokens, "call_taker")
    _record(client, taker, caller_phone=NUMBER)
    _record(client, taker, caller_phone="+1 512 555 0143")
    admin = _as(tokens, "administrator")
    exported = client.get(
        f"{API}/privacy/export", query_string={"phone": "5125550142"}, headers=admin
    )
    assert exported.status_code == 200, exported.get_json()
    assert [call["caller_number"] for call in exported.get_json()["contacts"]] == [NUMBER]
    erased = client.post(f"{API}/privacy/erasures", json={"phone": "512-555-0142"}, headers=admin)
    assert erased.status_code == 201, erased.get_json()
    assert erased.get_json()["contacts"] == 1
    numbers = sorted(str(n) for n in db.scalars(select(Contact.caller_number)))
    assert numbers == ["+1 512 555 0143", "None"]
    for body in ({"phone": "0142"}, {"phone": NUMBER, "email": "a@example.org"}, {}):
        refused = client.post(f"{API}/privacy/erasures", json=body, headers=admin)
        assert refused.status_code == 400, body
