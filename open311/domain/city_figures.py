"""How the city is doing, for its public page: the request statistics of GET stats/requests
(request_stats.figures, the same rollup and the same rules) for one month and the twelve
months up to it, totalled for the city where totals are exact.

Counts and backlogs of the service groups add up to the city's (each request is in one
service); a city-wide on-time share is the services' on-time closings over their closings with
an expected time. Medians do not add up, so a month's median time to close is shown per
service and per district only, as the API gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from open311.db import stats_span_queries
from open311.db.models import Jurisdiction
from open311.domain import request_stats
from open311.domain.request_stats import Figures, Period
from open311.errors import NotFound

TREND_MONTHS = 12
TOP_SERVICES = 10


@dataclass(frozen=True)
class MonthTotals:
    """The city's figures over one month: every service's added up."""

    period: Period
    opened: int
    closed: int
    closed_with_expected: int
    on_time_share: float | None
    backlog: int | None


@dataclass(frozen=True)
class ServiceTotals:
    """A service's requests over the whole window (the top services)."""

    group: str | None
    name: str | None
    opened: int
    closed: int


@dataclass(frozen=True)
class CityFigures:
    month: Period  # the month shown in detail
    start: date  # the trend's first day (the first of TREND_MONTHS months)
    refreshed_at: datetime | None
    months: list[MonthTotals]
    top_services: list[ServiceTotals]
    services: list[Figures]  # the month's, most opened first
    districts: list[Figures] | None  # None: the city has no boundary layer
    layer: str | None

    @property
    def any_expected(self) -> bool:
        """Whether any closing of the window had an expected time (else no on-time share)."""
        return any(totals.closed_with_expected for totals in self.months)


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def months_back(first: date, count: int) -> date:
    """The first of the month `count` months before the month starting on `first`."""
    index = first.year * 12 + first.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


def data_months(session: Session, jurisdiction: Jurisdiction) -> list[date] | None:
    """The months with figures, newest first (the page's choices); None before any refresh."""
    span = stats_span_queries.find_span(session, jurisdiction.id)
    if span is None:
        return None
    first, last = month_of(span[0]), month_of(span[1])
    months = [last]
    while months[-1] > first:
        months.append(months_back(months[-1], 1))
    return months


def default_month(months: list[date] | None, jurisdiction: Jurisdiction, now: datetime) -> date:
    """The last month that has ended and has figures: a whole month reads better than the few
    days of the current one. A history that ended years ago, as the demo's Los Angeles, shows
    its last month rather than an empty page; a city whose figures all fall in the current
    month, or that has none yet, shows the current month."""
    current = month_of(now.astimezone(ZoneInfo(jurisdiction.time_zone)).date())
    ended = [month for month in months or () if month < current]
    return ended[0] if ended else current


def trend_window(month: date, first: date | None = None) -> tuple[date, date]:
    """The TREND_MONTHS months ending with `month`, as the API's start_date and end_date; not
    before `first`, the city's first month with figures (no chart of empty months before it)."""
    start = months_back(month, TREND_MONTHS - 1)
    if first is not None and start < first <= month:
        start = first
    return start, month_end(month)


def city_figures(
    session: Session,
    jurisdiction: Jurisdiction,
    month: date,
    *,
    now: datetime,
    first: date | None = None,
) -> CityFigures:
    """The month `month` (its first day) in detail and the trend up to it (from `first`, the
    city's first month with figures, when that is later)."""
    start, end = trend_window(month, first)
    trend = request_stats.figures(
        session, jurisdiction, "service_code", "month", start, end, now=now
    )
    totals = _month_totals(trend.rows, request_stats.periods("month", start, end))
    this_month = [row for row in trend.rows if row.period.start == month]
    services = sorted(
        (row for row in this_month if row.opened or row.closed or row.backlog),
        key=lambda row: (-row.opened, -row.closed, row.name or row.group or ""),
    )
    districts: list[Figures] | None
    layer = None
    try:
        by_district = request_stats.figures(
            session, jurisdiction, "district", "month", month, month_end(month), now=now
        )
        districts = sorted(by_district.rows, key=_district_order)
        layer = by_district.layer
    except NotFound:  # no boundary layer to group by
        districts = None
    return CityFigures(
        month=Period(month, month_end(month)),
        start=start,
        refreshed_at=trend.refreshed_at,
        months=totals,
        top_services=_top_services(trend.rows),
        services=services,
        districts=districts,
        layer=layer,
    )


def _district_order(row: Figures) -> tuple[bool, str, int, str]:
    """By name, numbers as numbers (council district 2 before 10); requests in no district
    last."""
    label = row.name or row.group or ""
    return (
        row.group is None,
        "" if label.isdigit() else label,
        int(label or 0) if label.isdigit() else 0,
        label,
    )


def _month_totals(rows: list[Figures], spans: list[Period]) -> list[MonthTotals]:
    found = []
    for span in spans:
        month = [row for row in rows if row.period.start == span.start]
        with_expected = sum(row.closed_with_expected for row in month)
        # The API rounds each share to 4 places; share x closings is its count back.
        on_time = sum(round((row.on_time_share or 0) * row.closed_with_expected) for row in month)
        backlogs = [row.backlog for row in month if row.backlog is not None]
        found.append(
            MonthTotals(
                span,
                sum(row.opened for row in month),
                sum(row.closed for row in month),
                with_expected,
                round(on_time / with_expected, 4) if with_expected else None,
                sum(backlogs) if backlogs else None,
            )
        )
    return found


def _top_services(rows: list[Figures]) -> list[ServiceTotals]:
    totals: dict[str | None, ServiceTotals] = {}
    for row in rows:
        seen = totals.get(row.group) or ServiceTotals(row.group, row.name, 0, 0)
        totals[row.group] = ServiceTotals(
            row.group, row.name, seen.opened + row.opened, seen.closed + row.closed
        )
    ranked = sorted(totals.values(), key=lambda s: (-s.opened, s.name or s.group or ""))
    return [service for service in ranked if service.opened][:TOP_SERVICES]
