"""The request statistics' rollups in SQL: the requests as last read, their days, the refresh.

The state (`stats_request`) holds a published request's times and groups; a request counts as
closed at its updated_datetime when its status is closed (GeoReport has no closing time of its
own, and the last change of a closed request is its closing). What the public reads do not show
(blackbox services, unless OPEN311_PUBLISH_BLACKBOX) is not in the state at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg2.extras import execute_values
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from open311.db.models import (
    BoundaryLayer,
    RoutingRule,
    StatsRefresh,
    StatsRequest,
    StatsRequestDay,
)

# The request as the rollup sees it; `:since` NULL reads every request of the jurisdiction.
_CURRENT = """
    SELECT r.id, r.requested_datetime,
           CASE WHEN r.status = 'closed'
                THEN greatest(r.updated_datetime, r.requested_datetime) END,
           r.expected_datetime, s.service_code, r.agency_responsible, r.channel,
           coalesce((SELECT array_agg(rd.district_id ORDER BY rd.layer_id)
                     FROM request_district rd WHERE rd.service_request_pk = r.id), '{}')
    FROM service_request r JOIN service s ON s.id = r.service_id
    WHERE r.jurisdiction_id = :jurisdiction
      AND (CAST(:since AS timestamptz) IS NULL OR r.updated_datetime > :since)
      AND (:blackbox OR s.type <> 'blackbox')
"""

_STATE_COLUMNS = (
    "service_request_pk, requested_at, closed_at, expected_at, service_code, agency, channel,"
    " district_ids"
)


@dataclass(frozen=True)
class RequestState:
    """A request's times and groups, as the rollup counts it."""

    pk: int
    requested_at: datetime
    closed_at: datetime | None
    expected_at: datetime | None
    service_code: str
    agency: str | None
    channel: str | None
    district_ids: tuple[int, ...]


def _state(row: Sequence[Any]) -> RequestState:
    return RequestState(row[0], row[1], row[2], row[3], row[4], row[5], row[6], tuple(row[7] or ()))


def find_current(
    session: Session, jurisdiction_pk: int, since: datetime | None, blackbox: bool
) -> list[RequestState]:
    """The published requests updated after `since` (all when None), as they are now."""
    rows = session.execute(
        text(_CURRENT), {"jurisdiction": jurisdiction_pk, "since": since, "blackbox": blackbox}
    )
    return [_state(row) for row in rows]


def find_changed_pks(session: Session, jurisdiction_pk: int, since: datetime) -> list[int]:
    """Every request updated after `since`, published or not (one may have left the state)."""
    return list(
        session.scalars(
            text(
                "SELECT id FROM service_request"
                " WHERE jurisdiction_id = :jurisdiction AND updated_datetime > :since"
            ),
            {"jurisdiction": jurisdiction_pk, "since": since},
        )
    )


def find_state(session: Session, pks: Sequence[int]) -> dict[int, RequestState]:
    """The state rows of these requests, by request pk."""
    if not pks:
        return {}
    rows = session.execute(
        text(f"SELECT {_STATE_COLUMNS} FROM stats_request WHERE service_request_pk = ANY(:pks)"),
        {"pks": list(pks)},
    )
    return {row[0]: _state(row) for row in rows}


def save_state(session: Session, jurisdiction_pk: int, states: Iterable[RequestState]) -> None:
    """Insert or replace the state rows of these requests."""
    rows = [
        (
            s.pk,
            jurisdiction_pk,
            s.requested_at,
            s.closed_at,
            s.expected_at,
            s.service_code,
            s.agency,
            s.channel,
            list(s.district_ids),
        )
        for s in states
    ]
    if not rows:
        return
    cursor = session.connection().connection.cursor()
    execute_values(
        cursor,
        "INSERT INTO stats_request (service_request_pk, jurisdiction_id, requested_at, closed_at,"
        " expected_at, service_code, agency, channel, district_ids) VALUES %s"
        " ON CONFLICT (service_request_pk) DO UPDATE SET"
        " requested_at = excluded.requested_at, closed_at = excluded.closed_at,"
        " expected_at = excluded.expected_at, service_code = excluded.service_code,"
        " agency = excluded.agency, channel = excluded.channel,"
        " district_ids = excluded.district_ids",
        rows,
        template="(%s, %s, %s, %s, %s, %s, %s, %s, %s::int[])",
        page_size=5000,
    )


def delete_state(session: Session, pks: Sequence[int]) -> None:
    if pks:
        session.execute(delete(StatsRequest).where(StatsRequest.service_request_pk.in_(pks)))


def rebuild_state(session: Session, jurisdiction_pk: int, blackbox: bool) -> int:
    """Replace the jurisdiction's whole state with its requests as they are now, in SQL."""
    session.execute(delete(StatsRequest).where(StatsRequest.jurisdiction_id == jurisdiction_pk))
    result = session.execute(
        text(
            f"INSERT INTO stats_request (service_request_pk, requested_at, closed_at,"
            f" expected_at, service_code, agency, channel, district_ids,"
            f" jurisdiction_id) SELECT *, :jurisdiction FROM ({_CURRENT}) AS current"
        ),
        {"jurisdiction": jurisdiction_pk, "since": None, "blackbox": blackbox},
    )
    return result.rowcount  # type: ignore[attr-defined, no-any-return]


def find_open_during(
    session: Session, jurisdiction_pk: int, start: datetime, end: datetime
) -> list[RequestState]:
    """The state rows of the requests opened before `end` and not closed before `start`: every
    request a day of [start, end) opens, closes or holds in its backlog."""
    rows = session.execute(
        text(
            f"SELECT {_STATE_COLUMNS} FROM stats_request WHERE jurisdiction_id = :jurisdiction"
            " AND coalesce(closed_at, 'infinity'::timestamptz) >= :start"
            " AND requested_at < :end"
        ),
        {"jurisdiction": jurisdiction_pk, "start": start, "end": end},
    )
    return [_state(row) for row in rows]


def first_requested(session: Session, jurisdiction_pk: int) -> datetime | None:
    return session.scalar(
        text("SELECT min(requested_at) FROM stats_request WHERE jurisdiction_id = :j"),
        {"j": jurisdiction_pk},
    )


def district_names(session: Session, jurisdiction_pk: int) -> dict[int, tuple[int, str]]:
    """district id -> (its layer's id, its name), for the jurisdiction's layers."""
    rows = session.execute(
        text(
            "SELECT d.id, d.layer_id, d.name FROM district d"
            " JOIN boundary_layer l ON l.id = d.layer_id WHERE l.jurisdiction_id = :j"
        ),
        {"j": jurisdiction_pk},
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def replace_days(
    session: Session,
    jurisdiction_pk: int,
    first: date,
    last: date,
    rows: Iterable[tuple[Any, ...]],
) -> int:
    """Replace the jurisdiction's day rows of [first, last] by `rows` (dimension, group, day,
    opened, closed, with_expected, on_time, close_hours bytes, backlog, median requested s)."""
    session.execute(
        delete(StatsRequestDay).where(
            StatsRequestDay.jurisdiction_id == jurisdiction_pk,
            StatsRequestDay.day.between(first, last),
        )
    )
    values = [(jurisdiction_pk, *row) for row in rows]
    if values:
        cursor = session.connection().connection.cursor()
        execute_values(
            cursor,
            "INSERT INTO stats_request_day (jurisdiction_id, dimension, group_value, day, opened,"
            " closed, closed_with_expected, closed_on_time, close_hours, backlog,"
            " backlog_median_requested_s) VALUES %s",
            values,
            page_size=5000,
        )
    return len(values)


def find_days(
    session: Session, jurisdiction_pk: int, dimension: str, first: date, last: date
) -> list[tuple[Any, ...]]:
    """(group, day, opened, closed, with_expected, on_time, close_hours, backlog, median
    requested s) of a dimension's days in [first, last], by group and day."""
    cursor = session.connection().connection.cursor()
    cursor.execute(
        "SELECT group_value, day, opened, closed, closed_with_expected, closed_on_time,"
        " close_hours, backlog, backlog_median_requested_s FROM stats_request_day"
        " WHERE jurisdiction_id = %s AND dimension = %s AND day BETWEEN %s AND %s"
        " ORDER BY group_value, day",
        (jurisdiction_pk, dimension, first, last),
    )
    return cursor.fetchall()


def find_backlog_before(
    session: Session, jurisdiction_pk: int, dimension: str, day: date
) -> list[tuple[str, date, int, float | None]]:
    """Each group's last day row before `day` (group, day, backlog, median requested s): the
    backlog a period without a row of its own carries over."""
    rows = session.execute(
        text(
            "SELECT DISTINCT ON (group_value) group_value, day, backlog, backlog_median_requested_s"
            " FROM stats_request_day WHERE jurisdiction_id = :j AND dimension = :d"
            " AND day < :day ORDER BY group_value, day DESC"
        ),
        {"j": jurisdiction_pk, "d": dimension, "day": day},
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def group_names(session: Session, jurisdiction_pk: int, dimension: str) -> dict[str, str]:
    """group value -> what it is called: service codes' names, district names' titles (a
    "district/<layer id>" dimension); nothing for agencies and channels, named by themselves."""
    if dimension == "service_code":
        statement = "SELECT service_code, service_name FROM service WHERE jurisdiction_id = :j"
        params: dict[str, Any] = {"j": jurisdiction_pk}
    elif dimension.startswith("district/"):
        statement = "SELECT name, coalesce(title, name) FROM district WHERE layer_id = :layer"
        params = {"layer": int(dimension.split("/", 1)[1])}
    else:
        return {}
    return {row[0]: row[1] for row in session.execute(text(statement), params)}


def get_refresh(session: Session, jurisdiction_pk: int) -> StatsRefresh | None:
    return session.get(StatsRefresh, jurisdiction_pk)


def lock_refresh(session: Session, jurisdiction_pk: int) -> None:
    """One refresh of a jurisdiction at a time (the worker's and a command's): a transaction
    advisory lock, freed at commit. A first load of a big city reads a million rows and
    computes between statements for a minute: the API's statement and idle-in-transaction
    timeouts (which the commands' sessions may have too) are lifted for this transaction."""
    session.execute(
        text(
            "SELECT set_config('statement_timeout', '0', true),"
            " set_config('idle_in_transaction_session_timeout', '0', true),"
            " pg_advisory_xact_lock(3110017, :j)"
        ),
        {"j": jurisdiction_pk},
    )


def save_refresh(
    session: Session, jurisdiction_pk: int, refreshed_at: datetime, watermark: datetime | None
) -> None:
    refresh = session.get(StatsRefresh, jurisdiction_pk)
    if refresh is None:
        session.add(StatsRefresh(jurisdiction_id=jurisdiction_pk, refreshed_at=refreshed_at))
        session.flush()
        refresh = session.get(StatsRefresh, jurisdiction_pk)
        assert refresh is not None
    refresh.refreshed_at = refreshed_at
    refresh.watermark = watermark
    session.flush()


def max_updated(session: Session, jurisdiction_pk: int) -> datetime | None:
    return session.scalar(
        text("SELECT max(updated_datetime) FROM service_request WHERE jurisdiction_id = :j"),
        {"j": jurisdiction_pk},
    )


def routing_layer(session: Session, jurisdiction_pk: int) -> BoundaryLayer | None:
    """The layer most of the jurisdiction's routing rules decide by, else its first layer."""
    counted = session.execute(
        select(BoundaryLayer)
        .join(RoutingRule, RoutingRule.layer_id == BoundaryLayer.id)
        .where(BoundaryLayer.jurisdiction_id == jurisdiction_pk)
        .group_by(BoundaryLayer.id)
        .order_by(text("count(*) DESC"), BoundaryLayer.id)
        .limit(1)
    ).scalar()
    if counted is not None:
        return counted
    return session.scalars(
        select(BoundaryLayer)
        .where(BoundaryLayer.jurisdiction_id == jurisdiction_pk)
        .order_by(BoundaryLayer.id)
        .limit(1)
    ).first()


def find_layer(session: Session, jurisdiction_pk: int, name: str) -> BoundaryLayer | None:
    return session.scalars(
        select(BoundaryLayer).where(
            BoundaryLayer.jurisdiction_id == jurisdiction_pk, BoundaryLayer.name == name
        )
    ).first()
