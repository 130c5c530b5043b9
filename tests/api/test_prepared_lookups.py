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


def prepared_here(connection) -> set[str]:
    """The names of the statements prepared on the test's server connection."""
    rows = connection.execute(text("SELECT name FROM pg_prepared_statements"))
    return {name for (name,) in rows if name.startswith("open311_")}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_lookup_is_prepared_once_per_connection(client, connection, filed, fmt):
    before = prepared_here(connection)
    for _ in range(2):
        answer = client.get(url(f"requests/{filed.service_request_id}", fmt))
        assert answer.status_code == 200
        assert "Deep one by the school" in str(body(answer, fmt))
    assert len(prepared_here(connection) - before) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_switched_off_nothing_is_prepared_and_the_answer_is_the_same(
    app, client, connection, filed, fmt
):
    prepared = client.get(url(f"requests/{filed.service_request_id}", fmt)).get_data()
    before = prepared_here(connection)
    app.config["OPEN311_PREPARED_STATEMENTS"] = False
    plain = client.get(url(f"requests/{filed.service_request_id}", fmt))
    assert plain.status_code == 200
    assert plain.get_data() == prepared
    assert prepared_here(connection) == before
    unknown = client.get(url("requests/NO-SUCH-ID", fmt))
    assert unknown.status_code == 404
    assert prepared_here(connection) == before
