"""The monthly report of one city: the figures a 311 director reads, gathered for one month.

Where each part comes from, and why:
- requests (opened and closed by service group against the month before, on time, backlog and
  its median age at the month's end, per day): counted from the requests themselves
  (db/report_queries.py) with the public statistics' definitions, so a report is exact whenever
  it is run, without waiting for the statistics' rollups to be refreshed;
- the call centre (offered, answered, abandoned, speed of answer, service level, handle and
  hold time, information vs request, interpreters, per day, channel and language, the articles
  that answered most): domain/call_stats.py, the same figures as the staff statistics API;
- hotspots: domain/hotspots.py over the requests opened in the month, the same clusters as
  GET /open311/v2/stats/hotspots.geojson.

The month is the city's own: from its first local midnight to the next month's.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from open311.db import report_queries
from open311.db.models import Jurisdiction
from open311.domain import call_stats, hotspots
from open311.errors import InvalidInput
from open311.wire import monthly_report as page

HOTSPOT_RADIUS_M = 50.0
HOTSPOT_MIN_REQUESTS = 5
TOP_HOTSPOTS = 10
TOP_ARTICLES = 10

NOTES = (
    "Requests count as closed when their status is closed, at their last update; on time when "
    "closed by their expected time. Every service is counted, blackbox ones included.",
    "Contacts count in the local day they were queued in. Service level: contacts answered "
    "within the threshold, of those offered (abandoned ones count against it).",
    "Hotspots: published requests opened this month, clustered with DBSCAN in the city's UTM "
    "zone; services are named by code when the catalogue no longer has them.",
)


def parse_month(text: str) -> date:
    """ "2026-11" -> 2026-11-01; anything else is refused as InvalidInput."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InvalidInput(f"month must be YYYY-MM, such as 2026-11 (got {text!r})")
    return date(int(match.group(1)), int(match.group(2)), 1)


def month_bounds(month: date, time_zone: str) -> tuple[datetime, datetime, datetime]:
    """The previous month's start, the month's start and its end, as aware UTC moments of the
    city's local midnights."""
    zone = ZoneInfo(time_zone)
    previous = (month - timedelta(days=1)).replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    return tuple(  # type: ignore[return-value]
        datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)
        for d in (previous, month, following)
    )


def build(
    session: Session,
    jurisdiction: Jurisdiction,
    month: date,
    *,
    now: datetime,
    service_level_s: float,
) -> page.MonthlyReport:
    """The report of `jurisdiction` for `month` (its first day). Reads only. A month not over
    yet is reported up to its end all the same (figures so far); one that has not begun is
    refused."""
    previous_start, start, end = month_bounds(month, jurisdiction.time_zone)
    if start > now:
        raise InvalidInput(f"{month:%Y-%m} has not begun")
    notes = list(NOTES)
    try:
        spots = _hotspots(session, jurisdiction, start, end, now)
    except InvalidInput as refused:
        # A month too big to cluster at once (hotspots.MAX_REQUESTS) still gets its report.
        spots = []
        notes.append(f"Hotspots not computed: {refused}.")
    return page.MonthlyReport(
        jurisdiction_id=jurisdiction.jurisdiction_id,
        city=jurisdiction.name,
        time_zone=jurisdiction.time_zone,
        month=month,
        generated_at=now.astimezone(UTC),
        requests=_requests(session, jurisdiction, previous_start, start, end),
        calls=_calls(session, jurisdiction, start, end, now, service_level_s),
        hotspots=spots,
        hotspot_radius_m=HOTSPOT_RADIUS_M,
        hotspot_min_requests=HOTSPOT_MIN_REQUESTS,
        notes=notes,
    )


def _requests(
    session: Session, jurisdiction: Jurisdiction, previous_start: datetime, start: datetime,
    end: datetime,
) -> page.RequestFigures:  # fmt: skip
    def volume(sums: report_queries.RequestSums) -> page.GroupVolume:
        return page.GroupVolume(
            group=sums.group or "all",
            opened=sums.opened,
            opened_previous=sums.opened_previous,
            closed=sums.closed,
            closed_previous=sums.closed_previous,
            on_time_pct=_pct(sums.closed_on_time, sums.closed_with_deadline),
            backlog=sums.backlog,
            backlog_median_age_days=_round(sums.backlog_median_age_days),
        )

    args = (session, jurisdiction.id, previous_start, start, end)
    groups = [volume(s) for s in report_queries.request_sums(*args, by_group=True)]
    groups.sort(key=lambda g: (-g.opened, -g.backlog, g.group))
    (total,) = report_queries.request_sums(*args, by_group=False)
    counted = report_queries.requests_per_day(
        session, jurisdiction.id, jurisdiction.time_zone, start, end
    )
    per_day = [
        page.DayCount(day, counted.get(day, (0, 0)))
        for day in _local_days(start, end, jurisdiction.time_zone)
    ]
    return page.RequestFigures(volume(total), groups, per_day)


def _calls(
    session: Session, jurisdiction: Jurisdiction, start: datetime, end: datetime,
    now: datetime, service_level_s: float,
) -> page.CallFigures:  # fmt: skip
    window = call_stats.plan_window(jurisdiction, "day", start, end, now=now)

    def figures(group_by: str) -> call_stats.FigureReport:
        return call_stats.contact_figures(
            session, jurisdiction, window, group_by, service_level_s=service_level_s
        )

    city = figures("none")
    total = city.total

    def counts(report: call_stats.FigureReport) -> list[page.ChannelCount]:
        return [
            page.ChannelCount(
                t["group_name"], t["offered"], t["answered"], t["abandoned"], t["interpreter"]
            )
            for t in report.totals
            if t["offered"]
        ]

    articles = call_stats.top_articles(session, jurisdiction, start, end, limit=TOP_ARTICLES)
    return page.CallFigures(
        offered=total["offered"],
        answered=total["answered"],
        abandoned=total["abandoned"],
        abandoned_pct=total["abandoned_pct"],
        asa_seconds=total["asa_seconds"],
        service_level_pct=total["service_level_pct"],
        service_level_seconds=service_level_s,
        aht_seconds=total["aht_seconds"],
        avg_hold_seconds=total["avg_hold_seconds"],
        information_pct=total["information_pct"],
        request_pct=total["request_pct"],
        interpreter=total["interpreter"],
        interpreter_pct=total["interpreter_pct"],
        by_channel=counts(figures("channel")),
        by_language=counts(figures("language")),
        top_articles=[
            page.ArticleCount(a["article_id"], a["title"] or a["article_id"], a["answers"])
            for a in articles
        ],
        per_day=[
            page.DayCount(
                date.fromisoformat(row["period_start"][:10]),
                (row["offered"], row["answered"], row["abandoned"]),
            )
            for row in city.rows
        ],
    )


def _hotspots(
    session: Session, jurisdiction: Jurisdiction, start: datetime, end: datetime, now: datetime
) -> list[page.Hotspot]:
    # hotspots.find takes both ends of its window as included.
    found = hotspots.find(
        session,
        jurisdiction,
        now=now,
        start=start,
        end=end - timedelta(microseconds=1),
        radius_m=HOTSPOT_RADIUS_M,
        min_requests=HOTSPOT_MIN_REQUESTS,
        limit=TOP_HOTSPOTS,
    )
    names = report_queries.service_names(session, jurisdiction.id)
    result = []
    for spot in found.hotspots:
        codes = sorted(spot.service_codes.items(), key=lambda kv: (-kv[1], kv[0]))
        main_code = codes[0][0] if codes else ""
        others = sum(count for _code, count in codes[1:])
        result.append(
            page.Hotspot(
                service_name=names.get(main_code, main_code),
                requests=spot.count,
                other_services=others,
                extent_m=spot.radius_m,
                first_requested=spot.first_requested_datetime,
                last_requested=spot.last_requested_datetime,
                latitude=spot.lat,
                longitude=spot.long,
            )
        )
    return result


def _local_days(start: datetime, end: datetime, time_zone: str) -> list[date]:
    zone = ZoneInfo(time_zone)
    day, last = start.astimezone(zone).date(), (end.astimezone(zone) - timedelta(days=1)).date()
    days = []
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    return days


def _pct(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
