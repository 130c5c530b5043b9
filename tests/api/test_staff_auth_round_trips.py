"""A staff call reads its token, user, crews and cities in one statement (issue 16: three
round trips per call were most of what the crews' queue cost beyond its own query), and what
it reads is the state of that moment: a token revoked or a crew taken away is refused by the
very next call, as nothing is kept between calls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, event

from open311.domain import staff
from open311.values import StaffRole
from tests.api.helpers import bearer, make_staff
from tests.factories import make_agency, make_crew, make_jurisdiction

AUTH_TABLES = ("staff_token", "staff_user_crew", "staff_user_jurisdiction")


@pytest.fixture
def statements(connection: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        seen.append(statement)

    event.listen(connection, "before_cursor_execute", note)
    yield seen
    event.remove(connection, "before_cursor_execute", note)


def test_a_queue_call_authenticates_in_one_statement(client, db, statements):
    jurisdiction = make_jurisdiction(db)
    agency = make_agency(db, jurisdiction, "BSS")
    crews = [make_crew(db, agency, "CD1"), make_crew(db, agency, "CD2")]
    _user, plain = make_staff(db, StaffRole.crew_member, crews=crews, jurisdictions=[jurisdiction])
    statements.clear()
    response = client.get("/api/v1/work-orders", headers=bearer(plain))
    assert response.status_code == 200
    reading_auth = [s for s in statements if any(table in s for table in AUTH_TABLES)]
    assert len(reading_auth) == 1
    assert all(table in reading_auth[0] for table in AUTH_TABLES)


def test_a_revoked_token_is_refused_by_the_next_call(client, db):
    jurisdiction = make_jurisdiction(db)
    crew = make_crew(db, make_agency(db, jurisdiction, "BSS"), "CD1")
    user, plain = make_staff(db, StaffRole.crew_member, crews=[crew], jurisdictions=[jurisdiction])
    assert client.get("/api/v1/work-orders", headers=bearer(plain)).status_code == 200
    staff.revoke_all(db, user, now=datetime.now(UTC))
    db.flush()
    assert client.get("/api/v1/work-orders", headers=bearer(plain)).status_code == 401


def test_a_crew_taken_away_is_out_of_scope_at_the_next_call(client, db):
    jurisdiction = make_jurisdiction(db)
    agency = make_agency(db, jurisdiction, "BSS")
    kept, taken = make_crew(db, agency, "CD1"), make_crew(db, agency, "CD2")
    user, plain = make_staff(
        db, StaffRole.crew_member, crews=[kept, taken], jurisdictions=[jurisdiction]
    )
    path = f"/api/v1/work-orders?crew={taken.id}"
    assert client.get(path, headers=bearer(plain)).status_code == 200
    user.crews.remove(taken)
    db.flush()
    assert client.get(path, headers=bearer(plain)).status_code == 403
