"""GET requests and the open-data exports as SQL: filters, order, paging and response text.

Why SQL text and the bare DBAPI cursor rather than the ORM: a page is up to 1000 requests, and
building 1000 ORM objects, then 1000 dicts, then JSON in Python costs several times what the
query does. Here PostgreSQL writes each item's JSON (or GeoJSON Feature, or CSV line) itself,
byte for byte what `wire.georeport.request_item` + `wire.formats.render_json` produce, and
Python only joins the texts. XML is still rendered in Python, from plain rows whose blanks are
already null and whose datetimes are already W3C text.

How each filter meets an index (EXPLAIN checked in tests/api/test_area_queries.py and
tests/db/test_indexes.py), and how the planner can estimate it: every condition is one the
planner estimates from the column statistics, because it multiplies the selectivities of the
conditions it is given, and one badly guessed condition is enough for the wrong plan (issue 16:
a city-wide box was estimated at 4 rows, found 148,836, bitmap-scanned and sorted them all in
282 ms where walking the time index stopped after 1,000 in 10 ms).
- bbox: `ST_Intersects(location, ST_MakeEnvelope(...))`. PostGIS's support function turns it
  into the GiST operator `&&` for the index (idx_service_request_location, or
  ix_service_request_location_open when `status = 'open'` is also asked: that predicate is
  written literally so the planner can match the partial index) and estimates it as it
  estimates `&&`, from the column's 2-D histogram; the exact test, edges included, then drops
  what the index's float boxes let through. (`&&` plus `ST_X/ST_Y BETWEEN` said the same, but
  the planner took the three for independent and estimated the box at a fraction of a percent
  of what it holds.) With the estimate right, the planner walks the time index for a box that
  holds many requests and reads the GiST index for one that holds few.
- lat/long/radius: the same GiST operator against a box that surely holds the circle (in
  degrees, widened for the latitude), then the true test `ST_DWithin` on geography (metres on
  the WGS84 spheroid, as `ST_Distance` on geography measures `distance`), skipped for the
  points plain arithmetic already proves inside (near_scales).
- change feed: `updated_datetime > :after` with ORDER BY (updated_datetime, id) is a range of
  the (updated_datetime, id) b-tree; a keyset cursor is a row comparison on the same key, so
  page 10,000 costs what page 1 does.
- q: `search_vector @@ websearch_to_tsquery('english', :q)` uses the GIN index of the generated
  column (migration 0003).
- jurisdiction and publication: lists, counts and exports first resolve the jurisdiction to a
  Scope (its primary key and its blackbox services' ids) and name them as constants:
  `r.jurisdiction_id = 1`, and unless `blackbox` is asked `r.service_id <> ALL('{...}')`
  (nothing when the city has no blackbox service), both estimated from the statistics.
  A lookup by id keeps both inside its one prepared statement (Unresolved; NOT IN of a
  sub-select), where one row is found whatever the estimate.
The page itself is chosen in a subquery (ORDER BY ... LIMIT) and only its rows are rendered.
Lookups by id resolve the jurisdiction inside the statement (Unresolved) and run prepared.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any, Literal

from psycopg2.extensions import BYTES, STATUS_READY, register_type
from psycopg2.extensions import cursor as DBAPICursor
from sqlalchemy.orm import Session

from open311.db.models import Jurisdiction
from open311.db.session import settings_of
from open311.values import OPEN_WORK_ORDER_STATES, Status

# Work orders in these states are open, as an SQL list of literals (enum values, never input).
_OPEN_WORK_ORDER = "(" + ", ".join(f"'{state}'" for state in OPEN_WORK_ORDER_STATES) + ")"
_POINT = "ST_SetSRID(ST_MakePoint(%(near_long)s, %(near_lat)s), 4326)"
_DISTANCE = f"ST_Distance(r.location::geography, {_POINT}::geography)"

# What the page subquery carries out to the rendering query.
_INNER_COLUMNS = """r.id, r.service_request_id, r.service_id, r.status, r.status_notes,
    r.description, r.agency_responsible, r.service_notice, r.requested_datetime,
    r.updated_datetime, r.expected_datetime, r.address, r.address_id, r.zipcode, r.location,
    r.media_url, r.media_urls, r.channel, r.duplicate_of_pk"""

Representation = Literal["json", "geojson", "rows"]
ExportKind = Literal["csv", "ndjson", "geojson"]


@dataclass(frozen=True)
class BBox:
    """minLng, minLat, maxLng, maxLat (GeoJSON order, digest §11), degrees WGS84."""

    min_long: float
    min_lat: float
    max_long: float
    max_lat: float


@dataclass(frozen=True)
class Near:
    """Requests within `radius` metres of a point; each item then carries its `distance`."""

    lat: float
    long: float
    radius: float


@dataclass(frozen=True)
class Sort:
    """Order of a list: a field and a direction; ties are broken by the row id, same way."""

    field: Literal["requested_datetime", "updated_datetime", "distance"] = "requested_datetime"
    descending: bool = True

    @property
    def name(self) -> str:
        return ("-" if self.descending else "") + self.field


@dataclass(frozen=True)
class RequestSearch:
    """What one GET requests (or export) asks for: resolved and validated, defaults applied."""

    service_request_ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    start: datetime | None = None  # requested_datetime >= start
    end: datetime | None = None  # requested_datetime <= end
    updated_after: datetime | None = None  # strict
    updated_before: datetime | None = None  # strict
    bbox: BBox | None = None
    near: Near | None = None
    district_ids: tuple[int, ...] = ()
    agency_names: tuple[str, ...] = ()
    crew_ids: tuple[int, ...] = ()
    text: str | None = None
    sort: Sort = Sort()
    limit: int = 1000
    offset: int = 0
    after: tuple[datetime | float, int] | None = None  # keyset: (sort key, id) of the last row
    extensions: bool = False
    # Whether requests of blackbox services are included (domain/publication.py): never unless
    # the settings publish them.
    blackbox: bool = False


@dataclass(frozen=True)
class Page:
    """One page: items as UTF-8 JSON (json: GeoReport items; geojson: Features) or as plain
    rows (for XML), whether more follow, and, when they do, the sort key and id of its last
    row (for the next cursor)."""

    items: list[Any]
    more: bool
    last: tuple[datetime | float, int] | None


# --- SQL fragments that render values the way wire/ does ---------------------------------------


def _w3c(column: str) -> str:
    """W3C datetime text at second precision in UTC, as wire.datetimes.format_w3c."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def _key_time(column: str) -> str:
    """A timestamp to the microsecond, for cursors."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _json_string(expr: str) -> str:
    return f"to_json({expr})::text"


def _json_optional(expr: str) -> str:
    """A string that is null when blank (wire.georeport._blank_to_none)."""
    return f"COALESCE(to_json(NULLIF({expr}, ''))::text, 'null')"


def _json_time(column: str, optional: bool = False) -> str:
    text = f"""'"' || {_w3c(column)} || '"'"""
    return f"COALESCE({text}, 'null')" if optional else text


def _json_number(expr: str) -> str:
    """A float8 as Python's json writes it. PostgreSQL's shortest-exact output has the same
    digits as Python's repr; only whole numbers differ (`34` against `34.0`), so those get the
    `.0` back. Coordinates and distances never reach 1e15, where the exponent forms part."""
    return (
        f"COALESCE(CASE WHEN {expr} = trunc({expr}) THEN ({expr})::text || '.0' "
        f"ELSE ({expr})::text END, 'null')"
    )


# What a spreadsheet takes for the start of a formula (OWASP, CSV injection): `=`, `+`, `-`,
# `@`, tab and carriage return. chr() rather than E'\t' keeps the SQL free of escapes.
_CSV_FORMULA_STARTS = "('=', '+', '-', '@', chr(9), chr(13))"


def _csv_text(expr: str) -> str:
    """A text CSV field, always quoted (RFC 4180), empty when null or blank, and prefixed with
    a single quote when it starts like a formula (OWASP), so that a spreadsheet shows the text
    rather than running it. Only text columns come through here: coordinates and distances are
    numbers and stay numbers (-118.24 is a longitude, not a formula)."""
    value = f"NULLIF({expr}, '')"
    guard = f"CASE WHEN left({value}, 1) IN {_CSV_FORMULA_STARTS} THEN '''' ELSE '' END"
    return f"""COALESCE('"' || {guard} || replace({value}, '"', '""') || '"', '')"""


def _item_fields(near: bool) -> list[tuple[str, str]]:
    """(field, JSON text expression) of an item in wire order; `r` is the page, `s` the
    service."""
    fields = [
        ("service_request_id", _json_string("r.service_request_id")),
        ("status", _json_string("r.status")),
        ("status_notes", _json_optional("r.status_notes")),
        ("service_name", _json_string("s.service_name")),
        ("service_code", _json_string("s.service_code")),
        ("description", _json_optional("r.description")),
        ("agency_responsible", _json_optional("r.agency_responsible")),
        ("service_notice", _json_optional("r.service_notice")),
        ("requested_datetime", _json_time("r.requested_datetime")),
        ("updated_datetime", _json_time("r.updated_datetime")),
        ("expected_datetime", _json_time("r.expected_datetime", optional=True)),
        ("address", _json_optional("r.address")),
        ("address_id", _json_optional("r.address_id")),
        ("zipcode", _json_optional("r.zipcode")),
        ("lat", _json_number("ST_Y(r.location)")),
        ("long", _json_number("ST_X(r.location)")),
        ("media_url", _json_optional("r.media_url")),
    ]
    if near:
        fields.append(("distance", _json_number(_ROUNDED_DISTANCE)))
    return fields


# `distance` in items: metres to the centimetre (the search itself uses the exact value). In
# float8 arithmetic: a numeric round trip costs microseconds a row, a page's worth of them.
_ROUNDED_DISTANCE = "(round(r.distance * 100) / 100)"


def _object(pairs: Sequence[tuple[str, str]]) -> str:
    """SQL for the text of a JSON object from (key, SQL giving the value's JSON text) pairs,
    keys in the order given and no whitespace, as render_json writes it."""
    parts = [
        f"""'{"{" if i == 0 else ","}"{name}":' || {expr}""" for i, (name, expr) in enumerate(pairs)
    ]
    return " || ".join(parts) + " || '}'"


_DISTRICTS_JSON = """COALESCE((
    SELECT '{' || string_agg(to_json(l.name)::text || ':' || to_json(d.name)::text, ','
                             ORDER BY l.name, l.id) || '}'
    FROM request_district rd
    JOIN boundary_layer l ON l.id = rd.layer_id
    JOIN district d ON d.id = rd.district_id
    WHERE rd.service_request_pk = r.id), '{}')"""

# The crew of the newest open work order (null when it has none, or no work order is open).
_CREW = f"""(
    SELECT c.name FROM work_order w LEFT JOIN crew c ON c.id = w.crew_id
    WHERE w.service_request_pk = r.id AND w.state IN {_OPEN_WORK_ORDER}
    ORDER BY w.id DESC LIMIT 1)"""

_NOTE_JSON = _object(
    [
        ("datetime", _json_time("a.at")),
        ("type", _json_string("a.kind")),
        ("summary", _json_string("a.summary")),
        ("description", _json_optional("a.details ->> 'description'")),
    ]
)

# Public activity only: `a.public` is what keeps internal entries (assignments, staff notes)
# out; `description` is the entry's details.description when it records one.
_NOTES_JSON = f"""COALESCE((
    SELECT '[' || string_agg({_NOTE_JSON}, ',' ORDER BY a.at, a.id) || ']'
    FROM activity a
    WHERE a.service_request_pk = r.id AND a.public), '[]')"""

# The request this one is linked to as a duplicate (suspected or confirmed), by its public id.
_PARENT_ID = """(
    SELECT p.service_request_id FROM service_request p WHERE p.id = r.duplicate_of_pk)"""

# The request's photos, as a JSON array of URLs in the order they were sent. They
# are served next to the first one, whose URL became media_url when the request was filed, so
# they share its directory (the database cannot know the host a client used). Without uploads:
# the URLs the client linked (media_urls when it sent several, else media_url), if any.
_MEDIA_URLS_JSON = """COALESCE((
    SELECT '[' || string_agg(to_json(regexp_replace(r.media_url, '[^/]*$', '') || m.name)::text,
                             ',' ORDER BY m.position, m.id) || ']'
    FROM media m
    WHERE m.service_request_pk = r.id AND m.activity_id IS NULL),
    CASE WHEN jsonb_typeof(r.media_urls) = 'array' THEN r.media_urls::text END,
    CASE WHEN NULLIF(r.media_url, '') IS NULL THEN '[]'
         ELSE '[' || to_json(r.media_url)::text || ']' END)"""

_EXTENDED_JSON = _object(
    [
        ("channel", _json_optional("r.channel")),
        ("districts", _DISTRICTS_JSON),
        ("duplicate", "CASE WHEN r.duplicate_of_pk IS NULL THEN 'false' ELSE 'true' END"),
        ("parent_service_request_id", f"COALESCE({_json_string(_PARENT_ID)}, 'null')"),
        ("crew", f"COALESCE({_json_string(_CREW)}, 'null')"),
        ("media_urls", _MEDIA_URLS_JSON),
    ]
)


@cache  # the same few texts on every call: build each once
def _item_json(near: bool, extensions: bool) -> str:
    pairs = _item_fields(near)
    if extensions:
        pairs += [("extended_attributes", _EXTENDED_JSON), ("notes", _NOTES_JSON)]
    return _object(pairs)


@cache  # the same few texts on every call: build each once
def _feature_json(near: bool, extensions: bool) -> str:
    point = _object(
        [
            ("type", """'"Point"'"""),
            (
                "coordinates",
                f"""'[' || {_json_number("ST_X(r.location)")} || ','
                   || {_json_number("ST_Y(r.location)")} || ']'""",
            ),
        ]
    )
    geometry = f"CASE WHEN r.location IS NULL THEN 'null' ELSE {point} END"
    return _object(
        [
            ("type", """'"Feature"'"""),
            ("id", _json_string("r.service_request_id")),
            ("geometry", geometry),
            ("properties", _item_json(near, extensions)),
        ]
    )


@cache  # the same few texts on every call: build each once
def _item_columns(near: bool, extensions: bool) -> str:
    """Plain columns for the XML renderer: REQUEST_FIELDS, then distance, then extensions."""
    columns = [
        "r.service_request_id",
        "r.status",
        "NULLIF(r.status_notes, '')",
        "s.service_name",
        "s.service_code",
        "NULLIF(r.description, '')",
        "NULLIF(r.agency_responsible, '')",
        "NULLIF(r.service_notice, '')",
        _w3c("r.requested_datetime"),
        _w3c("r.updated_datetime"),
        _w3c("r.expected_datetime"),
        "NULLIF(r.address, '')",
        "NULLIF(r.address_id, '')",
        "NULLIF(r.zipcode, '')",
        "ST_Y(r.location)",
        "ST_X(r.location)",
        "NULLIF(r.media_url, '')",
    ]
    if near:
        columns.append(_ROUNDED_DISTANCE)
    if extensions:
        columns += [
            "NULLIF(r.channel, '')",
            _DISTRICTS_JSON,
            _CREW,
            _NOTES_JSON,
            _PARENT_ID,
            _MEDIA_URLS_JSON,
        ]
    return ",\n    ".join(columns)


@cache  # the same few texts on every call: build each once
def _csv_line(near: bool) -> str:
    fields = [
        _csv_text("r.service_request_id"),
        _csv_text("r.status"),
        _csv_text("r.status_notes"),
        _csv_text("s.service_name"),
        _csv_text("s.service_code"),
        _csv_text("r.description"),
        _csv_text("r.agency_responsible"),
        _csv_text("r.service_notice"),
        _w3c("r.requested_datetime"),
        _w3c("r.updated_datetime"),
        f"COALESCE({_w3c('r.expected_datetime')}, '')",
        _csv_text("r.address"),
        _csv_text("r.address_id"),
        _csv_text("r.zipcode"),
        f"CASE WHEN r.location IS NULL THEN '' ELSE {_json_number('ST_Y(r.location)')} END",
        f"CASE WHEN r.location IS NULL THEN '' ELSE {_json_number('ST_X(r.location)')} END",
        _csv_text("r.media_url"),
    ]
    if near:
        fields.append(_json_number(_ROUNDED_DISTANCE))
    return " || ',' || ".join(fields)


# --- filters and order --------------------------------------------------------------------------


def _exactly(test: str) -> str:
    """The exact form of a test an index operator has already made up to its float precision,
    written so that the planner estimates it at 0.995 rather than on its own.

    The GiST operator `&&` compares float4 boxes, so it lets through points up to a float
    step (about a metre) outside a box; the exact test drops those and, given `&&`, keeps
    nearly every row. Written plainly, the planner takes it for independent of `&&` and
    multiplies their selectivities: a box holding 148,836 requests was estimated at 4, and the
    plan bitmap-scanned and sorted them all (issue 16). PostGIS's ST_Intersects is estimated
    as `&&` but costed so high that the planner then prefers reading 20,000 rows to testing
    50,000 (a 4 km² box: 194 ms against 48). `(CASE WHEN test THEN true END) IS NOT NULL`
    means `test` (null locations fail both), and an IS NOT NULL of an expression without
    statistics is estimated at 0.995 (PostgreSQL's nulltestsel), which is the truth here.
    """
    return f"(CASE WHEN {test} THEN true END) IS NOT NULL"


def _sort_expression(sort: Sort) -> str:
    return _DISTANCE if sort.field == "distance" else f"r.{sort.field}"


@dataclass(frozen=True)
class Unresolved:
    """A jurisdiction still to be resolved, inside the statement itself: the one named, or when
    none is named the default one (flagged `is_default`, else the only one; NULL, so no rows,
    otherwise), as domain/jurisdictions.resolve says. A page then takes one round trip instead
    of two; when it finds nothing the caller resolves the jurisdiction the usual way, which says
    what was wrong with it, if anything."""

    jurisdiction_id: str | None


_ONLY_JURISDICTION = """
    SELECT CASE WHEN %(jurisdiction_ref)s::text IS NOT NULL
        THEN (SELECT id FROM jurisdiction WHERE jurisdiction_id = %(jurisdiction_ref)s)
        ELSE coalesce(
            (SELECT id FROM jurisdiction WHERE is_default LIMIT 1),
            (SELECT CASE WHEN count(*) = 1 THEN min(id) END
             FROM (SELECT id FROM jurisdiction LIMIT 2) first_two))
    END"""


@dataclass(frozen=True)
class Scope:
    """A jurisdiction resolved for a list, export or count: its primary key and the ids of its
    blackbox services, as constants in the statement.

    Why constants: the planner estimates `jurisdiction_id = 1` and `service_id <> ALL('{7}')`
    from the column statistics, but a value from a sub-select (Unresolved) only as 1/distinct
    values and NOT IN (sub-select) as one half. Those guesses multiplied every other filter's
    estimate by a quarter, enough to choose a bitmap scan and a sort of 20,000 rows where
    walking the time index stops after 1,000 (issue 16). Resolving costs one small statement.
    """

    pk: int
    blackbox_service_ids: tuple[int, ...]


JurisdictionRef = Jurisdiction | Unresolved | Scope


def resolve_scope(session: Session, jurisdiction: JurisdictionRef) -> Scope | None:
    """The Scope of a jurisdiction, or None when there is no such jurisdiction (the caller then
    resolves it the usual way, which says what was wrong)."""
    if isinstance(jurisdiction, Scope):
        return jurisdiction
    params: dict[str, Any] = {}
    sql = f"""
SELECT j.id, ARRAY(SELECT s.id FROM service s
                   WHERE s.jurisdiction_id = j.id AND s.type = 'blackbox' ORDER BY s.id)
FROM jurisdiction j WHERE j.id = {_jurisdiction_pk(jurisdiction, params)}"""
    rows = fetch_rows(session, sql, params)
    return Scope(rows[0][0], tuple(rows[0][1])) if rows else None


def _jurisdiction_pk(jurisdiction: JurisdictionRef, params: dict[str, Any]) -> str:
    """SQL for the jurisdiction's primary key (its parameter added to `params`)."""
    if isinstance(jurisdiction, Scope):
        params["jurisdiction"] = jurisdiction.pk
        return "%(jurisdiction)s"
    if isinstance(jurisdiction, Jurisdiction):
        params["jurisdiction"] = jurisdiction.id
        return "%(jurisdiction)s"
    params["jurisdiction_ref"] = jurisdiction.jurisdiction_id
    return f"({_ONLY_JURISDICTION})"


def near_box(near: Near) -> tuple[float, float, float, float]:
    """A lon/lat box (west, south, east, north) that surely holds the circle of `near`.

    A degree of latitude is at least 110,574 m and a degree of longitude at least
    111,319 m x cos(latitude) on the WGS84 spheroid; the box uses those, at the latitude of
    the circle's edge nearest a pole, widened by 1% more. Near a pole it spans every longitude.
    """
    dlat = near.radius / 110_574.0 * 1.01 + 1e-9
    edge = min(abs(near.lat) + dlat, 90.0)
    cos_edge = math.cos(math.radians(edge))
    dlong = 360.0 if cos_edge < 1e-6 else near.radius / (111_319.0 * cos_edge) * 1.01 + 1e-9
    return (near.long - dlong, near.lat - dlat, near.long + dlong, near.lat + dlat)


# The WGS84 prime-vertical radius of curvature at the poles, a/sqrt(1 - e²), in metres per
# degree: no degree of latitude, nor of longitude times sec(latitude), is longer anywhere.
_LONGEST_DEGREE_M = 111_694.0


def near_scales(near: Near) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude that no point of near_box exceeds.

    On the spheroid ds² = (N cos φ dλ)² + (M dφ)², with N and M at most a/sqrt(1 - e²); so
    along the straight line in (λ, φ) from the centre to a point of the box (the box is convex),
    the geodesic distance is at most sqrt((kx Δλ)² + (ky Δφ)²) with these kx, ky. A point
    whose bound is within the radius is in the circle, with no spheroid arithmetic at all.
    """
    _west, south, _east, north = near_box(near)
    nearest_equator = 0.0 if south <= 0 <= north else min(abs(south), abs(north))
    return _LONGEST_DEGREE_M * math.cos(math.radians(nearest_equator)), _LONGEST_DEGREE_M


# Requests whose service is not blackbox. NOT IN (not NOT EXISTS, which the planner would turn
# into an anti-join): a filter that keeps the scan and order the other conditions chose.
# service.id is the primary key, never NULL, so NOT IN means what it says. The jurisdiction's
# services are found by their index, as the service_code filter finds them.
_PUBLISHED_SERVICE = (
    "r.service_id NOT IN (SELECT id FROM service "
    "WHERE jurisdiction_id = {jurisdiction_pk} AND type = 'blackbox')"
)


def _one_of(column: str, values: Sequence[str], params: dict[str, Any], name: str) -> str:
    """`column = %(name)s` for one value, `column = ANY(%(name_list)s)` for several; the
    parameters go into `params`."""
    if len(values) == 1:
        params[name] = values[0]
        return f"{column} = %({name})s"
    params[f"{name}_list"] = list(values)
    return f"{column} = ANY(%({name}_list)s)"


def where_conditions(
    jurisdiction: JurisdictionRef,
    search: RequestSearch,
    *,
    keyset: bool = True,
    envelope: bool = True,
) -> tuple[list[str], dict[str, Any]]:
    """The WHERE of a search (conditions to AND) and its parameters. `envelope`: a bbox or
    circle is found through the 2-D GiST index (`&&`); without it only the exact tests are
    made (the space-time page finds the area through its own index)."""
    params: dict[str, Any] = {}
    jurisdiction_pk = _jurisdiction_pk(jurisdiction, params)
    where = [f"r.jurisdiction_id = {jurisdiction_pk}"]
    if search.blackbox:
        pass
    elif isinstance(jurisdiction, Scope):
        if jurisdiction.blackbox_service_ids:
            where.append("r.service_id <> ALL(%(blackbox)s)")
            params["blackbox"] = list(jurisdiction.blackbox_service_ids)
    else:
        where.append(_PUBLISHED_SERVICE.format(jurisdiction_pk=jurisdiction_pk))
    if search.service_request_ids:
        # `=` for one id rather than ANY(array): a lookup by id then gets a generic plan (the
        # unique index) and is not planned again on every call.
        where.append(_one_of("r.service_request_id", search.service_request_ids, params, "id"))
    if search.service_codes:
        where.append(
            f"r.service_id IN (SELECT id FROM service WHERE jurisdiction_id = {jurisdiction_pk} "
            "AND service_code = ANY(%(codes)s))"
        )
        params["codes"] = list(search.service_codes)
    statuses = set(search.statuses)
    if statuses and statuses != set(Status):
        # Literal values (from the enum, never from input): a partial index on
        # `status = 'open'` can only be matched against a constant.
        where.append(" OR ".join(f"r.status = '{Status(s).value}'" for s in sorted(statuses)))
    if search.start is not None:
        where.append("r.requested_datetime >= %(start)s")
        params["start"] = search.start
    if search.end is not None:
        where.append("r.requested_datetime <= %(end)s")
        params["end"] = search.end
    if search.updated_after is not None:
        where.append("r.updated_datetime > %(updated_after)s")
        params["updated_after"] = search.updated_after
    if search.updated_before is not None:
        where.append("r.updated_datetime < %(updated_before)s")
        params["updated_before"] = search.updated_before
    if search.bbox is not None:
        box = search.bbox
        if envelope:
            where.append(
                "r.location && "
                "ST_MakeEnvelope(%(bbox_w)s, %(bbox_s)s, %(bbox_e)s, %(bbox_n)s, 4326)"
            )
        where.append(
            _exactly(
                "ST_X(r.location) BETWEEN %(bbox_w)s AND %(bbox_e)s "
                "AND ST_Y(r.location) BETWEEN %(bbox_s)s AND %(bbox_n)s"
            )
        )
        params |= {
            "bbox_w": box.min_long,
            "bbox_s": box.min_lat,
            "bbox_e": box.max_long,
            "bbox_n": box.max_lat,
        }
    if search.near is not None:
        west, south, east, north = near_box(search.near)
        if envelope:
            where.append(
                "r.location && "
                "ST_MakeEnvelope(%(near_w)s, %(near_s)s, %(near_e)s, %(near_n)s, 4326)"
            )
        # The exact test on the spheroid costs microseconds a row; most points of a circle are
        # well inside it, which plain arithmetic on the coordinates proves (near_scales).
        # Given the box, a point is in the circle with a probability of π/4 or more: nearer
        # 0.995 than what the planner would guess for these expressions (_exactly).
        # The box first: a row tested without the GiST operator (the space-time page) is
        # mostly far away, and is then refused by two comparisons, not by a geodesic test.
        where.append(
            _exactly(
                "ST_X(r.location) BETWEEN %(near_w)s AND %(near_e)s"
                " AND ST_Y(r.location) BETWEEN %(near_s)s AND %(near_n)s"
                " AND (power(ST_X(r.location) - %(near_long)s, 2) * %(near_kx2)s"
                " + power(ST_Y(r.location) - %(near_lat)s, 2) * %(near_ky2)s"
                " <= %(near_inside2)s"
                " OR open311_dwithin(r.location, %(near_long)s, %(near_lat)s, %(near_radius)s))"
            )
        )
        kx, ky = near_scales(search.near)
        params |= {
            "near_lat": search.near.lat,
            "near_long": search.near.long,
            "near_radius": search.near.radius,
            "near_w": west,
            "near_s": south,
            "near_e": east,
            "near_n": north,
            "near_kx2": kx * kx,
            "near_ky2": ky * ky,
            "near_inside2": (search.near.radius * (1 - 1e-9)) ** 2,
        }
    if search.district_ids:
        where.append(
            "EXISTS (SELECT 1 FROM request_district rd WHERE rd.service_request_pk = r.id "
            "AND rd.district_id = ANY(%(districts)s))"
        )
        params["districts"] = list(search.district_ids)
    if search.agency_names:
        # `=` for one, so the (agency_responsible, requested_datetime, id) index can give the
        # order too.
        where.append(_one_of("r.agency_responsible", search.agency_names, params, "agency"))
    if search.crew_ids:
        where.append(
            "EXISTS (SELECT 1 FROM work_order w WHERE w.service_request_pk = r.id "
            f"AND w.crew_id = ANY(%(crews)s) AND w.state IN {_OPEN_WORK_ORDER})"
        )
        params["crews"] = list(search.crew_ids)
    if search.text is not None:
        where.append("r.search_vector @@ websearch_to_tsquery('english', %(q)s)")
        params["q"] = search.text
    if keyset and search.after is not None:
        op = "<" if search.sort.descending else ">"
        where.append(f"({_sort_expression(search.sort)}, r.id) {op} (%(after_key)s, %(after_id)s)")
        params["after_key"], params["after_id"] = search.after
    return where, params


def _order(sort: Sort, distance: str = "r.distance") -> str:
    """ORDER BY of a sort; `distance` is how the query at hand names the computed distance."""
    direction = "DESC" if sort.descending else "ASC"
    column = distance if sort.field == "distance" else f"r.{sort.field}"
    return f"{column} {direction}, r.id {direction}"


def _key_text(sort: Sort) -> str:
    if sort.field == "distance":
        return "r.distance::text"
    return _key_time(f"r.{sort.field}")


def _page_sql(
    jurisdiction: JurisdictionRef,
    search: RequestSearch,
    rendered: str,
    *,
    limit: int | None,
    windows: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The page chosen in a subquery, then rendered: `rendered` is the select list over the
    page `r` and its service `s`. `windows`: a newest-first page of an area is read window by
    window (reads_windows says when)."""
    if (
        search.near is not None
        and search.sort == Sort("distance", descending=False)
        and limit is not None
    ):
        return _nearest_page_sql(jurisdiction, search, search.near, rendered, limit)
    if windows and limit is not None and _newest_first_in_area(search):
        return _newest_in_area_page_sql(jurisdiction, search, rendered, limit)
    where, params = where_conditions(jurisdiction, search)
    distance = f", {_DISTANCE} AS distance" if search.near is not None else ""
    paging = ""
    if limit is not None:
        paging = "LIMIT %(limit)s OFFSET %(offset)s"
        params |= {"limit": limit, "offset": search.offset}
    sql = f"""
SELECT {rendered}
FROM (
    SELECT {_INNER_COLUMNS}{distance}
    FROM service_request r
    WHERE {" AND ".join(f"({w})" for w in where)}
    ORDER BY {_order(search.sort, distance="distance")}
    {paging}
) r
JOIN service s ON s.id = r.service_id
ORDER BY {_order(search.sort)}"""
    return sql, params


# Nearest first: rings of 25 m, 50 m, 100 m... out to the radius (see _nearest_page_sql).
_FIRST_RING_M = 25.0
_RING_RATIO = 2.0


def near_rings(radius: float, after: float | None = None) -> list[tuple[float, float]]:
    """(from, to) metres of the rings a nearest-first page reads, nearest first: a ring holds
    the distances d with from <= d < to; the last one ends just past the radius, so that it
    holds d = radius too. Rings wholly nearer than `after` (a cursor's distance) are left out."""
    rings = []
    inner, outer = 0.0, min(_FIRST_RING_M, radius)
    while True:
        last = outer >= radius
        upper = math.nextafter(radius, math.inf) if last else outer
        if after is None or upper > after:
            rings.append((inner, upper))
        if last:
            return rings
        inner, outer = outer, min(outer * _RING_RATIO, radius)


def _nearest_page_sql(
    jurisdiction: JurisdictionRef, search: RequestSearch, near: Near, rendered: str, limit: int
) -> tuple[str, dict[str, Any]]:
    """A nearest-first page read ring by ring, so that its cost follows the page, not the
    circle: sorting every request within 10 km of a point by its distance on the spheroid
    took 1.7 s over a million requests (issue 16), and no index gives that order.

    Each ring (near_rings) is read from the GiST index by the box around its outer circle,
    its requests' distances computed once, those in the ring kept and sorted; the rings are
    read nearest first in a nested loop, which stops as soon as the page is full. Rings double
    in radius, so the requests read are a small multiple of the page whatever the radius. The
    distances are ST_Distance on geography, as the items show them; a cursor's distance and
    id go on from where the last page ended.
    """
    rest, params = where_conditions(
        jurisdiction, replace(search, near=None, after=None, sort=Sort())
    )
    after_distance = None
    if search.after is not None:
        after_distance = float(search.after[0])
    rings = near_rings(near.radius, after_distance)
    boxes = [near_box(Near(near.lat, near.long, outer)) for _inner, outer in rings]
    params |= {
        "near_lat": near.lat,
        "near_long": near.long,
        "ring_from": [inner for inner, _outer in rings],
        "ring_to": [outer for _inner, outer in rings],
        "ring_w": [box[0] for box in boxes],
        "ring_s": [box[1] for box in boxes],
        "ring_e": [box[2] for box in boxes],
        "ring_n": [box[3] for box in boxes],
        "page_rows": limit + search.offset,
        "limit": limit,
        "offset": search.offset,
    }
    keyset = ""
    if search.after is not None:
        keyset = "AND (d.distance, d.id) > (%(after_key)s, %(after_id)s)"
        params["after_key"], params["after_id"] = after_distance, search.after[1]
    sql = f"""
SELECT {rendered}
FROM (
    SELECT page.*
    FROM unnest(%(ring_from)s::float8[], %(ring_to)s::float8[], %(ring_w)s::float8[],
                %(ring_s)s::float8[], %(ring_e)s::float8[], %(ring_n)s::float8[])
         AS ring(from_m, to_m, w, s, e, n)
    CROSS JOIN LATERAL (
        SELECT d.* FROM (
            SELECT {_INNER_COLUMNS}, {_DISTANCE} AS distance
            FROM service_request r
            WHERE {" AND ".join(f"({w})" for w in rest)}
              AND r.location && ST_MakeEnvelope(ring.w, ring.s, ring.e, ring.n, 4326)
            OFFSET 0
        ) d
        WHERE d.distance >= ring.from_m AND d.distance < ring.to_m {keyset}
        ORDER BY d.distance, d.id
        LIMIT %(page_rows)s
    ) page
    LIMIT %(limit)s OFFSET %(offset)s
) r
JOIN service s ON s.id = r.service_id
ORDER BY r.distance, r.id"""
    return sql, params


# Newest first in an area: windows of 1 hour back from the newest request, then 2, 4, 8...
# hours further back, the 21st ending 2^20 hours (120 years) back, the last reaching year 1.
_LAST_WINDOW = 21
# A request in window w exactly (the first window includes its upper bound). Not a range the
# time b-tree could serve: combined with the space-time index, that index only added cost.
_WITHIN_WINDOW = _exactly(
    "r.requested_datetime >= w.since"
    " AND (r.requested_datetime < w.until OR (w.k = 0 AND r.requested_datetime = w.until))"
)
# When the windows beat both 2-D plans: the area holds more requests than sorting them all
# costs little for, and too small a share of the table for walking the time index to find a
# page soon (measured on 1M and 10M requests, bench/map_shapes.py).
_SORT_AT_MOST = 5_000
_WALK_AT_LEAST = 0.05


def _newest_first_in_area(search: RequestSearch) -> bool:
    """A newest-first page whose only selective filter is its area (and dates, which the
    windows bound themselves): another filter that keeps a few percent of the area's requests
    (a service, a status, words, an agency, a crew, a district) would have the windows read
    many times the page; the planner then picks the index that filter has."""
    return (
        (search.bbox is not None or search.near is not None)
        and search.sort == Sort()
        and (not search.statuses or set(search.statuses) == set(Status))
        and not (
            search.service_codes
            or search.service_request_ids
            or search.text
            or search.agency_names
            or search.crew_ids
            or search.district_ids
            or search.updated_after
            or search.updated_before
        )
    )


def reads_windows(session: Session, search: RequestSearch) -> bool:
    """Whether a newest-first page of this bbox or circle is best read window by window
    through the space-time index, judged from the planner's own statistics (one statement):
    PostGIS's estimate of the area's share of the table (open311_area_share, migration 0019)
    and the table's size. Neither 2-D plan is right at every size (issue 16): reading the
    area from the GiST index and sorting costs what the area holds, walking the time index
    costs the page divided by the area's share; the windows cost what the page holds, plus a
    few milliseconds of index probes that the other two do not pay when they are cheap."""
    if not _newest_first_in_area(search):
        return False
    if search.start is not None or search.end is not None:
        # Dates bound the windows themselves (and neither 2-D plan can use both at once: a
        # 16 km² box's last 30 days took 136 ms as a bitmap AND of the two indexes).
        return True
    west, south, east, north = _area_box(search)
    rows = fetch_rows(
        session,
        "SELECT open311_area_share(%(w)s, %(s)s, %(e)s, %(n)s), reltuples FROM pg_class "
        "WHERE oid = 'service_request'::regclass",
        {"w": west, "s": south, "e": east, "n": north},
    )
    share, table = rows[0] if rows else (None, None)
    if share is None or table is None or table <= 0:
        return False  # no statistics yet: the planner decides
    return share * table > _SORT_AT_MOST and share < _WALK_AT_LEAST


def _area_box(search: RequestSearch) -> tuple[float, float, float, float]:
    """The bbox, else the box around the circle (with both, the bbox: the exact tests of both
    apply to what it finds)."""
    if search.bbox is not None:
        box = search.bbox
        return box.min_long, box.min_lat, box.max_long, box.max_lat
    assert search.near is not None
    return near_box(search.near)


def _newest_in_area_page_sql(
    jurisdiction: JurisdictionRef, search: RequestSearch, rendered: str, limit: int
) -> tuple[str, dict[str, Any]]:
    """A newest-first page of a bbox or circle, read window by window back in time through
    the space-time index, so that its cost follows the page, not the area or the table.

    The space-time index (migration 0019: a 3-D GiST over longitude, latitude and days since
    1970) finds the requests of an area within a time window directly; windows of 1, 2, 4,
    8... hours back from the newest request (or from the cursor, or end_date) are read in a
    nested loop that stops as soon as the page is full, each window's requests sorted, so the
    requests read are a small multiple of the page. The exact area test (the index compares
    float boxes), the window's exact bounds and every other filter apply to the rows each
    window finds. find_page chooses it (reads_windows) where it beats the 2-D plans.
    """
    near = search.near is not None
    rest, params = where_conditions(jurisdiction, search, envelope=False)
    west, south, east, north = _area_box(search)
    params |= {
        "area_w": west,
        "area_s": south,
        "area_e": east,
        "area_n": north,
        "page_rows": limit + search.offset,
        "limit": limit,
        "offset": search.offset,
        "end_at": search.end,
        "start_at": search.start,
        "after_at": search.after[0] if search.after is not None else None,
    }
    distance = f", {_DISTANCE} AS distance" if near else ""
    sql = f"""
SELECT {rendered}
FROM (
    SELECT page.*
    FROM (SELECT LEAST((SELECT max(requested_datetime) FROM service_request),
                       %(end_at)s::timestamptz, %(after_at)s::timestamptz) AS top
          OFFSET 0) t
    CROSS JOIN LATERAL (
        SELECT GREATEST(CASE WHEN k = {_LAST_WINDOW} THEN timestamptz '0001-01-01 00:00:00+00'
                             ELSE t.top - interval '1 hour' * 2 ^ k END,
                        %(start_at)s::timestamptz) AS since,
               CASE WHEN k = 0 THEN t.top
                    ELSE t.top - interval '1 hour' * 2 ^ (k - 1) END AS until,
               k
        FROM generate_series(0, {_LAST_WINDOW}) AS k
        -- No window wholly before start_date.
        WHERE %(start_at)s::timestamptz IS NULL
           OR k = 0 OR t.top - interval '1 hour' * 2 ^ (k - 1) >= %(start_at)s::timestamptz
    ) w
    CROSS JOIN LATERAL (
        SELECT {_INNER_COLUMNS}{distance}
        FROM service_request r
        WHERE {" AND ".join(f"({w})" for w in rest)}
          AND r.location IS NOT NULL
          AND open311_spacetime(r.location, r.requested_datetime) &&& ST_MakeLine(
                open311_spacetime(ST_MakePoint(%(area_w)s, %(area_s)s), w.since),
                open311_spacetime(ST_MakePoint(%(area_e)s, %(area_n)s), w.until))
          AND {_WITHIN_WINDOW}
        ORDER BY r.requested_datetime DESC, r.id DESC
        LIMIT %(page_rows)s
    ) page
    LIMIT %(limit)s OFFSET %(offset)s
) r
JOIN service s ON s.id = r.service_id
ORDER BY {_order(search.sort)}"""
    return sql, params


def _parse_key(sort: Sort, text: str) -> datetime | float:
    if sort.field == "distance":
        return float(text)
    return datetime.fromisoformat(text)  # ...T09:14:03.000000Z: the cursor's precision


def page_sql(
    jurisdiction: JurisdictionRef,
    search: RequestSearch,
    representation: Representation,
    *,
    windows: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The statement of one page (limit + 1 rows, to tell whether more follow): the rendered
    item, then the row's sort key as text, then its id. `windows`: see _page_sql."""
    near = search.near is not None
    if representation == "json":
        rendered = _item_json(near, search.extensions)
    elif representation == "geojson":
        rendered = _feature_json(near, search.extensions)
    else:
        rendered = _item_columns(near, search.extensions)
    # Named, so that ORDER BY distance cannot take the key's text for the column.
    rendered += f",\n    {_key_text(search.sort)} AS sort_key, r.id"
    return _page_sql(jurisdiction, search, rendered, limit=search.limit + 1, windows=windows)


def find_page(
    session: Session,
    jurisdiction: JurisdictionRef,
    search: RequestSearch,
    representation: Representation,
    *,
    lookup: bool = False,
) -> Page:
    """Up to `search.limit` requests in order: JSON items or GeoJSON Features (UTF-8 bytes), or
    plain rows (REQUEST_FIELDS, then distance when near, then channel, districts JSON, crew,
    notes JSON, parent id and media URLs JSON with extensions) for XML.

    `lookup`: this is GET requests/{id}, the caller's one statement; it runs prepared, and in
    autocommit when no transaction is open (see `_cursor`).
    """
    if not lookup:
        # A list is planned from constants (Scope); a lookup by id finds one row whatever the
        # estimates and resolves the jurisdiction inside its one prepared statement.
        scope = resolve_scope(session, jurisdiction)
        if scope is None:
            return Page([], False, None)
        jurisdiction = scope
    windows = not lookup and reads_windows(session, search)
    sql, params = page_sql(jurisdiction, search, representation, windows=windows)
    with _cursor(session, alone=lookup) as cursor:
        if representation != "rows":
            # The texts go out as they came in: bytes, never decoded to str and encoded again.
            register_type(BYTES, cursor)
        if lookup and settings_of(session).prepared_statements:
            # Lookups by id: the same few statements all day long, prepared once per connection.
            sql, params = _prepared(session, cursor, sql, params)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    more = len(rows) > search.limit
    rows = rows[: search.limit]
    # Only a page with a successor needs its last key (parsing one costs more than rendering).
    last = None
    if more:
        key = rows[-1][-2]
        last = (
            _parse_key(search.sort, key if isinstance(key, str) else key.decode()),
            rows[-1][-1],
        )
    if representation == "rows":
        items: list[Any] = [row[:-2] for row in rows]
    else:
        items = [row[0] for row in rows]
    return Page(items, more, last)


def count_sql(
    jurisdiction: JurisdictionRef, search: RequestSearch, cap: int
) -> tuple[str, dict[str, Any]]:
    """How many requests match (paging aside), counting no further than `cap`."""
    where, params = where_conditions(jurisdiction, search, keyset=False)
    params["cap"] = cap
    sql = f"""
SELECT count(*) FROM (
    SELECT 1 FROM service_request r
    WHERE {" AND ".join(f"({w})" for w in where)}
    LIMIT %(cap)s
) c"""
    return sql, params


def count_matching(
    session: Session, jurisdiction: JurisdictionRef, search: RequestSearch, cap: int
) -> int:
    """How many requests match (paging aside), counting no further than `cap`."""
    scope = resolve_scope(session, jurisdiction)
    if scope is None:
        return 0
    sql, params = count_sql(scope, search, cap)
    with _cursor(session) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def stream_export(
    session: Session,
    jurisdiction: JurisdictionRef,
    search: RequestSearch,
    kind: ExportKind,
    batch: int = 5000,
) -> Iterator[list[bytes]]:
    """Every matching request, in order, as CSV lines, JSON items (NDJSON) or GeoJSON Feature
    texts (UTF-8 bytes), `batch` at a time.

    A server-side (named) cursor: PostgreSQL keeps the result and hands out `batch` rows per
    fetch, so memory stays flat however many millions of rows the window holds. It lives in
    the session's transaction; closing the generator early (a client that hung up) closes it.
    """
    near = search.near is not None
    if kind == "csv":
        rendered = _csv_line(near)
    elif kind == "ndjson":
        rendered = _item_json(near, False)
    else:
        rendered = _feature_json(near, False)
    scope = resolve_scope(session, jurisdiction)
    if scope is None:
        return
    sql, params = _page_sql(scope, search, rendered, limit=None)
    raw = session.connection().connection.dbapi_connection
    with raw.cursor(name=f"export_{uuid.uuid4().hex}") as cursor:
        register_type(BYTES, cursor)
        cursor.itersize = batch
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield [row[0] for row in rows]


# --- names and ids of the area and back-office filters ------------------------------------------


def find_layers_by_ref(
    session: Session, jurisdiction: JurisdictionRef, ref: str
) -> list[tuple[int, str]]:
    """(id, name) of the layers named `ref`, else of the layer whose id it is."""
    params: dict[str, Any] = {"ref": ref}
    sql = f"""
WITH candidate AS (
    SELECT id, name FROM boundary_layer
    WHERE jurisdiction_id = {_jurisdiction_pk(jurisdiction, params)}
)
SELECT id, name FROM candidate
WHERE name = %(ref)s
   OR (NOT EXISTS (SELECT 1 FROM candidate WHERE name = %(ref)s) AND id::text = %(ref)s)
ORDER BY id"""
    return fetch_rows(session, sql, params)


def find_districts_by_ref(
    session: Session, jurisdiction: JurisdictionRef, ref: str, layer: str | None
) -> list[tuple[int, int, str]]:
    """(id, layer id, layer name) of the districts named `ref`, else of the district whose id it
    is (names win, since district names are often numbers); only in the layer named (or whose
    id is) `layer` when that is given. One statement, whatever the references."""
    params: dict[str, Any] = {"ref": ref, "layer": layer}
    sql = f"""
WITH layer AS (
    SELECT id, name FROM boundary_layer
    WHERE jurisdiction_id = {_jurisdiction_pk(jurisdiction, params)}
), chosen AS (
    SELECT id, name FROM layer
    WHERE %(layer)s::text IS NULL OR name = %(layer)s
       OR (NOT EXISTS (SELECT 1 FROM layer WHERE name = %(layer)s) AND id::text = %(layer)s)
), candidate AS (
    SELECT d.id, d.layer_id, chosen.name AS layer_name, d.name
    FROM district d JOIN chosen ON chosen.id = d.layer_id
)
SELECT id, layer_id, layer_name FROM candidate
WHERE name = %(ref)s
   OR (NOT EXISTS (SELECT 1 FROM candidate WHERE name = %(ref)s) AND id::text = %(ref)s)
ORDER BY layer_name, id"""
    return fetch_rows(session, sql, params)


def find_crews_by_ref(
    session: Session, jurisdiction: JurisdictionRef, ref: str
) -> list[tuple[int, str]]:
    """(id, agency code) of the crews with code `ref`, else of the crew whose id it is."""
    params: dict[str, Any] = {"ref": ref}
    sql = f"""
WITH candidate AS (
    SELECT c.id, c.code, a.code AS agency FROM crew c JOIN agency a ON a.id = c.agency_id
    WHERE a.jurisdiction_id = {_jurisdiction_pk(jurisdiction, params)}
)
SELECT id, agency FROM candidate
WHERE code = %(ref)s
   OR (NOT EXISTS (SELECT 1 FROM candidate WHERE code = %(ref)s) AND id::text = %(ref)s)
ORDER BY id"""
    return fetch_rows(session, sql, params)


def find_agency_names(session: Session, jurisdiction: JurisdictionRef, ref: str) -> list[str]:
    """The agency_responsible values `ref` stands for, ignoring case: an agency's code or name,
    or an agency_responsible some service of the city names (imported catalogues have those
    without agency rows)."""
    params: dict[str, Any] = {"ref": ref}
    pk = _jurisdiction_pk(jurisdiction, params)
    sql = f"""
SELECT name FROM agency
WHERE jurisdiction_id = {pk} AND (lower(code) = lower(%(ref)s) OR lower(name) = lower(%(ref)s))
UNION
SELECT agency_responsible FROM service
WHERE jurisdiction_id = {pk} AND lower(agency_responsible) = lower(%(ref)s)
ORDER BY 1"""
    return [row[0] for row in fetch_rows(session, sql, params)]


@contextmanager
def _cursor(session: Session, alone: bool = False) -> Iterator[DBAPICursor]:
    """A plain DBAPI cursor on the session's connection and transaction.

    `alone`: the caller's whole use of the database is this one statement (GET requests/{id}).
    When the connection has no transaction open yet, the statement then runs in autocommit,
    which spares the BEGIN and ROLLBACK round trips: a third of what a lookup by id costs the
    server. Inside a transaction (a test's, or after other statements) it just joins it.
    """
    raw = session.connection().connection.dbapi_connection
    idle = alone and raw.status == STATUS_READY and not raw.autocommit
    if idle:
        raw.autocommit = True
    try:
        with raw.cursor() as cursor:
            yield cursor
    finally:
        if idle:
            raw.autocommit = False


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _prepared(
    session: Session, cursor: DBAPICursor, sql: str, params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """EXECUTE of `sql` prepared on this connection (PREPARE the first time it is seen there).

    Parsing and planning this long select list costs PostgreSQL more than running it for one
    row; a prepared statement pays that once per connection. Prepared statements outlive
    transactions (a rollback keeps them), so the names prepared are kept in the pooled
    connection's `info`, which lives exactly as long as the server session does.
    """
    names = list(dict.fromkeys(_PLACEHOLDER.findall(sql)))
    statement = "open311_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
    prepared: set[str] = session.connection().connection.info.setdefault("open311.prepared", set())
    if statement not in prepared:
        numbered = _PLACEHOLDER.sub(lambda m: f"${names.index(m.group(1)) + 1}", sql)
        cursor.execute(f"PREPARE {statement} AS {numbered}")
        prepared.add(statement)
    arguments = ", ".join(f"%({name})s" for name in names)
    return f"EXECUTE {statement}({arguments})", params


def fetch_rows(session: Session, sql: str, params: dict[str, Any]) -> list[Any]:
    with _cursor(session) as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]
