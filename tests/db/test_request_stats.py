"""Request statistics agree with the raw rows: every figure recomputed in Python from them."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select, text

from open311.cli import main
from open311.commands.schedule import refresh_statistics
from open311.config import Settings
from open311.db.models import StatsRequestDay
from open311.domain import request_stats
from open311.errors import InvalidInput, NotFound
from open311.values import ServiceType, Status
from tests.factories import (
    make_boundary_layer,
    make_district,
    make_jurisdiction,
    make_request,
    make_service,
    place_request,
)

TZ = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 3, 20, 19, 30, tzinfo=UTC)
FIRST = datetime(2026, 1, 1, 8, tzinfo=UTC)


@pytest.fixture
def city(db):
    """A city in Los Angeles' time zone (DST starts 2026-03-08), two layers, three services
    (one blackbox), 160 requests over January to March: closed, open, with and without
    expected times, agencies, channels and districts; some at local midnight."""
    jurisdiction = make_jurisdiction(db, time_zone="America/Los_Angeles")
    services = [make_service(db, jurisdiction, code) for code in ("pothole", "graffiti")]
    hidden = make_service(db, jurisdiction, "tip", type=ServiceType.blackbox)
    council = make_boundary_layer(db, jurisdiction, "council")
    other = make_boundary_layer(db, jurisdiction, "sanitation")
    districts = [make_district(db, council, name) for name in ("CD 1", "CD 2", "CD 3")]
    areas = [make_district(db, other, name) for name in ("North", "South")]
    rng = random.Random(15)
    rows = []
    for n in range(160):
        requested = FIRST + timedelta(minutes=rng.randrange(0, 78 * 24 * 60))
        if n % 17 == 0:  # exactly at a local midnight
            local = requested.astimezone(TZ).date()
            requested = datetime.combine(local, time(0), tzinfo=TZ).astimezone(UTC)
        closed = requested + timedelta(hours=rng.uniform(0.5, 400)) if rng.random() < 0.7 else None
        if closed is not None and closed > NOW:
            closed = None
        expected = requested + timedelta(hours=rng.choice([24, 72, 240])) if n % 3 else None
        service = hidden if n % 23 == 0 else rng.choice(services)
        request = make_request(
            db,
            service,
            requested_datetime=requested,
            updated_datetime=closed or requested,
            status=Status.closed if closed else Status.open,
            expected_datetime=expected,
            agency_responsible=rng.choice(["Streets", "Sanitation", None]),
            channel=rng.choice(["phone", "web", "app", None]),
        )
        if n % 5:
            place_request(db, request, rng.choice(districts))
        if n % 4:
            place_request(db, request, rng.choice(areas))
        rows.append(request)
    return jurisdiction, rows, council, other


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def _group(request, group_by: str, layer) -> str | None:
    if group_by == "service_code":
        return request.service.service_code
    if group_by == "agency":
        return request.agency_responsible
    if group_by == "channel":
        return request.channel
    names = [d.district.name for d in request.districts if d.layer_id == layer.id]
    return names[0] if names else None


def _expected(requests, group_by, layer, span, now):
    """Every figure of one group's period, from the rows."""
    start = datetime.combine(span.start, time(0), tzinfo=TZ)
    end = datetime.combine(span.end + timedelta(days=1), time(0), tzinfo=TZ)
    opened = [r for r in requests if start <= r.requested_datetime < end]
    closings = [
        r for r in requests if r.status == Status.closed and start <= r.updated_datetime < end
    ]
    hours = [(r.updated_datetime - r.requested_datetime).total_seconds() / 3600 for r in closings]
    due = [r for r in closings if r.expected_datetime is not None]
    on_time = [r for r in due if r.updated_datetime <= r.expected_datetime]
    figures = {
        "opened": len(opened),
        "closed": len(closings),
        "median": round(_percentile(hours, 0.5), 3) if hours else None,
        "p90": round(_percentile(hours, 0.9), 3) if hours else None,
        "with_expected": len(due),
        "on_time": round(len(on_time) / len(due), 4) if due else None,
        "backlog": None,
        "age": None,
    }
    if span.start <= now.astimezone(TZ).date():
        moment = min(end, now)
        backlog = [
            r
            for r in requests
            if r.requested_datetime < moment
            and not (r.status == Status.closed and r.updated_datetime < moment)
        ]
        figures["backlog"] = len(backlog)
        if backlog:
            ages = [(moment - r.requested_datetime).total_seconds() / 86400 for r in backlog]
            figures["age"] = round(_percentile(ages, 0.5), 3)
    return figures


def _actual(row):
    return {
        "opened": row.opened,
        "closed": row.closed,
        "median": row.median_hours_to_close,
        "p90": row.p90_hours_to_close,
        "with_expected": row.closed_with_expected,
        "on_time": row.on_time_share,
        "backlog": row.backlog,
        "age": row.backlog_median_age_days,
    }


def _check(
    db,
    jurisdiction,
    requests,
    group_by,
    period,
    layer,
    now,
    *,
    layer_name=None,
    window=(date(2025, 12, 29), date(2026, 4, 5)),
):
    series = request_stats.figures(
        db, jurisdiction, group_by, period, *window, now=now, layer=layer_name
    )
    published = [r for r in requests if r.service.type is not ServiceType.blackbox]
    spans = request_stats.periods(period, *window)
    groups = {_group(r, group_by, layer) for r in published}
    shown = {row.group for row in series.rows}
    assert shown <= groups
    for group in groups:
        members = [r for r in published if _group(r, group_by, layer) == group]
        rows = {row.period: row for row in series.rows if row.group == group}
        for span in spans:
            expected = _expected(members, group_by, layer, span, now)
            if group not in shown:
                assert expected["opened"] == expected["closed"] == 0
                assert not expected["backlog"]
                continue
            actual = _actual(rows[span])
            for name in ("median", "p90", "age", "on_time"):
                if expected[name] is not None and actual[name] is not None:
                    assert actual[name] == pytest.approx(expected[name], abs=0.0011), (
                        group,
                        span,
                        name,
                    )
                    expected[name] = actual[name]
            assert actual == expected, (group, span)
    return series


@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("group_by", ["service_code", "district", "agency", "channel"])
def test_every_figure_agrees_with_the_rows(db, city, group_by, period):
    jurisdiction, requests, council, _other = city
    request_stats.refresh(db, jurisdiction, now=NOW)
    db.expire_all()
    series = _check(db, jurisdiction, requests, group_by, period, council, NOW)
    assert series.refreshed_at == NOW
    assert series.layer == ("council" if group_by == "district" else None)
    assert "tip" not in {row.group for row in series.rows}  # blackbox: not published


@pytest.mark.parametrize("period", ["day", "week"])
def test_a_window_after_the_first_requests_carries_their_backlog_over(db, city, period):
    """Days without an opening or a closing have no row: a window's first periods take the
    backlog from the group's last row before it; a window after the refresh has none."""
    jurisdiction, requests, council, _other = city
    request_stats.refresh(db, jurisdiction, now=NOW)
    db.expire_all()
    for window in [(date(2026, 3, 3), date(2026, 3, 25)), (date(2026, 2, 14), date(2026, 2, 20))]:
        for group_by in ("service_code", "district", "channel"):
            _check(db, jurisdiction, requests, group_by, period, council, NOW, window=window)


def test_a_named_layer_groups_by_its_districts(db, city):
    jurisdiction, requests, _council, other = city
    request_stats.refresh(db, jurisdiction, now=NOW)
    db.expire_all()
    series = _check(
        db, jurisdiction, requests, "district", "week", other, NOW, layer_name="sanitation"
    )
    assert {row.group for row in series.rows} == {"North", "South", None}


def test_weeks_start_on_monday_local_time(db, city):
    jurisdiction, _requests, _council, _other = city
    request_stats.refresh(db, jurisdiction, now=NOW)
    series = request_stats.figures(
        db, jurisdiction, "channel", "week", date(2026, 3, 4), date(2026, 3, 11), now=NOW
    )
    assert {(row.period.start, row.period.end) for row in series.rows} == {
        (date(2026, 3, 2), date(2026, 3, 8)),
        (date(2026, 3, 9), date(2026, 3, 15)),
    }
    months = request_stats.periods("month", date(2026, 1, 31), date(2026, 3, 1))
    assert [(p.start, p.end) for p in months] == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 31)),
    ]


def test_incremental_refresh_equals_a_rebuild_and_the_rows(db, city):
    """Closing, reopening, a new request, a request moved to a blackbox service, and time
    passing: the incremental refresh recomputes only the days touched and gets the same rows."""
    jurisdiction, requests, council, _other = city
    request_stats.refresh(db, jurisdiction, now=NOW)
    later = NOW + timedelta(days=2, hours=3)
    public = [r for r in requests if r.service.type is not ServiceType.blackbox]
    open_one = next(r for r in public if r.status == Status.open)
    reopened, moved = [r for r in public if r.status == Status.closed][:2]
    open_one.status, open_one.updated_datetime = Status.closed, later - timedelta(hours=5)
    reopened.status, reopened.updated_datetime = Status.open, later - timedelta(hours=4)
    fresh = make_request(
        db,
        public[0].service,
        requested_datetime=later - timedelta(hours=2),
        updated_datetime=later - timedelta(hours=2),
        channel="phone",
    )
    requests.append(fresh)
    hidden = next(r for r in requests if r.service.type is ServiceType.blackbox)
    moved.service, moved.updated_datetime = hidden.service, later - timedelta(hours=1)
    db.flush()
    done = request_stats.refresh(db, jurisdiction, now=later)
    assert not done.full
    assert done.requests == 4
    # The reopened request's old closing day was recomputed, whatever its age.
    assert done.first_day <= reopened.requested_datetime.astimezone(TZ).date()
    incremental = _day_rows(db, jurisdiction)
    db.expire_all()
    for group_by in ("service_code", "district", "channel"):
        _check(db, jurisdiction, requests, group_by, "day", council, later)
    request_stats.refresh(db, jurisdiction, now=later, full=True)
    assert _day_rows(db, jurisdiction) == incremental


def test_a_refresh_without_changes_recomputes_nothing(db, city):
    jurisdiction, _requests, _council, _other = city
    request_stats.refresh(db, jurisdiction, now=NOW)
    done = request_stats.refresh(db, jurisdiction, now=NOW + timedelta(minutes=5))
    assert (done.requests, done.first_day, done.last_day, done.rows) == (0, None, None, 0)


def _day_rows(db, jurisdiction):
    rows = db.scalars(
        select(StatsRequestDay).where(StatsRequestDay.jurisdiction_id == jurisdiction.id)
    ).all()
    return sorted(
        (
            r.dimension,
            r.group_value,
            r.day,
            r.opened,
            r.closed,
            r.closed_with_expected,
            r.closed_on_time,
            r.close_hours,
            r.backlog,
            r.backlog_median_requested_s,
        )
        for r in rows
    )


def test_never_refreshed_has_no_figures_and_no_time(db, city):
    jurisdiction, _requests, _council, _other = city
    series = request_stats.figures(db, jurisdiction, "service_code", "month", now=NOW)
    assert series.refreshed_at is None and series.rows == []
    assert (series.start, series.end) == (date(2025, 3, 21), date(2026, 3, 20))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"group_by": "zip"}, InvalidInput),
        ({"period": "year"}, InvalidInput),
        ({"start": date(2026, 3, 2), "end": date(2026, 3, 1)}, InvalidInput),
        ({"period": "day", "start": date(2024, 12, 31), "end": date(2026, 1, 1)}, InvalidInput),
        ({"start": date(2000, 1, 1), "end": date(2026, 1, 1)}, InvalidInput),
        ({"group_by": "agency", "layer": "council"}, InvalidInput),
        ({"group_by": "district", "layer": "nope"}, NotFound),
    ],
)
def test_refusals(db, city, args, error):
    jurisdiction, _requests, _council, _other = city
    call = {"group_by": "service_code", "period": "week", "start": None, "end": None} | args
    layer = call.pop("layer", None)
    with pytest.raises(error):
        request_stats.figures(db, jurisdiction, now=NOW, layer=layer, **call)


def test_a_city_without_layers_cannot_group_by_district(db):
    jurisdiction = make_jurisdiction(db)
    with pytest.raises(NotFound):
        request_stats.figures(db, jurisdiction, "district", "week", now=NOW)


def test_the_command_and_the_worker_job_refresh_every_city(app, db, city):
    """`open311 stats refresh [--full] [--jurisdiction]` and the scheduled job's body."""
    jurisdiction, _requests, _council, _other = city
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    full = runner.invoke(main, ["stats", "refresh", "--full"], obj=info)
    assert full.exit_code == 0, full.output
    assert full.output.startswith("lacity.org: rebuilt ")
    again = runner.invoke(main, ["stats", "refresh", "--jurisdiction", "lacity.org"], obj=info)
    assert again.exit_code == 0 and "lacity.org: refreshed " in again.output
    unknown = runner.invoke(main, ["stats", "refresh", "--jurisdiction", "nowhere"], obj=info)
    assert unknown.exit_code == 1 and "nowhere" in unknown.output
    counts = refresh_statistics(db, Settings(), NOW)
    assert counts["jurisdictions"] == 1 and counts["requests"] == 0
    assert request_stats.figures(db, jurisdiction, "agency", "month", now=NOW).rows


def test_a_refresh_lifts_the_apis_timeouts_for_its_transaction(db, city):
    jurisdiction, _requests, _council, _other = city
    db.execute(text("SET LOCAL statement_timeout = 5000"))
    request_stats.refresh(db, jurisdiction, now=NOW)
    assert db.scalar(text("SHOW statement_timeout")) == "0"
    assert db.scalar(text("SHOW idle_in_transaction_session_timeout")) == "0"
