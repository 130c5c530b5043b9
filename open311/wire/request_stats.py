"""Request statistics on the wire: the JSON/XML payload, CSV and one metric as a chart.

Takes the domain's Series as plain values (attributes read, no import of the domain): each
row a group's figures over one period. Group "none" (no agency, channel or district) is an
absent `group` in JSON/XML and an empty CSV cell.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from open311.wire import charts
from open311.wire.datetimes import format_w3c

ROOT = "request_statistics"
FIELDS = (
    "group",
    "name",
    "period_start",
    "period_end",
    "opened",
    "closed",
    "median_hours_to_close",
    "p90_hours_to_close",
    "closed_with_expected",
    "on_time_share",
    "backlog",
    "backlog_median_age_days",
)
# metric -> (chart title, unit on the y axis)
METRICS: dict[str, tuple[str, str]] = {
    "opened": ("Requests opened", "requests"),
    "closed": ("Requests closed", "requests"),
    "median_hours_to_close": ("Median time to close", "hours"),
    "p90_hours_to_close": ("90th percentile of time to close", "hours"),
    "on_time_share": ("Share closed by the expected time", "share of closings (0-1)"),
    "backlog": ("Open backlog at the period's end", "requests"),
    "backlog_median_age_days": ("Median age of the open backlog", "days"),
}
DEFAULT_METRIC = "opened"
# Counts add up: the chart sums the groups past its largest into "other". Medians and shares do
# not: those charts show the groups with the most requests opened, and no "other".
ADDITIVE = frozenset({"opened", "closed", "backlog"})
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def _row(figures: Any) -> dict[str, Any]:
    return {
        "group": figures.group,
        "name": figures.name,
        "period_start": figures.period.start.isoformat(),
        "period_end": figures.period.end.isoformat(),
        "opened": figures.opened,
        "closed": figures.closed,
        "median_hours_to_close": figures.median_hours_to_close,
        "p90_hours_to_close": figures.p90_hours_to_close,
        "closed_with_expected": figures.closed_with_expected,
        "on_time_share": figures.on_time_share,
        "backlog": figures.backlog,
        "backlog_median_age_days": figures.backlog_median_age_days,
    }


def payload(series: Any) -> dict[str, Any]:
    """The document of GET stats/requests.json and .xml (root `request_statistics`)."""
    return {
        "jurisdiction_id": series.jurisdiction_id,
        "group_by": series.group_by,
        "layer": series.layer,
        "period": series.period,
        "start_date": series.start.isoformat(),
        "end_date": series.end.isoformat(),
        "refreshed_at": series.refreshed_at,
        "figures": [_row(figures) for figures in series.rows],
    }


def csv_document(series: Any) -> bytes:
    """RFC 4180 CSV (UTF-8, CRLF), one line per group and period, FIELDS as the header.
    Groups and names are codes and names the city set (no personal data); one starting with a
    formula character gets a leading ' as the exports do (OWASP's CSV injection rule)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for figures in series.rows:
        row = _row(figures)
        for name in ("group", "name"):
            value = row[name] or ""
            row[name] = "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
        writer.writerow(["" if row[name] is None else row[name] for name in FIELDS])
    return out.getvalue().encode("utf-8")


def chart(series: Any, metric: str, place: str) -> charts.Chart:
    """One metric per group over the periods, as a line chart (one period: bars)."""
    title, unit = METRICS[metric]
    starts: list[date] = sorted({figures.period.start for figures in series.rows})
    index = {start: n for n, start in enumerate(starts)}
    values: dict[str, list[float | int | None]] = {}
    rows = list(series.rows)
    note = ""
    if metric not in ADDITIVE:
        opened: dict[Any, int] = {}
        for figures in rows:
            opened[figures.group] = opened.get(figures.group, 0) + figures.opened
        if len(opened) > charts.MAX_SERIES:
            kept = set(sorted(opened, key=lambda g: (-opened[g], str(g)))[: charts.MAX_SERIES])
            rows = [figures for figures in rows if figures.group in kept]
            note = f" · the {charts.MAX_SERIES} groups with the most requests"
    for figures in rows:
        name = figures.group or "(none)"
        column = values.setdefault(name, [None] * len(starts))
        column[index[figures.period.start]] = getattr(figures, metric)
    by = series.group_by if series.layer is None else f"district ({series.layer})"
    fresh = (
        f" · as of {format_w3c(series.refreshed_at)}"
        if isinstance(series.refreshed_at, datetime)
        else ""
    )
    return charts.Chart(
        title=f"{title} per {series.period}",
        subtitle=(
            f"{place} · {series.start.isoformat()} to {series.end.isoformat()} · by {by}{note}"
            f"{fresh}"
        ),
        x_label=f"{series.period} starting",
        y_label=unit,
        kind="line" if len(starts) > 1 else "bar",
        x=starts,
        series=values,
    )
