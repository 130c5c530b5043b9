"""Request statistics as open data: GET /open311/v2/stats/requests.{json,xml,csv,svg,png}.

Per group (service_code, district, agency or channel) and period (day, week, month of the
city's local time): opened, closed, median and p90 hours to close, on-time share, backlog and
its median age (README: Request statistics, open data; domain/request_stats.py). Read from the
rollup the worker refreshes every OPEN311_STATS_INTERVAL_S, so an answer may be cached that
long: Cache-Control max-age is the interval, Last-Modified and the `refreshed_at` field are the
refresh's time, the ETag is the body's. Errors: the GeoReport error list in XML for .xml, in
JSON otherwise (a CSV or a picture cannot carry one). Each call counts against the exports'
rate limit: a series can merge a year of closings.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Response, g, request
from marshmallow import fields, validate

from open311 import clock
from open311.api import database, ratelimits
from open311.api.georeport_base import GeoReportBlueprint, respond
from open311.api.schemas import JurisdictionArgs
from open311.domain import jurisdictions, request_stats
from open311.wire import charts
from open311.wire import request_stats as wire

FORMATS = ("json", "xml", "csv", *charts.FORMATS)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_PATTERN = r"^\s*(\d{4}-\d{2}-\d{2})?\s*$"

blp = GeoReportBlueprint(
    "request_stats",
    __name__,
    description="Request statistics per group and period, as open data and charts.",
    path="/stats",
    formats=FORMATS,
    format_name="statistics format",
)
blp.before_request(ratelimits.limit_exports)


class LocalDate(fields.Field):
    """A local date, YYYY-MM-DD. Documented as a pattern that also allows the blank a GeoReport
    query may carry (an empty parameter counts as absent); the calendar is checked on reading."""

    def __init__(self, **kwargs: Any) -> None:
        documented = {"type": "string", "example": "2026-11-01", "pattern": DATE_PATTERN}
        super().__init__(**{**kwargs, "metadata": {**documented, **kwargs.get("metadata", {})}})

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        text = value.strip() if isinstance(value, str) else ""
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            raise self.make_error("invalid") from None

    default_error_messages = {"invalid": "not a date (YYYY-MM-DD)"}


class RequestStatsArgs(JurisdictionArgs):
    group_by = fields.String(
        load_default="service_code",
        validate=validate.OneOf(request_stats.GROUP_BY),
        metadata={"description": "default service_code"},
    )
    period = fields.String(
        load_default="week",
        validate=validate.OneOf(request_stats.PERIODS),
        metadata={"description": "default week (from Monday, local time)"},
    )
    start_date = LocalDate(metadata={"description": "local date (default: see period)"})
    end_date = LocalDate(metadata={"description": "local date (default today)"})
    layer = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "group_by=district: boundary layer (default the routing one)"},
    )
    metric = fields.String(
        load_default=wire.DEFAULT_METRIC,
        validate=validate.OneOf(list(wire.METRICS)),
        metadata={"description": f".svg/.png: the figure drawn (default {wire.DEFAULT_METRIC})"},
    )


@blp.route("/requests.<fmt>", methods=["GET"])
@blp.arguments(RequestStatsArgs, location="query", as_kwargs=True)
def request_statistics(
    group_by: str,
    period: str,
    metric: str,
    jurisdiction_id: str | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    layer: str | None = None,
    **_args: Any,
) -> Response:
    """Request statistics per group and period (README: Request statistics, open data)."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    series = request_stats.figures(
        session,
        jurisdiction,
        group_by,
        period,
        start_date,
        end_date,
        now=clock.now(),
        layer=layer,
    )
    kind = g.representation
    if kind in charts.FORMATS:
        picture = wire.chart(series, metric, jurisdiction.name)
        response = Response(charts.render(picture, kind), content_type=charts.CONTENT_TYPES[kind])
    elif kind == "csv":
        response = Response(wire.csv_document(series), content_type=wire.CSV_CONTENT_TYPE)
        response.headers["Content-Disposition"] = 'attachment; filename="request_statistics.csv"'
    else:
        response = respond(wire.payload(series), wire.ROOT)
    interval = int(database.settings().stats_interval_s)
    response.headers["Cache-Control"] = f"public, max-age={interval}"
    if series.refreshed_at is not None:
        response.last_modified = series.refreshed_at
    response.add_etag()
    return response.make_conditional(request)
