"""GET requests/{id} runs as a statement prepared once per server connection, unless
OPEN311_PREPARED_STATEMENTS=off: a pooler in transaction mode (pgbouncer 1.18) may run the next
transaction on another server connection, where no statement was prepared. Both ways answer the
same, in both formats."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.api.helpers import FORMATS, body, url
from tests.factories import make_jurisdiction, make_request, make_service


@pytest.fixture
def filed(db):
    city = make_jurisdiction(db)
    pothole = make_service(db, city, "POT-01", service_name="Pothole")
    return make_request(db, pothole, description="Deep one by the school")


@pytest.fixture
def unprepared(connection):
    """The test's server connection with no statement prepared: earlier tests on the same
    pooled connection may have prepared the lookup already (its names are kept in the pooled
    connection's info, which must forget them too)."""
    connection.exec_driver_sql("DEALLOCATE ALL")
    connection.connection.info.pop("open311.prepared", None)
    return connection


def prepared_here(connection) -> set[str]:
    """The names of the statements prepared on the test's server connection."""
    rows = connection.execute(text("SELECT name FROM pg_prepared_statements"))
    return {name for (name,) in rows if name.startswith("open311_")}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_lookup_is_prepared_once_per_connection(client, unprepared, filed, fmt):
    assert prepared_here(unprepared) == set()
    for _ in range(2):
        answer = client.get(url(f"requests/{filed.service_request_id}", fmt))
        assert answer.status_code == 200
        assert "Deep one by the school" in str(body(answer, fmt))
        assert len(prepared_here(unprepared)) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_switched_off_nothing_is_prepared_and_the_answer_is_the_same(
    app, client, unprepared, filed, fmt
):
    app.config["OPEN311_PREPARED_STATEMENTS"] = False
    plain = client.get(url(f"requests/{filed.service_request_id}", fmt))
    assert plain.status_code == 200
    unknown = client.get(url("requests/NO-SUCH-ID", fmt))
    assert unknown.status_code == 404
    assert prepared_here(unprepared) == set()
    app.config["OPEN311_PREPARED_STATEMENTS"] = True
    prepared = client.get(url(f"requests/{filed.service_request_id}", fmt))
    assert len(prepared_here(unprepared)) == 1
    assert prepared.get_data() == plain.get_data()
