"""GET /open311/v2/stats/requests.{json,xml,csv,svg,png}: the figures in every format, every
parameter, caching, every error path; no personal data, nothing unpublished."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from open311 import create_app
from open311.domain import request_stats
from open311.values import ServiceType, Status
from open311.wire import request_stats as wire
from tests.api.helpers import PERSONAL, errors, leaked, url
from tests.factories import (
    make_api_key,
    make_boundary_layer,
    make_district,
    make_jurisdiction,
    make_request,
    make_service,
    place_request,
)

STATS = "/open311/v2/stats/requests"
NOW = datetime.now(UTC).replace(microsecond=0)
TZ = ZoneInfo("America/New_York")
TODAY = NOW.astimezone(TZ).date()


@pytest.fixture
def city(db):
    """New York time: potholes (closed in 10 h, on time; 50 h, late; one open, 3 days old) in
    district A, graffiti (one closed in 5 h without an expected time) in B, a blackbox tip."""
    jurisdiction = make_jurisdiction(db, jurisdiction_id="nyc.gov", time_zone="America/New_York")
    pothole = make_service(db, jurisdiction, "pothole")
    graffiti = make_service(db, jurisdiction, "graffiti")
    tip = make_service(db, jurisdiction, "tip", type=ServiceType.blackbox)
    layer = make_boundary_layer(db, jurisdiction, "community_districts")
    a, b = make_district(db, layer, "A", title="Alpha"), make_district(db, layer, "B")
    start = NOW - timedelta(days=6)

    def request(service, district, hours, expected=None, channel="phone"):
        closed = start + timedelta(hours=hours) if hours is not None else None
        made = make_request(
            db,
            service,
            requested_datetime=start,
            updated_datetime=closed or start,
            status=Status.closed if closed else Status.open,
            expected_datetime=start + timedelta(hours=expected) if expected else None,
            agency_responsible="Streets",
            channel=channel,
        )
        place_request(db, made, district)
        return made

    request(pothole, a, 10, expected=24)
    request(pothole, a, 50, expected=24, channel="web")
    request(pothole, a, None)
    request(graffiti, b, 5)
    request(tip, a, None)
    request_stats.refresh(db, jurisdiction, now=NOW)
    return jurisdiction


def _query(**extra):
    return {"period": "month", "start_date": (TODAY - timedelta(days=10)).isoformat()} | extra


def _totals(figures, key):
    return {
        g: sum(f[key] for f in figures if f["group"] == g) for g in {f["group"] for f in figures}
    }


def test_json_figures_per_group(client, city):
    response = client.get(f"{STATS}.json", query_string=_query())
    assert response.status_code == 200, response.data
    document = response.get_json()
    assert document["jurisdiction_id"] == "nyc.gov"
    assert (document["group_by"], document["period"], document["layer"]) == (
        "service_code",
        "month",
        None,
    )
    assert document["refreshed_at"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    figures = document["figures"]
    assert {f["group"] for f in figures} == {"pothole", "graffiti"}  # no blackbox tip
    assert {(f["group"], f["name"]) for f in figures} == {
        ("pothole", "Service pothole"),
        ("graffiti", "Service graffiti"),
    }
    assert _totals(figures, "opened") == {"pothole": 3, "graffiti": 1}
    assert _totals(figures, "closed") == {"pothole": 2, "graffiti": 1}
    last = [f for f in figures if f["group"] == "pothole"][-1]
    assert last["backlog"] == 1
    assert last["backlog_median_age_days"] == pytest.approx(6, abs=0.001)
    pothole_closings = [f for f in figures if f["group"] == "pothole" and f["closed"]]
    if len(pothole_closings) == 1:  # both closings in one month: exact percentiles
        (month,) = pothole_closings
        assert month["median_hours_to_close"] == 30.0
        assert month["p90_hours_to_close"] == 46.0
        assert month["on_time_share"] == 0.5
        assert month["closed_with_expected"] == 2
    graffiti = [f for f in figures if f["group"] == "graffiti" and f["closed"]]
    assert graffiti[0]["on_time_share"] is None and graffiti[0]["closed_with_expected"] == 0


def test_xml_is_the_same_document(client, city):
    as_json = client.get(f"{STATS}.json", query_string=_query()).get_json()
    response = client.get(f"{STATS}.xml", query_string=_query())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(response.data)
    assert root.tag == "request_statistics"
    assert root.findtext("group_by") == "service_code"
    items = root.find("figures")
    assert [child.tag for child in items] == ["figure"] * len(as_json["figures"])
    for element, figures in zip(items, as_json["figures"], strict=True):
        expected = {k: str(v) for k, v in figures.items() if v is not None}
        assert {child.tag: child.text for child in element} == expected


def test_csv_parsed_equals_the_json(client, city):
    as_json = client.get(f"{STATS}.json", query_string=_query(group_by="channel")).get_json()
    response = client.get(f"{STATS}.csv", query_string=_query(group_by="channel"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert b"\r\n" in response.data
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8"))))
    assert tuple(rows[0]) == wire.FIELDS
    assert all(row["name"] == "" for row in rows)  # a channel is its own name
    expected = [
        {k: "" if v is None else str(v) for k, v in figures.items()}
        for figures in as_json["figures"]
    ]
    assert rows == expected


@pytest.mark.parametrize("metric", list(wire.METRICS))
def test_svg_of_every_metric_is_xml_with_its_title(client, city, metric):
    response = client.get(f"{STATS}.svg", query_string=_query(metric=metric, period="day"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(response.data)
    assert root.tag.endswith("svg")
    assert wire.METRICS[metric][0] in response.data.decode("utf-8")


def test_png_decodes(client, city):
    response = client.get(f"{STATS}.png", query_string=_query(group_by="district"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.data))
    image.verify()
    assert image.size[0] > 300 and image.size[1] > 200


@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize(
    ("group_by", "groups"),
    [
        ("service_code", {"pothole", "graffiti"}),
        ("district", {"A", "B"}),
        ("agency", {"Streets"}),
        ("channel", {"phone", "web"}),
    ],
)
def test_every_group_by_and_period(client, db, city, group_by, groups, period):
    query = _query(group_by=group_by, period=period)
    figures = client.get(f"{STATS}.json", query_string=query).get_json()["figures"]
    assert {f["group"] for f in figures} == groups
    if group_by in ("agency", "channel"):
        assert all(f["name"] is None for f in figures)
    assert sum(f["opened"] for f in figures) == 4
    series = request_stats.figures(
        db,
        city,
        group_by,
        period,
        date.fromisoformat(query["start_date"]),
        None,
        now=NOW,
    )
    assert figures == wire.payload(series)["figures"]
    for f in figures:
        start = date.fromisoformat(f["period_start"])
        if period == "week":
            assert start.weekday() == 0
        if period == "month":
            assert start.day == 1


def test_dates_and_layer(client, db, city):
    make_boundary_layer(db, city, "other")
    query = {"group_by": "district", "layer": "community_districts", "period": "day"}
    day = (NOW - timedelta(days=6)).astimezone(TZ).date().isoformat()
    document = client.get(
        f"{STATS}.json", query_string=query | {"start_date": day, "end_date": day}
    ).get_json()
    assert document["layer"] == "community_districts"
    assert (document["start_date"], document["end_date"]) == (day, day)
    assert {
        (f["group"], f["name"], f["period_start"], f["opened"]) for f in document["figures"]
    } == {("A", "Alpha", day, 3), ("B", "B", day, 1)}
    empty = client.get(
        f"{STATS}.json", query_string=query | {"layer": "other", "start_date": day}
    ).get_json()
    assert empty["figures"] == [] and empty["layer"] == "other"


def test_defaults_and_the_named_jurisdiction(client, db, city):
    make_jurisdiction(db, jurisdiction_id="other.example", name="Other")
    errors(client.get(f"{STATS}.json"), "json", 400)  # two cities, none named
    document = client.get(f"{STATS}.json", query_string={"jurisdiction_id": "nyc.gov"}).get_json()
    assert (document["group_by"], document["period"]) == ("service_code", "week")
    assert document["end_date"] == TODAY.isoformat()
    assert date.fromisoformat(document["start_date"]) == TODAY - timedelta(days=7 * 26 - 1)


def test_cacheable_for_the_refresh_interval(client, city):
    response = client.get(f"{STATS}.json", query_string=_query())
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert parsedate_to_datetime(response.headers["Last-Modified"]) == NOW
    etag = response.headers["ETag"]
    again = client.get(f"{STATS}.json", query_string=_query(), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    since = client.get(
        f"{STATS}.csv",
        query_string=_query(),
        headers={"If-Modified-Since": response.headers["Last-Modified"]},
    )
    assert since.status_code == 304


def test_no_personal_data_and_nothing_unpublished(client, db, city):
    key = make_api_key(db)
    data = {"api_key": key, "service_code": "pothole", "lat": "40.7", "long": "-74.0"}
    posted = client.post(url("requests", "json"), data=data | PERSONAL)
    assert posted.status_code in (200, 201), posted.data
    request_stats.refresh(db, city, now=NOW + timedelta(seconds=1), full=True)
    for fmt in ("json", "xml", "csv", "svg"):
        response = client.get(f"{STATS}.{fmt}", query_string=_query())
        assert response.status_code == 200
        assert leaked(response.data) == []
        assert b"tip" not in response.data


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("query", "status", "name"),
    [
        ({"group_by": "zip"}, 400, "group_by"),
        ({"period": "year"}, 400, "period"),
        ({"start_date": "yesterday"}, 400, "start_date"),
        ({"end_date": "2026-13-01"}, 400, "end_date"),
        ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, 400, "end_date"),
        ({"period": "day", "start_date": "2025-01-01", "end_date": "2026-01-02"}, 400, "366"),
        ({"period": "week", "start_date": "2000-01-01", "end_date": "2026-01-02"}, 400, "years"),
        ({"group_by": "agency", "layer": "community_districts"}, 400, "layer"),
        ({"group_by": "district", "layer": "wards"}, 404, "wards"),
        ({"metric": "speed"}, 400, "metric"),
        ({"jurisdiction_id": "nowhere.example"}, 404, "nowhere.example"),
    ],
)
def test_errors_in_the_format_asked_for(client, city, fmt, query, status, name):
    descriptions = errors(client.get(f"{STATS}.{fmt}", query_string=query), fmt, status)
    assert any(name in d for d in descriptions), descriptions


@pytest.mark.parametrize("fmt", ["csv", "svg", "png"])
def test_errors_of_files_and_pictures_are_json(client, city, fmt):
    descriptions = errors(client.get(f"{STATS}.{fmt}", query_string={"period": "x"}), "json", 400)
    assert any("period" in d for d in descriptions)


def test_an_unknown_format_is_404_in_xml_as_everywhere_in_georeport(client, city):
    (description,) = errors(client.get(f"{STATS}.txt"), "xml", 404)
    assert ".csv" in description


def test_too_many_groups_and_periods_is_400(client, city, monkeypatch):
    monkeypatch.setattr(request_stats, "MAX_CELLS", 3)
    (description,) = errors(
        client.get(f"{STATS}.json", query_string=_query(period="day")), "json", 400
    )
    assert "more than 3 figures" in description


def test_never_refreshed_is_empty_without_a_time(client, db):
    make_jurisdiction(db)
    response = client.get(f"{STATS}.json")
    document = response.get_json()
    assert document["refreshed_at"] is None and document["figures"] == []
    assert "Last-Modified" not in response.headers


# The refusals no schema can state: the window and the size of a series, a layer with another
# group_by (tests/api/test_schemathesis.py's CONTRACT_REFUSALS lists them too), and those every
# endpoint shares.
REFUSALS = re.compile(
    r"end_date must not be before start_date|period=day covers at most \d+ days"
    r"|a series covers at most|periods is more than \d+ figures|layer is only for"
    r"|contains control characters|not a date \(YYYY-MM-DD\)"
)


def test_the_documented_contract_holds_under_fuzzing(app, city):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    checks = [c for c in CHECKS.get_all() if c is not positive_data_acceptance]
    failures: list[str] = []

    def acceptance(ctx, response, case):
        if response.status_code == 400 and REFUSALS.search(response.text):
            return None
        return positive_data_acceptance(ctx, response, case)

    (operation,) = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.endswith("/stats/requests.{fmt}")
    ]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            if any(value == "" for value in (case.query or {}).values()):
                # A blank parameter counts as absent, as every GeoReport argument does
                # (smorest.BaseSchema): its default, not a violation. Whether such a negative
                # case is drawn depends on what other tests registered with schemathesis.
                return
            response = case.call(app=app)
            assert response.status_code < 500, response.text
            try:
                case.validate_response(
                    response, checks=[*checks, acceptance], transport_kwargs={"app": app}
                )
            except FailureGroup as group:
                failures.extend(
                    f"{f.title}: {response.status_code} {response.text[:150]} <- {case.query!r}"
                    for f in group.exceptions
                )

        run()
    assert not failures, "\n".join(failures[:20])


def test_counted_against_the_exports_limit(database_url, session_factory, redis_url, city):
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    config = {"DATABASE_URL": database_url, "TESTING": True, "REDIS_URL": redis_url}
    limits = {"OPEN311_RATE_LIMITS": True, "OPEN311_RATE_LIMIT_EXPORTS": "2/minute"}
    limited = create_app(config | limits)
    limited.extensions["open311.sessions"] = session_factory
    client = limited.test_client()
    for left in ("1", "0"):
        response = client.get(f"{STATS}.csv", query_string=_query())
        assert response.status_code == 200
        assert f'"exports";r={left}' in response.headers["RateLimit"]
    for fmt in ("xml", "json"):
        refused = client.get(f"{STATS}.{fmt}", query_string=_query())
        (description,) = errors(refused, fmt, 429)
        assert "exports" in description and refused.headers["Retry-After"]
    store.flushdb()


def test_a_chart_of_medians_shows_the_largest_groups_and_sums_none():
    """Counts past the chart's largest groups are summed into "other"; medians and shares
    cannot be: their chart keeps the groups with the most requests opened."""
    span = request_stats.Period(date(2026, 11, 2), date(2026, 11, 8))
    rows = [
        request_stats.Figures(f"G{n}", span, n, 1, float(n), float(n), 0, None, n, 1.0)
        for n in range(12)
    ]
    series = request_stats.Series("x", "agency", None, "week", span.start, span.end, NOW, rows)
    medians = wire.chart(series, "median_hours_to_close", "Somewhere")
    assert set(medians.series) == {f"G{n}" for n in range(4, 12)}
    assert "the 8 groups with the most requests" in medians.subtitle
    counts = wire.chart(series, "opened", "Somewhere")
    assert len(counts.series) == 12 and "most requests" not in counts.subtitle
