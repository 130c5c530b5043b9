"""The demo's staff accounts (`make run` prints them): one per console screen, for Los Angeles,
made once, their password working, the crew member on every field crew of the city."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from open311.db.models import Agency, Crew, Jurisdiction, StaffUser
from open311.demo.staff_accounts import ACCOUNTS, ensure_demo_staff
from open311.domain import staff
from open311.errors import Unauthenticated
from open311.values import CrewKind, StaffRole


@pytest.fixture
def connection(demo_connection):
    outer = demo_connection.begin_nested()
    yield demo_connection
    outer.rollback()


def test_the_accounts_are_made_once_and_sign_in_with_the_password(db):
    made = ensure_demo_staff(db, "a demo password 311")
    assert made == [name for name, _role, _title in ACCOUNTS]
    assert ensure_demo_staff(db, "another password 311") == []  # left alone
    now = datetime.now(UTC)
    for name, role, _title in ACCOUNTS:
        token, _plain = staff.login(
            db, name, "a demo password 311", now=now, lifetime=timedelta(hours=1)
        )
        assert token.user.role == role
        assert [city.jurisdiction_id for city in token.user.jurisdictions] == ["lacity.org"]
    with pytest.raises(Unauthenticated):
        staff.login(db, "demo-desk", "another password 311", now=now, lifetime=timedelta(hours=1))


def test_the_crew_member_is_on_every_field_crew_of_los_angeles(db):
    ensure_demo_staff(db, "a demo password 311")
    crew_member = db.scalars(select(StaffUser).where(StaffUser.username == "demo-crew")).one()
    assert crew_member.role == StaffRole.crew_member
    field_crews = db.scalars(
        select(Crew.id)
        .join(Agency)
        .join(Jurisdiction, Agency.jurisdiction_id == Jurisdiction.id)
        .where(Jurisdiction.jurisdiction_id == "lacity.org", Crew.kind == CrewKind.field)
    ).all()
    assert field_crews and sorted(c.id for c in crew_member.crews) == sorted(field_crews)
