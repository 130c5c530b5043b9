"""`open311 user create`: staff users from the command line, on a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner, Result

from open311.cli import main
from open311.db import staff_queries
from open311.db.session import make_engine, make_session_factory
from open311.domain import staff
from open311.errors import Unauthenticated
from tests.factories import make_agency, make_crew, make_jurisdiction
from tests.helpers import scratch_database

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as scratch:
        engine = make_engine(scratch)
        with make_session_factory(engine)() as session:
            make_crew(session, make_agency(session, make_jurisdiction(session), "OCB"), "OCB-CD14")
            session.commit()
        engine.dispose()
        yield scratch


def cli(url: str, *args: str, password: str = PASSWORD) -> Result:
    env = {"DATABASE_URL": url, "OPEN311_NEW_USER_PASSWORD": password}
    return CliRunner().invoke(main, ["user", "create", *args], env=env)


def test_creates_a_crew_member_who_can_sign_in(url):
    result = cli(url, "maria", "--role", "crew_member", "--crew", "OCB/OCB-CD14", "--name", "Maria")
    assert result.exit_code == 0, result.output
    assert "created crew_member maria" in result.output
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        user = staff_queries.get_staff_user(session, "maria")
        assert user.display_name == "Maria" and [c.code for c in user.crews] == ["OCB-CD14"]
        assert PASSWORD not in user.password_hash
        now = datetime.now(UTC)
        token, _plain = staff.login(session, "maria", PASSWORD, now=now, lifetime=timedelta(1))
        assert token.user.id == user.id
        with pytest.raises(Unauthenticated):
            staff.login(session, "maria", "not the password", now=now, lifetime=timedelta(1))
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (("sam", "--role", "crew_member", "--crew", "OCB/NOPE"), PASSWORD, "no crew OCB/NOPE"),
        (("sam", "--role", "crew_member"), PASSWORD, "at least one crew"),
        (("sam", "--role", "supervisor"), "short", "at least 10 characters"),
        (("Sam Smith", "--role", "supervisor"), PASSWORD, "username"),
        (("sam", "--role", "mayor"), PASSWORD, "Invalid value for '--role'"),
    ],
)
def test_refusals_say_why_and_create_nobody(url, args, password, message):
    result = cli(url, *args, password=password)
    assert result.exit_code != 0
    assert message in result.output
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        assert staff_queries.get_staff_user(session, args[0]) is None
    engine.dispose()


def test_a_taken_username_is_refused(url):
    assert cli(url, "dana", "--role", "call_taker").exit_code == 0
    again = cli(url, "dana", "--role", "supervisor")
    assert again.exit_code != 0 and "dana is taken" in again.output
