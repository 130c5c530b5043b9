"""The supervisor's statistics dashboard: the staff API's call-centre and crew figures
(GET /api/v1/stats/contacts and /work-orders: domain/call_stats.py) and the request figures
(GET /stats/requests: domain/request_stats.py) of one city over one window, as tables and as
the same charts.

The staff charts need a bearer token, which an <img> cannot send, so the console draws them
itself (/staff/charts/<name>.svg, with the session's user) through the same report and chart
functions as the API's .svg answers. One window serves all three: the API's `plan_window` of
the city's local days, weeks or months, whose local dates bound the request figures too.
Registered by queue.py under the endpoints console_queue.dashboard and console_queue.chart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, request, url_for
from sqlalchemy.orm import Session

from open311 import clock
from open311.api import database
from open311.db.models import Jurisdiction
from open311.domain import call_stats, request_stats, staff
from open311.errors import InvalidInput
from open311.web.pages import render, say, say_text
from open311.web.staff.access import current_user
from open311.wire import charts
from open311.wire import request_stats as request_stats_wire

PERIODS = request_stats.PERIODS  # local days, weeks, months: what both kinds of figures offer
CONTACT_GROUP = "channel"
WORK_ORDER_GROUP = "crew"
REQUEST_GROUP = "service_code"


@dataclass(frozen=True)
class Asked:
    """The dashboard's choices, read from its GET form."""

    city: Jurisdiction
    cities: list[Jurisdiction]
    period: str
    start: date | None
    end: date | None  # the last day shown, inclusive

    def query(self) -> dict[str, str]:
        """The choices as a query string, for the charts' URLs."""
        query = {"jurisdiction_id": self.city.jurisdiction_id, "period": self.period}
        if self.start is not None:
            query["start"] = self.start.isoformat()
        if self.end is not None:
            query["end"] = self.end.isoformat()
        return query


def _date(name: str) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(say("%(name)s: not a date (YYYY-MM-DD)", name=name)) from None


def _city(session: Session) -> tuple[Jurisdiction, list[Jurisdiction]]:
    """The city asked for (403 if not the user's), else the user's only or default city, else
    the first of theirs."""
    user = current_user()
    mine = sorted(user.jurisdictions, key=lambda city: city.name)
    asked = request.args.get("jurisdiction_id", "").strip() or None
    try:
        return staff.choose_jurisdiction(session, user, asked), mine
    except InvalidInput:  # several cities, none the default: show the first
        return mine[0], mine


def asked(session: Session) -> Asked:
    city, cities = _city(session)
    period = request.args.get("period", "day")
    if period not in PERIODS:
        raise InvalidInput(say("period: one of %(choices)s", choices=", ".join(PERIODS)))
    start, end = _date("start"), _date("end")
    if start is None or end is None:
        # Whole local days, so that the tables, the charts and the dates shown agree: the
        # API's default span (31 days by day, 13 weeks, a year) ending today.
        last = end or clock.now().astimezone(ZoneInfo(city.time_zone)).date()
        start = start or last - timedelta(days=call_stats.DEFAULT_SPAN[period].days - 1)
        end = last
    return Asked(city, cities, period, start, end)


def window(chosen: Asked) -> call_stats.Window:
    """The API's window of the choices: from the start day's local midnight to the end of the
    last day (default: the API's span up to now)."""
    zone = ZoneInfo(chosen.city.time_zone)

    def midnight(day: date | None) -> datetime | None:
        return datetime.combine(day, datetime.min.time(), zone) if day is not None else None

    end = midnight(chosen.end + timedelta(days=1)) if chosen.end is not None else None
    return call_stats.plan_window(
        chosen.city, chosen.period, midnight(chosen.start), end, now=clock.now()
    )


def contact_report(session: Session, chosen: Asked, span: call_stats.Window) -> Any:
    return call_stats.contact_figures(
        session,
        chosen.city,
        span,
        CONTACT_GROUP,
        service_level_s=float(current_app.config["OPEN311_SERVICE_LEVEL_S"]),
    )


def work_order_report(session: Session, chosen: Asked, span: call_stats.Window) -> Any:
    return call_stats.work_order_figures(
        session, chosen.city, span, WORK_ORDER_GROUP, now=clock.now()
    )


def request_series(session: Session, chosen: Asked, span: call_stats.Window) -> Any:
    """The request figures of the same local days as the window's."""
    first = span.start.astimezone(span.zone).date()
    last = (span.end - timedelta(microseconds=1)).astimezone(span.zone).date()
    return request_stats.figures(
        session, chosen.city, REQUEST_GROUP, chosen.period, first, last, now=clock.now()
    )


@dataclass(frozen=True)
class RequestTotal:
    """One service's requests over the window: opened and closed in it, open at its end."""

    group: str | None
    name: str | None
    opened: int
    closed: int
    backlog: int | None


def request_totals(series: Any) -> list[RequestTotal]:
    """Per group, the sums of its periods' counts and its last period's backlog; most opened
    first."""
    groups: dict[Any, list[Any]] = {}
    for figures in series.rows:
        groups.setdefault(figures.group, []).append(figures)
    totals = [
        RequestTotal(
            group,
            rows[0].name,
            sum(row.opened for row in rows),
            sum(row.closed for row in rows),
            max(rows, key=lambda row: row.period.start).backlog,
        )
        for group, rows in groups.items()
    ]
    return sorted(totals, key=lambda total: (-total.opened, str(total.group)))


def dashboard() -> Response:
    """The figures of one city over one window: tables, and the charts drawn by `chart`."""
    session = database.session()
    problems: list[str] = []
    context: dict[str, Any] = {}
    chosen = None
    try:
        chosen = asked(session)
        span = window(chosen)
        contacts = contact_report(session, chosen, span)
        context = {
            "span": span,
            "contacts": contacts,
            "work_orders": work_order_report(session, chosen, span),
            "requests": request_totals(request_series(session, chosen, span)),
            "service_level_s": contacts.extra.get("service_level_seconds"),
            "chart_urls": {name: url_for(".chart", name=name, **chosen.query()) for name in CHARTS},
            "first_day": span.start.astimezone(span.zone).date(),
            "last_day": (span.end - timedelta(microseconds=1)).astimezone(span.zone).date(),
        }
    except InvalidInput as error:
        problems = [say_text(problem) for problem in error.problems]
    if chosen is None:
        city, cities = _city(session)
        chosen = Asked(city, cities, "day", None, None)
    page = render(
        "staff/dashboard.html",
        chosen=chosen,
        periods=PERIODS,
        problems=problems,
        **context,
    )
    # A refused choice is the form again with its problem (200, as refused forms are answered).
    return Response(page, status=200, content_type="text/html; charset=utf-8")


def _contact_chart(session: Session, chosen: Asked, span: call_stats.Window) -> charts.Chart:
    return call_stats.contact_chart(contact_report(session, chosen, span), "offered")


def _work_order_chart(session: Session, chosen: Asked, span: call_stats.Window) -> charts.Chart:
    return call_stats.work_order_chart(work_order_report(session, chosen, span), "done")


def _request_chart(session: Session, chosen: Asked, span: call_stats.Window) -> charts.Chart:
    series = request_series(session, chosen, span)
    return request_stats_wire.chart(series, "opened", chosen.city.name)


# name in /staff/charts/<name>.svg -> how it is drawn
CHARTS: dict[str, Callable[[Session, Asked, call_stats.Window], charts.Chart]] = {
    "contacts": _contact_chart,
    "work-orders": _work_order_chart,
    "requests": _request_chart,
}


def chart(name: str) -> Response:
    """One of the dashboard's charts as SVG, drawn by the functions the API's .svg use."""
    draw = CHARTS.get(name)
    if draw is None:
        abort(404)
    session = database.session()
    chosen = asked(session)
    picture = charts.render(draw(session, chosen, window(chosen)), "svg")
    return Response(picture, content_type=charts.CONTENT_TYPES["svg"])
