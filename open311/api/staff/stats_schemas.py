"""Arguments and answers of the staff statistics (GET /api/v1/stats/...)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, fields, validate

from open311.api.smorest import BaseSchema
from open311.domain import call_stats
from open311.values import ContactChannel
from open311.wire.datetimes import parse_w3c

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What the document says a value looks like; the calendar (31 February) is checked on reading.
PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"
# A zone-less value is read as naive here; the view gives it the chosen city's zone.
_NAIVE = ZoneInfo("UTC")


class StatsMoment(fields.Field):
    """A date (2026-11-01: the city's local midnight starting it) or a W3C datetime, with a
    zone or without one (then the city's local time)."""

    def __init__(self, **kwargs: Any) -> None:
        documented = {"type": "string", "example": "2026-11-01", "pattern": PATTERN}
        super().__init__(**{**kwargs, "metadata": {**documented, **kwargs.get("metadata", {})}})

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        text = value.strip()
        try:
            if _DATE.match(text):
                return datetime.fromisoformat(text)
            moment = parse_w3c(text, _NAIVE)
        except ValueError:
            raise self.make_error("invalid") from None
        return moment.replace(tzinfo=None) if moment.tzinfo is _NAIVE else moment

    default_error_messages = {
        "invalid": "not a W3C datetime (2026-11-01T08:00:00-08:00) or a date (2026-11-01)"
    }


class _WindowArgs(BaseSchema):
    start = StatsMoment(metadata={"description": "from (inclusive); default: see period"})
    end = StatsMoment(metadata={"description": "until (exclusive); default: now"})
    jurisdiction_id = fields.String(validate=validate.Length(max=255))


class _PeriodArgs(_WindowArgs):
    period = fields.String(
        load_default="day",
        validate=validate.OneOf(call_stats.PERIODS),
        metadata={"description": "local hour, day, week (from Monday) or month"},
    )


class ContactStatsArgs(_PeriodArgs):
    group_by = fields.String(
        load_default="channel", validate=validate.OneOf(call_stats.CONTACT_GROUPS)
    )
    channel = fields.String(validate=validate.OneOf([c.value for c in ContactChannel]))
    metric = fields.String(
        load_default="offered",
        validate=validate.OneOf(call_stats.CONTACT_METRICS),
        metadata={"description": "the figure drawn (.svg, .png only)"},
    )


class WorkOrderStatsArgs(_PeriodArgs):
    group_by = fields.String(
        load_default="crew", validate=validate.OneOf(call_stats.WORK_ORDER_GROUPS)
    )
    metric = fields.String(
        load_default="done",
        validate=validate.OneOf(call_stats.WORK_ORDER_METRICS),
        metadata={"description": "the figure drawn (.svg, .png only)"},
    )


class ArticleStatsArgs(_WindowArgs):
    locale = fields.String(
        validate=validate.Length(max=35),
        metadata={"description": "only answers given in this language; titles in it"},
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(1, call_stats.MAX_ARTICLES))


class _Figures(Schema):
    group = fields.String(allow_none=True, metadata={"description": "channel, language, username"})
    group_name = fields.String()


class ContactTotalOut(Schema):
    offered = fields.Integer()
    answered = fields.Integer()
    abandoned = fields.Integer()
    abandoned_pct = fields.Float(allow_none=True)
    asa_seconds = fields.Float(allow_none=True)
    service_level_pct = fields.Float(allow_none=True)
    aht_seconds = fields.Float(allow_none=True)
    avg_hold_seconds = fields.Float(allow_none=True)
    information = fields.Integer()
    request = fields.Integer()
    information_pct = fields.Float(allow_none=True)
    request_pct = fields.Float(allow_none=True)
    interpreter = fields.Integer()
    interpreter_pct = fields.Float(allow_none=True)


class ContactFiguresOut(ContactTotalOut, _Figures):
    pass


class ContactRowOut(ContactFiguresOut):
    period_start = fields.String(metadata={"description": "local start, ISO with offset"})


class WorkOrderTotalOut(Schema):
    done = fields.Integer()
    on_time = fields.Integer()
    on_time_pct = fields.Float(allow_none=True)
    overdue = fields.Integer()
    median_hours_to_done = fields.Float(allow_none=True)


class WorkOrderFiguresOut(WorkOrderTotalOut, _Figures):
    pass


class WorkOrderRowOut(WorkOrderFiguresOut):
    period_start = fields.String()


class _ReportOut(Schema):
    jurisdiction_id = fields.String()
    time_zone = fields.String()
    period = fields.String()
    group_by = fields.String()
    start = fields.DateTime()
    end = fields.DateTime()
    periods = fields.List(fields.String())


class ContactStatsOut(_ReportOut):
    service_level_seconds = fields.Float()
    rows = fields.List(fields.Nested(ContactRowOut))
    totals = fields.List(fields.Nested(ContactFiguresOut))
    total = fields.Nested(ContactTotalOut)


class WorkOrderStatsOut(_ReportOut):
    rows = fields.List(fields.Nested(WorkOrderRowOut))
    totals = fields.List(fields.Nested(WorkOrderFiguresOut))
    total = fields.Nested(WorkOrderTotalOut)


class ArticleCountOut(Schema):
    article_id = fields.String()
    title = fields.String(allow_none=True)
    answers = fields.Integer()
    by_locale = fields.Dict(keys=fields.String(), values=fields.Integer())


class ArticleStatsOut(Schema):
    jurisdiction_id = fields.String()
    start = fields.DateTime()
    end = fields.DateTime()
    articles = fields.List(fields.Nested(ArticleCountOut))
