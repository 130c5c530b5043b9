"""The floor: the same SQL through bare psycopg2, its rows turned into the same document.

What an API call could cost at the least on this machine and data: one round trip for the
statement the API runs (plain columns instead of ORM entities), then json.dumps of the same
GeoReport items, or csv.writer for an export. No HTTP, no framework, no ORM.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from loadgen import Outcome
from sqlalchemy.engine import URL

# The GeoReport request fields, in the order the API renders them, as plain columns.
REQUEST_COLUMNS = """
    r.service_request_id, r.status, r.status_notes, s.service_name, s.service_code,
    r.description, r.agency_responsible, r.service_notice,
    r.requested_datetime, r.updated_datetime, r.expected_datetime,
    r.address, r.address_id, r.zipcode, ST_Y(r.location), ST_X(r.location), r.media_url"""
REQUEST_FROM = "service_request r JOIN service s ON s.id = r.service_id"
FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
DATETIME_FIELDS = (8, 9, 10)


def connect(dsn: dict[str, Any], autocommit: bool = True) -> Any:
    """A psycopg2 connection with the app's own session settings: whatever open311's
    make_engine asks of PostgreSQL (time zone, no JIT, no parallel query...) holds for the
    floor too, so both sides run the SQL under the same planner settings. Only the connection
    comes from the engine (NullPool: no pooling); the floor's calls are bare psycopg2."""
    from sqlalchemy.pool import NullPool

    from open311.db.session import make_engine

    url = URL.create(
        "postgresql+psycopg2",
        username=dsn["user"],
        password=dsn.get("password"),
        host=dsn["host"],
        port=dsn["port"],
        database=dsn["dbname"],
    ).render_as_string(hide_password=False)
    engine = make_engine(url, poolclass=NullPool)
    wrapper = engine.raw_connection()
    connection = wrapper.dbapi_connection
    _KEEP.append((engine, wrapper))  # the wrapper closes the connection when collected
    connection.autocommit = autocommit  # reads: one statement per call, as the API's
    return connection


_KEEP: list[Any] = []


def w3c(moment: datetime | None) -> str | None:
    """The API's rendering: second precision, UTC, `Z` (the connection runs in UTC)."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def item(row: Sequence[Any], fields: Sequence[str] = FIELDS) -> dict[str, Any]:
    """The GeoReport item of a row of REQUEST_COLUMNS (then `fields` beyond FIELDS, e.g.
    distance); columns after those (a keyset's key) are left out."""
    values = list(row[: len(fields)])
    for i in DATETIME_FIELDS:
        values[i] = w3c(values[i])
    return dict(zip(fields, values, strict=True))


def render(rows: Sequence[Sequence[Any]], fields: Sequence[str] = FIELDS) -> bytes:
    document = [item(row, fields) for row in rows]
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class QueryFloor:
    """One SELECT per call; `params()` gives each call's parameters (a random id, now()...)."""

    def __init__(
        self,
        dsn: dict[str, Any],
        sql: str,
        params: Callable[[], Sequence[Any] | dict[str, Any]],
        extra: Sequence[str] = (),
    ):
        self.connection = connect(dsn)
        self.cursor = self.connection.cursor()
        self.sql = sql
        self.params = params
        self.fields = (*FIELDS, *extra)

    def call(self) -> Outcome:
        self.cursor.execute(self.sql, self.params())
        rows = self.cursor.fetchall()
        body = render(rows, self.fields)
        return Outcome(ok=bool(body), nbytes=len(body), rows=len(rows))

    def close(self) -> None:
        self.connection.close()


class KeysetFloor:
    """The change feed: page after page by (updated_datetime, id) from a deep start key,
    back to the start when the feed runs out. The last two columns of `sql` are the key."""

    def __init__(self, dsn: dict[str, Any], sql: str, fixed: Sequence[Any], start: tuple):
        self.connection = connect(dsn)
        self.cursor = self.connection.cursor()
        self.sql, self.fixed, self.start = sql, tuple(fixed), start
        self.key = start

    def call(self) -> Outcome:
        self.cursor.execute(self.sql, self.fixed + self.key)
        rows = self.cursor.fetchall()
        body = render(rows)
        self.key = tuple(rows[-1][-2:]) if rows else self.start
        return Outcome(ok=bool(body), nbytes=len(body), rows=len(rows))

    def close(self) -> None:
        self.connection.close()


class _NullSink:
    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


class ExportFloor:
    """The export's SELECT through a named (server-side) cursor, rows to csv.writer, to nowhere."""

    def __init__(
        self,
        dsn: dict[str, Any],
        sql: str,
        params: Sequence[Any],
        header: Sequence[str],
        datetime_columns: Sequence[int],
    ):
        self.connection = connect(dsn, autocommit=False)  # a named cursor needs a transaction
        self.sql, self.params, self.header = sql, tuple(params), list(header)
        self.datetime_columns = tuple(datetime_columns)
        self.calls = 0

    def call(self) -> Outcome:
        self.calls += 1
        sink = _NullSink()
        writer = csv.writer(sink)
        writer.writerow(self.header)
        rows = 0
        with self.connection.cursor(name=f"export_{self.calls}") as cursor:
            cursor.itersize = 2000
            cursor.execute(self.sql, self.params)
            for row in cursor:
                values = list(row)
                for i in self.datetime_columns:
                    values[i] = w3c(values[i])
                writer.writerow(values)
                rows += 1
        self.connection.commit()
        return Outcome(ok=sink.size > 0, nbytes=sink.size, rows=rows)

    def close(self) -> None:
        self.connection.close()


class PostFloor:
    """What storing a routed request costs at the least: INSERT the row, the district lookup
    the API runs (district_queries.DISTRICTS_AT), INSERT its request_district rows, COMMIT."""

    INSERT = """
        INSERT INTO service_request
            (jurisdiction_id, service_id, status, description, agency_responsible,
             requested_datetime, updated_datetime, location, attribute_values, channel,
             api_client_id, needs_location)
        VALUES (%s, %s, 'open', %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326),
                %s::jsonb, 'api', %s, false)
        RETURNING id, service_request_id"""

    def __init__(
        self,
        dsn: dict[str, Any],
        districts_sql: str,
        jurisdiction_pk: int,
        api_client_pk: int,
        submissions: Sequence[dict[str, Any]],
        offset: int,
    ):
        self.connection = connect(dsn, autocommit=False)
        self.cursor = self.connection.cursor()
        self.districts_sql = districts_sql
        self.jurisdiction_pk, self.api_client_pk = jurisdiction_pk, api_client_pk
        self.submissions = submissions
        self.next = offset

    def call(self) -> Outcome:
        sub = self.submissions[self.next % len(self.submissions)]
        self.next += 1
        now = datetime.now(UTC)
        cur = self.cursor
        cur.execute(
            self.INSERT,
            (
                self.jurisdiction_pk,
                sub["service_pk"],
                sub["description"],
                sub["agency"],
                now,
                now,
                sub["long"],
                sub["lat"],
                json.dumps(sub["answers"]),
                self.api_client_pk,
            ),
        )
        request_pk, service_request_id = cur.fetchone()
        cur.execute(
            self.districts_sql,
            {"lat": sub["lat"], "long": sub["long"], "jurisdiction": self.jurisdiction_pk},
        )
        placed = cur.fetchall()
        if placed:
            values = ",".join(["(%s, %s, %s)"] * len(placed))
            flat: list[Any] = []
            for layer_id, _layer, district_id, _district in placed:
                flat += [request_pk, layer_id, district_id]
            cur.execute(
                "INSERT INTO request_district (service_request_pk, layer_id, district_id) "
                f"VALUES {values}",
                flat,
            )
        self.connection.commit()
        body = json.dumps(
            [{"service_request_id": service_request_id, "service_notice": None, "account_id": None}]
        ).encode()
        return Outcome(ok=True, nbytes=len(body), rows=1)

    def close(self) -> None:
        self.connection.close()


def window(days: int = 90) -> tuple[datetime, datetime]:
    end = datetime.now(UTC)
    return end - timedelta(days=days), end
