"""`open311 privacy retain|erase|export` on a database of its own: retention empties the personal
data of requests closed long ago (batched, idempotent, one audit entry per run), erasure and
export find a person by address or request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from open311.cli import main
from open311.db.models import Activity, AuditEntry, Media, Requester, UpdateAuthor
from open311.db.session import make_engine, make_session_factory
from open311.media.storage import DirectoryStore, new_name
from open311.values import Status
from tests.factories import make_jurisdiction, make_request, make_service
from tests.helpers import scratch_database

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=10)
MAY = {"email": "may.old-9931@example.org", "first_name": "Maybelle", "phone": "+1 213 555 0111"}
NED = {"email": "ned.recent-4417@example.org", "last_name": "Neddleton", "account_id": "acct-77"}
OPAL = {"email": "opal.open-2210@example.org", "phone": "+1 213 555 0122"}


@pytest.fixture
def url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as scratch:
        yield scratch


@pytest.fixture
def session(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def cli(url: str, media: Path, *args: str, **env: str) -> Result:
    environment = {"DATABASE_URL": url, "OPEN311_MEDIA_DIR": str(media)} | env
    return CliRunner().invoke(main, ["privacy", *args], env=environment)


def update(session: Session, request, person: dict[str, str] | None, at: datetime) -> Activity:
    entry = Activity(
        service_request_pk=request.id,
        at=at,
        actor="api:app",
        kind="app_update",
        summary="Update from app",
        details={"description": "Still there"},
    )
    session.add(entry)
    session.flush()
    if person:
        session.add(UpdateAuthor(activity_id=entry.id, **person))
    return entry


def photo(session: Session, store: DirectoryStore, request, entry: Activity | None) -> Media:
    name, thumbnail = new_name(".jpg"), new_name(".jpg")
    for stored in (name, thumbnail):
        store.save(stored, b"jpeg bytes")
    row = Media(
        service_request_pk=request.id,
        activity_id=entry.id if entry is not None else None,
        name=name,
        thumbnail_name=thumbnail,
        content_type="image/jpeg",
        size_bytes=10,
        width=1,
        height=1,
        created_at=request.requested_datetime,
    )
    session.add(row)
    session.flush()
    return row


def publish(session: Session, request, entry: Activity) -> None:
    session.add(
        Activity(
            service_request_pk=request.id,
            at=entry.at,
            actor="staff:dana",
            kind="update_published",
            summary="Still there",
            details={"app_update_id": entry.id},
            public=True,
            status="open",
        )
    )
    session.flush()


def filed(session: Session, service, person, *, status: Status, at: datetime, sr: str):
    request = make_request(
        session,
        service,
        service_request_id=sr,
        status=status,
        requested_datetime=at,
        updated_datetime=at,
    )
    request.requester = Requester(**person, device_id="device-1", language="es")
    session.flush()
    return request


def audit(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def requester_of(session: Session, request) -> tuple:
    session.expire_all()
    row = session.scalar(select(Requester).where(Requester.service_request_pk == request.id))
    return (row.email, row.first_name, row.last_name, row.phone, row.account_id, row.device_id)


def test_retention_empties_requests_closed_long_ago_batch_by_batch_and_only_once(
    url, session, tmp_path
):
    store = DirectoryStore(tmp_path / "media")
    service = make_service(session, make_jurisdiction(session), "POT-01")
    old = filed(session, service, MAY, status=Status.closed, at=OLD, sr="OLD-1")
    old_too = filed(session, service, MAY, status=Status.closed, at=OLD, sr="OLD-2")
    recent = filed(session, service, NED, status=Status.closed, at=RECENT, sr="RECENT-1")
    still_open = filed(session, service, OPAL, status=Status.open, at=OLD, sr="OPEN-1")
    kept_photo = photo(session, store, old, None)  # the request's own: its media_url, public
    secret_update = update(session, old, NED, OLD)  # an author who is also another requester
    secret_photo = photo(session, store, old, secret_update)
    shown_update = update(session, old, None, OLD)
    shown_photo = photo(session, store, old, shown_update)
    publish(session, old, shown_update)
    open_update = update(session, still_open, MAY, OLD)
    open_photo = photo(session, store, still_open, open_update)
    session.commit()
    secret_files = {secret_photo.name, secret_photo.thumbnail_name}

    first = cli(url, tmp_path / "media", "retain", "--batch", "1")
    assert first.exit_code == 0, first.output
    assert "requesters 2, update_authors 1, photos 1" in first.output
    empty = (None,) * 6
    assert requester_of(session, old) == empty
    assert requester_of(session, old_too) == empty
    assert requester_of(session, recent)[0] == NED["email"]
    assert requester_of(session, still_open)[0] == OPAL["email"]
    authors = {row.activity_id: row.email for row in session.scalars(select(UpdateAuthor))}
    assert authors == {secret_update.id: None, open_update.id: MAY["email"]}
    left = {row.id for row in session.scalars(select(Media))}
    assert left == {kept_photo.id, shown_photo.id, open_photo.id}
    files = {path.name for path in (tmp_path / "media").iterdir()}
    assert not secret_files & files
    assert {kept_photo.name, shown_photo.name, open_photo.name} <= files
    (entry,) = audit(session)
    assert (entry.actor, entry.method) == ("system:retention", "RUN")
    assert entry.details == {
        "requesters": 2,
        "update_authors": 1,
        "photos": 1,
        "emails_cancelled": 0,
        "stored_answers": 0,
        "contacts": 0,
    }

    again = cli(url, tmp_path / "media", "retain")
    assert again.exit_code == 0, again.output
    assert "requesters 0, update_authors 0, photos 0" in again.output
    assert [row.details["requesters"] for row in audit(session)] == [2, 0]
    assert requester_of(session, recent)[0] == NED["email"]


def test_retention_days_come_from_the_settings(url, session, tmp_path):
    service = make_service(session, make_jurisdiction(session), "POT-01")
    recent = filed(session, service, NED, status=Status.closed, at=RECENT, sr="RECENT-1")
    session.commit()
    kept = cli(url, tmp_path, "retain", OPEN311_RETENTION_DAYS="30")
    assert kept.exit_code == 0, kept.output
    assert requester_of(session, recent)[0] == NED["email"]
    emptied = cli(url, tmp_path, "retain", OPEN311_RETENTION_DAYS="5")
    assert "requesters 1" in emptied.output
    assert requester_of(session, recent)[0] is None


def test_erase_and_export_from_the_command_line(url, session, tmp_path):
    service = make_service(session, make_jurisdiction(session), "POT-01")
    mine = filed(session, service, MAY, status=Status.open, at=RECENT, sr="SR-1")
    other = filed(session, service, NED, status=Status.open, at=RECENT, sr="SR-2")
    session.commit()

    exported = cli(url, tmp_path, "export", "--email", MAY["email"].upper())
    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.output)
    (held,) = document["requests"]
    assert held["service_request_id"] == "SR-1"
    assert held["requester"]["phone"] == MAY["phone"]
    assert NED["email"] not in exported.output

    erased = cli(url, tmp_path, "erase", "--email", MAY["email"])
    assert erased.exit_code == 0, erased.output
    assert "requesters 1" in erased.output
    assert requester_of(session, mine) == (None,) * 6
    assert requester_of(session, other)[0] == NED["email"]
    after = json.loads(cli(url, tmp_path, "export", "--email", MAY["email"]).output)
    assert after == {"requests": [], "updates": [], "contacts": []}

    entries = audit(session)
    assert [(entry.route, entry.actor.startswith("cli")) for entry in entries] == [
        ("privacy export", True),
        ("privacy erase", True),
        ("privacy export", True),
    ]
    assert entries[1].details["requesters"] == 1
    for entry in entries:
        text = repr([entry.actor, entry.route, entry.path, entry.fields, entry.details])
        assert MAY["email"] not in text.lower()

    unknown = cli(url, tmp_path, "erase", "--request", "NO-SUCH")
    assert unknown.exit_code == 1
    assert "not found" in unknown.output
    neither = cli(url, tmp_path, "erase")
    assert neither.exit_code == 1


def test_a_retention_batch_reads_only_the_rows_still_holding_details(db):
    """20,000 requests closed long ago, all but 50 emptied already: the batch's statement finds
    the 50 through the partial index, never by reading the whole requester table."""
    from open311.db import privacy_queries

    service = make_service(db, make_jurisdiction(db), "POT-01")
    db.execute(
        text(
            "INSERT INTO service_request (jurisdiction_id, service_id, status, "
            "requested_datetime, updated_datetime) SELECT :jurisdiction, :service, 'closed', "
            "now() - interval '2 years', now() - interval '2 years' FROM generate_series(1, 20000)"
        ),
        {"jurisdiction": service.jurisdiction_id, "service": service.id},
    )
    db.execute(
        text(
            "INSERT INTO requester (service_request_pk, email) SELECT id, "
            "CASE WHEN id % 400 = 0 THEN 'held@example.org' END FROM service_request"
        )
    )
    db.execute(text("ANALYZE service_request"))
    db.execute(text("ANALYZE requester"))
    statement = privacy_queries.expired_requesters(NOW - timedelta(days=365), 0, 1000)
    compiled = statement.compile(dialect=postgresql.dialect())
    with db.connection().connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params)
        [plan] = cursor.fetchone()[0]
    nodes = []

    def walk(node: dict) -> None:
        nodes.append((node["Node Type"], node.get("Relation Name"), node.get("Index Name")))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    assert any(index == "ix_requester_personal" for _type, _table, index in nodes), nodes
    assert ("Seq Scan", "requester", None) not in nodes
    assert len(db.scalars(statement).all()) == 50
