"""Contacts in the domain: the rules the database checks are refused first by name, the caller's
number follows the requesters' privacy rules (retention, erasure, export), and the demo's
synthetic contacts have the shapes they claim, once, deterministically, fast."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from open311.db.models import ArticleAnswer, Contact, Jurisdiction, Requester, contact_request
from open311.demo import contacts as demo
from open311.domain import contacts, privacy
from open311.errors import InvalidInput
from open311.values import ContactChannel, ContactOutcome, Status
from tests.factories import make_jurisdiction, make_request, make_service

NOW = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


@pytest.fixture
def city(db):
    return make_jurisdiction(db, jurisdiction_id="austintexas.gov", name="Austin")


def _fields(**given) -> contacts.ContactFields:
    return contacts.ContactFields(**({"channel": ContactChannel.phone} | given))


def test_recorded_live_and_afterwards(db, city):
    live = contacts.record(db, city, None, _fields(language="ES"), NOW)
    assert (live.queued_at, live.answered_at, live.ended_at) == (NOW, NOW, None)
    assert live.language == "es"
    before = NOW - timedelta(hours=1)
    late = contacts.record(
        db, city, None, _fields(queued_at=before, abandoned=True, ended_at=before), NOW
    )
    assert late.answered_at is None and late.abandoned


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"queued_at": NOW + timedelta(seconds=1)}, "queued_at: in the future"),
        ({"answered_at": NOW - timedelta(hours=1)}, "answered_at: before queued_at"),
        ({"ended_at": NOW - timedelta(hours=1)}, "ended_at: before queued_at"),
        (
            {
                "queued_at": NOW - timedelta(hours=2),
                "answered_at": NOW - timedelta(hours=1),
                "ended_at": NOW - timedelta(hours=1, seconds=1),
            },
            "ended_at: before answered_at",
        ),
        ({"abandoned": True, "answered_at": NOW}, "abandoned:"),
        ({"outcome": ContactOutcome.transfer}, "transfer_agency: required"),
        ({"transfer_agency": "County"}, "transfer_agency: only"),
        ({"hold_seconds": -1}, "hold_seconds"),
        ({"language": "nope-nope-nope"}, "language"),
        ({"caller_number": "555 CALL NOW"}, "caller_phone"),
        ({"channel": None}, "channel: required"),
    ],
)
def test_refusals_name_the_field(db, city, given, field):
    with pytest.raises(InvalidInput) as refused:
        contacts.record(db, city, None, _fields(**given), NOW)
    assert field in str(refused.value)
    assert db.scalar(select(func.count()).select_from(Contact)) == 0


def test_the_database_holds_the_same_rules(db, city):
    """What the domain refuses, the table refuses too (a writer going round the domain)."""
    row = Contact(
        jurisdiction_id=city.id,
        channel=ContactChannel.phone,
        queued_at=NOW,
        answered_at=NOW,
        abandoned=True,
    )
    db.add(row)
    with pytest.raises(IntegrityError), db.begin_nested():
        db.flush()


def test_a_change_that_breaks_a_rule_leaves_the_contact_as_it_was(db, city):
    taken = contacts.record(db, city, None, _fields(queued_at=NOW - timedelta(minutes=5)), NOW)
    with pytest.raises(InvalidInput):
        contacts.change(db, city, taken, None, _fields(ended_at=NOW - timedelta(hours=1)), NOW)
    assert taken.ended_at is None
    contacts.change(db, city, taken, None, _fields(ended_at=NOW, hold_seconds=12), NOW)
    assert (taken.ended_at, taken.hold_seconds) == (NOW, 12)


# --- privacy -------------------------------------------------------------------------------------


def _call(db, city, number: str | None, queued: datetime, **extra) -> Contact:
    return contacts.record(
        db, city, None, _fields(queued_at=queued, caller_number=number, **extra), queued
    )


def test_retention_clears_old_caller_numbers_only(db, city):
    old = _call(db, city, "+1 512 555 0101", NOW - timedelta(days=400))
    recent = _call(db, city, "+1 512 555 0102", NOW - timedelta(days=10))
    cursor = privacy.RetentionCursor()
    outcome = privacy.retain_batch(db, cursor, retention_days=365, now=NOW, limit=10)
    assert outcome.contacts == 1 and outcome.counts()["contacts"] == 1
    db.expire_all()
    assert db.get(Contact, old.id).caller_number is None
    assert db.get(Contact, recent.id).caller_number == "+1 512 555 0102"
    # The contact itself stays: it is the statistics.
    assert db.get(Contact, old.id).queued_at == NOW - timedelta(days=400)
    again = privacy.retain_batch(
        db, privacy.RetentionCursor(), retention_days=365, now=NOW, limit=10
    )
    assert again.contacts == 0


def test_erasure_clears_the_persons_calls(db, city):
    service = make_service(db, city, "BULKY-ITEM")
    mine = make_request(db, service, status=Status.open)
    db.add(Requester(service_request_pk=mine.id, email="may@example.org", phone="(512) 555-0199"))
    db.flush()
    same_number = _call(db, city, "+15125550199", NOW - timedelta(days=3))
    linked = _call(db, city, "+1 737 555 0100", NOW - timedelta(days=2))
    linked.requests.append(mine)
    stranger = _call(db, city, "+1 512 555 0142", NOW - timedelta(days=1))
    short = _call(db, city, "0199", NOW - timedelta(days=1))  # too short to be anyone's
    db.flush()
    held = privacy.find_person(db, email="MAY@example.org")
    assert {call.id for call in held.contacts} == {same_number.id, linked.id}
    exported = privacy.export(db, held)
    assert sorted(call["caller_number"] for call in exported["contacts"]) == [
        "+1 737 555 0100",
        "+15125550199",
    ]
    assert [c["service_request_ids"] for c in exported["contacts"] if c["service_request_ids"]] == [
        [mine.service_request_id]
    ]
    outcome = privacy.erase(db, held)
    assert outcome.contacts == 2
    db.expire_all()
    assert db.get(Contact, same_number.id).caller_number is None
    assert db.get(Contact, linked.id).caller_number is None
    assert db.get(Contact, stranger.id).caller_number == "+1 512 555 0142"
    assert db.get(Contact, short.id).caller_number == "0199"


# --- the demo's synthetic contacts ----------------------------------------------------------------


@pytest.fixture
def connection(demo_connection: Connection) -> Iterator[Connection]:
    savepoint = demo_connection.begin_nested()
    yield demo_connection
    savepoint.rollback()


def test_demo_contacts_have_their_shapes(db: Session):
    la = db.scalar(select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org"))
    started = time.monotonic()
    report = demo.seed_demo_contacts(db, datetime.now(UTC))
    seconds = time.monotonic() - started
    assert seconds < 3, seconds
    assert report[0].startswith("lacity.org contacts: ")
    rows = db.scalars(select(Contact).where(Contact.jurisdiction_id == la.id)).all()
    total = len(rows)
    assert 2000 < total < 4000
    channels = Counter(row.channel for row in rows)
    assert channels[ContactChannel.phone] / total > 0.65
    assert all(channels[channel] for channel in ContactChannel if channel is not ContactChannel.app)
    spanish = sum(1 for row in rows if row.language == "es") / total
    assert 0.2 < spanish < 0.36
    queued = [row for row in rows if row.channel in demo.QUEUED]
    abandoned = sum(1 for row in queued if row.abandoned) / len(queued)
    assert 0.04 < abandoned < 0.1
    waits = sorted(
        (row.answered_at - row.queued_at).total_seconds()
        for row in rows
        if row.channel is ContactChannel.phone and row.answered_at is not None
    )
    median, p90 = waits[len(waits) // 2], waits[len(waits) * 9 // 10]
    assert median < 30 < p90  # skewed: most answered in half a minute, a long tail
    assert all(row.external_id.startswith("DEMO-") for row in rows)
    assert all(row.ended_at is None or row.ended_at >= row.queued_at for row in rows)
    oldest = min(row.queued_at for row in rows)
    assert datetime.now(UTC) - oldest <= timedelta(days=61)
    transfers = [row for row in rows if row.outcome is ContactOutcome.transfer]
    assert transfers and all(row.transfer_agency for row in transfers)
    # Information calls answered by the city's articles, request calls linked to requests.
    answered = db.scalar(
        select(func.count())
        .select_from(ArticleAnswer)
        .join(Contact, Contact.id == ArticleAnswer.contact_id)
        .where(Contact.jurisdiction_id == la.id)
    )
    assert answered > 500
    linked = db.scalar(
        select(func.count())
        .select_from(contact_request)
        .join(Contact, Contact.id == contact_request.c.contact_id)
        .where(Contact.jurisdiction_id == la.id)
    )
    assert linked > 100

    # Again: nothing added.
    again = demo.seed_demo_contacts(db, datetime.now(UTC))
    assert "none added" in again[0]
    assert db.scalar(select(func.count()).select_from(Contact)) == total


def test_demo_contacts_are_deterministic(db: Session):
    la = db.scalar(select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org"))
    start = datetime(2026, 10, 1, tzinfo=UTC)
    made = [
        demo._make_calls(random.Random("x"), la, demo.CITIES[0], start, start + timedelta(60))
        for _ in range(2)
    ]
    assert made[0] == made[1]


def test_erasure_by_phone_number_alone(db, city):
    """Someone who only ever phoned is found by their number, however it was written."""
    service = make_service(db, city, "BULKY-ITEM")
    filed = make_request(db, service, status=Status.open)
    db.add(Requester(service_request_pk=filed.id, first_name="Ned", phone="512.555.0177"))
    db.flush()
    called = _call(db, city, "+1 (512) 555-0177", NOW - timedelta(days=1))
    other = _call(db, city, "+1 512 555 0178", NOW - timedelta(days=1))
    with pytest.raises(InvalidInput, match="phone: at least 10 digits"):
        privacy.find_person(db, phone="555-0177")
    with pytest.raises(InvalidInput, match="give either"):
        privacy.find_person(db, phone="5125550177", email="ned@example.org")
    held = privacy.find_person(db, phone="512 555 0177")
    assert [row.first_name for row in held.requesters] == ["Ned"]
    assert [call.id for call in held.contacts] == [called.id]
    outcome = privacy.erase(db, held)
    assert (outcome.requesters, outcome.contacts) == (1, 1)
    db.expire_all()
    assert db.get(Contact, called.id).caller_number is None
    assert db.get(Contact, other.id).caller_number == "+1 512 555 0178"
    assert (
        db.scalar(select(Requester.phone).where(Requester.service_request_pk == filed.id)) is None
    )
