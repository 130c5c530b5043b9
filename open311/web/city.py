"""How the city is doing: /city, the public request statistics (GET stats/requests' figures,
through domain/city_figures) for a month and the twelve months up to it, as tables a screen
reader can read and as the API's own charts (<img> of stats/requests.svg, same host)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from flask import request, url_for

from open311 import clock
from open311.api import database
from open311.domain import city_figures
from open311.web.city_choice import chosen_city
from open311.web.pages import current_page, page_blueprint, render, say

blp = page_blueprint("city", __name__)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR, LAST_YEAR = 1900, 2999


def asked_month() -> tuple[date | None, str | None]:
    """`?month=YYYY-MM` as its first day; (None, a problem) when it is not a month."""
    text = request.args.get("month", "").strip()
    if not text:
        return None, None
    found = _MONTH.match(text)
    if found and FIRST_YEAR <= int(found[1]) <= LAST_YEAR and 1 <= int(found[2]) <= 12:
        return date(int(found[1]), int(found[2]), 1), None
    return None, say("month: a month as YYYY-MM, such as 2023-06")


def month_name(first: date) -> str:
    """ "June 2023" in the page's language (the stand-alone month name, as a heading has it)."""
    return format_date(first, "LLLL y", locale=current_page().locale)


def number(value: float | int | None, pattern: str = "#,##0") -> str:
    if value is None:
        return "–"
    return format_decimal(value, pattern, locale=current_page().locale)


def share(value: float | None) -> str:
    if value is None:
        return "–"
    return format_percent(value, "#,##0.0%", locale=current_page().locale)


def chart_url(city_id: str, metric: str, start: date, end: date) -> str:
    """The API's chart of `metric` per month and service over [start, end]."""
    return url_for(
        "request_stats.request_statistics",
        fmt="svg",
        jurisdiction_id=city_id,
        group_by="service_code",
        period="month",
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        metric=metric,
    )


def charts(city_id: str, figures: city_figures.CityFigures) -> list[dict[str, str]]:
    """Each chart with the words a reader who cannot see it gets instead (its alt text)."""
    start, end = figures.start, figures.month.end
    single = start == figures.month.start  # one month: the API draws bars
    span = (
        month_name(start)
        if single
        else say(
            "%(start)s to %(end)s", start=month_name(start), end=month_name(figures.month.start)
        )
    )
    described = [
        ("opened", say("Requests opened per month, by service, %(span)s", span=span)),
        ("closed", say("Requests closed per month, by service, %(span)s", span=span)),
        (
            "median_hours_to_close",
            say("Median hours to close per month, by service, %(span)s", span=span),
        ),
        (
            "on_time_share",
            say(
                "Share of requests closed by their expected time per month, by service, %(span)s",
                span=span,
            ),
        ),
        ("backlog", say("Open requests at each month's end, by service, %(span)s", span=span)),
    ]
    if not figures.any_expected:  # no closing had an expected time: nothing to draw
        described = [pair for pair in described if pair[0] != "on_time_share"]
    kind = say("Bar chart") if single else say("Line chart")
    note = say("The figures are in the tables on this page.")
    return [
        {
            "metric": metric,
            "caption": caption,
            "alt": f"{kind}: {caption}. {note}",
            "src": chart_url(city_id, metric, start, end),
        }
        for metric, caption in described
    ]


@blp.route("/city")
def city_page() -> str:
    """The month asked for (else the latest with figures) and the twelve months to it."""
    choice = chosen_city()
    city = choice.city
    session = database.session()
    now = clock.now()
    months = city_figures.data_months(session, city)
    month, problem = asked_month()
    if month is None:
        month = city_figures.default_month(months, city, now)
    first = months[-1] if months else None
    shown = city_figures.city_figures(session, city, month, now=now, first=first)
    choices = list(months or ())
    if month not in choices:
        choices = sorted([*choices, month], reverse=True)
    context: dict[str, Any] = {
        "choice": choice,
        "figures": shown,
        "problem": problem,
        "month_choices": [(m.strftime("%Y-%m"), month_name(m)) for m in choices],
        "month_value": month.strftime("%Y-%m"),
        "charts": charts(city.jurisdiction_id, shown) if months else [],
        "month_name": month_name,
        "number": number,
        "share": share,
        "refreshed": (
            format_date(shown.refreshed_at, "long", locale=current_page().locale)
            if shown.refreshed_at
            else None
        ),
    }
    return render("city/city.html", **context)
