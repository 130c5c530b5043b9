"""The figures a call-centre director and crew supervisors run by: contacts per local period
and channel, language or call-taker (offered, answered, abandoned, speed of answer, service
level, handle and hold time, outcomes, interpreters), the articles that answered calls, and
work orders done, on time and overdue per crew or agency.

Definitions (README "Call-centre and crew figures"), each computed from the raw rows' sums:

- offered: every contact queued in the period (a contact counts in the period it was queued
  in, in the city's local time); answered: those with an answer time; abandoned: those the
  caller gave up on; abandoned_pct = abandoned / offered.
- asa_seconds (average speed of answer) = mean of queued -> answered over answered contacts.
- service_level_pct = contacts answered within the threshold (OPEN311_SERVICE_LEVEL_S) /
  offered: the classic "80/20" definition in which every abandoned contact counts against the
  level (no short-abandon exclusion: the switch's short abandons are not told apart).
- aht_seconds (average handle time) = mean of answered -> ended over contacts with both, hold
  included; avg_hold_seconds = mean hold over answered contacts.
- information_pct, request_pct: shares of the contacts whose outcome was recorded.
- interpreter_pct = contacts an interpreter joined / offered.

Ratios with nothing to divide by are None, never 0: "no calls" is not "0 seconds to answer".
Percentages and seconds are rounded to one decimal, hours to two.

`contact_figures` is the function other reports (the monthly report) call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from open311.db import call_stats_queries as q
from open311.db.models import Jurisdiction
from open311.errors import InvalidInput
from open311.wire import charts

PERIODS = q.PERIODS
CONTACT_GROUPS = q.CONTACT_GROUPS
WORK_ORDER_GROUPS = q.WORK_ORDER_GROUPS

# Bounded work: at most this many periods per answer (31 days of hours), and at most this many
# period x group rows (a year of weeks by 190 call-takers).
MAX_PERIODS = 744
MAX_ROWS = 10_000
# When start is not given: the range that ends at `end` and suits the period.
DEFAULT_SPAN = {
    "hour": timedelta(days=1),
    "day": timedelta(days=31),
    "week": timedelta(weeks=13),
    "month": timedelta(days=365),
}
MAX_ARTICLES = 100

CONTACT_METRICS = (
    "offered",
    "answered",
    "abandoned",
    "abandoned_pct",
    "asa_seconds",
    "service_level_pct",
    "aht_seconds",
    "avg_hold_seconds",
    "information",
    "request",
    "information_pct",
    "request_pct",
    "interpreter",
    "interpreter_pct",
)
WORK_ORDER_METRICS = ("done", "on_time", "on_time_pct", "overdue", "median_hours_to_done")

# What a chart says of each metric: its title and its unit (the y axis).
_CONTACT_TITLES = {
    "offered": ("Contacts offered", "contacts"),
    "answered": ("Contacts answered", "contacts"),
    "abandoned": ("Contacts abandoned", "contacts"),
    "abandoned_pct": ("Contacts abandoned", "% of offered"),
    "asa_seconds": ("Average speed of answer", "seconds"),
    "service_level_pct": ("Service level", "% of offered answered in time"),
    "aht_seconds": ("Average handle time", "seconds"),
    "avg_hold_seconds": ("Average hold per answered contact", "seconds"),
    "information": ("Information contacts", "contacts"),
    "request": ("Contacts that filed a request", "contacts"),
    "information_pct": ("Information contacts", "% of contacts with an outcome"),
    "request_pct": ("Contacts that filed a request", "% of contacts with an outcome"),
    "interpreter": ("Contacts with an interpreter", "contacts"),
    "interpreter_pct": ("Contacts with an interpreter", "% of offered"),
}
_WORK_ORDER_TITLES = {
    "done": ("Work orders done", "work orders"),
    "on_time": ("Work orders done on time", "work orders"),
    "on_time_pct": ("Work orders done on time", "% of done with a due time"),
    "overdue": ("Work orders overdue at the period's end", "work orders"),
    "median_hours_to_done": ("Median time to done", "hours"),
}
_PERIOD_LABELS = {
    "hour": "hour starting",
    "day": "day",
    "week": "week starting (Monday)",
    "month": "month",
}


@dataclass(frozen=True)
class Window:
    """A validated range [start, end) and its local periods (naive wall-clock starts)."""

    period: str
    start: datetime
    end: datetime
    zone: ZoneInfo
    periods: list[datetime]

    def label(self, local: datetime) -> str:
        """A period's start as an ISO time with the city's offset at that moment."""
        return local.replace(tzinfo=self.zone).isoformat()

    def period_end(self, local: datetime) -> datetime:
        """The aware moment a period ends (the next period's start), at most `end`."""
        following = _step(local, self.period).replace(tzinfo=self.zone).astimezone(UTC)
        return min(following, self.end)


def _truncate(local: datetime, period: str) -> datetime:
    if period == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _step(local: datetime, period: str) -> datetime:
    if period == "month":
        year, month = divmod(local.month, 12)
        return local.replace(year=local.year + year, month=month + 1)
    return local + {"hour": timedelta(hours=1), "day": timedelta(days=1)}.get(
        period, timedelta(weeks=1)
    )


def plan_window(
    jurisdiction: Jurisdiction,
    period: str,
    start: datetime | None,
    end: datetime | None,
    *,
    now: datetime,
) -> Window:
    """The range to count over, checked: a known period, start before end, at most
    MAX_PERIODS periods. Without `end`, now; without `start`, DEFAULT_SPAN before the end.
    Periods are the city's local hours, days, weeks (from Monday) and months, as date_trunc
    cuts them in the city's zone (a day across a clock change has 23 or 25 hours)."""
    if period not in PERIODS:
        raise InvalidInput(f"period must be one of {', '.join(PERIODS)}")
    end = end or now
    start = start or end - DEFAULT_SPAN[period]
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    if start >= end:
        raise InvalidInput("start must be before end")
    zone = ZoneInfo(jurisdiction.time_zone)
    local_end = end.astimezone(zone).replace(tzinfo=None)
    cursor = _truncate(start.astimezone(zone).replace(tzinfo=None), period)
    periods: list[datetime] = []
    while cursor < local_end:
        if len(periods) == MAX_PERIODS:
            raise InvalidInput(
                f"start to end spans more than {MAX_PERIODS} periods of a {period}: "
                "choose a longer period or a shorter range"
            )
        periods.append(cursor)
        cursor = _step(cursor, period)
    return Window(period, start, end, zone, periods)


# --- contacts -------------------------------------------------------------------------------


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _ratio(part: float, whole: float, scale: float = 1.0) -> float | None:
    return part * scale / whole if whole else None


def contact_measures(sums: q.ContactSums) -> dict[str, Any]:
    """The published figures of one period and group, from its sums (module docstring)."""
    return {
        "offered": sums.offered,
        "answered": sums.answered,
        "abandoned": sums.abandoned,
        "abandoned_pct": _round(_ratio(sums.abandoned, sums.offered, 100)),
        "asa_seconds": _round(_ratio(sums.answer_seconds, sums.answered)),
        "service_level_pct": _round(_ratio(sums.within_service_level, sums.offered, 100)),
        "aht_seconds": _round(_ratio(sums.handle_seconds, sums.handled)),
        "avg_hold_seconds": _round(_ratio(sums.hold_seconds, sums.answered)),
        "information": sums.information,
        "request": sums.request,
        "information_pct": _round(_ratio(sums.information, sums.with_outcome, 100)),
        "request_pct": _round(_ratio(sums.request, sums.with_outcome, 100)),
        "interpreter": sums.interpreter,
        "interpreter_pct": _round(_ratio(sums.interpreter, sums.offered, 100)),
    }


_SUMMED = [f.name for f in fields(q.ContactSums) if f.name not in ("period", "group")]


def _add(parts: Iterable[q.ContactSums], period: datetime | None, group: Any) -> q.ContactSums:
    totals = dict.fromkeys(_SUMMED, 0)
    for part in parts:
        for name in _SUMMED:
            totals[name] += getattr(part, name)
    return q.ContactSums(period=period, group=group, **totals)


@dataclass(frozen=True)
class Group:
    """One series: `key` as the API names it (channel, language tag, username; None for
    unknown), `name` as a person reads it."""

    key: str | None
    name: str


@dataclass
class FigureReport:
    """Figures per period x group (every pair, zeros included), per group over the range,
    and over everything."""

    jurisdiction_id: str
    time_zone: str
    period: str
    group_by: str
    start: datetime
    end: datetime
    groups: list[Group]
    periods: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: list[dict[str, Any]] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _check_group(group_by: str, allowed: Sequence[str]) -> None:
    if group_by not in allowed:
        raise InvalidInput(f"group_by must be one of {', '.join(allowed)}")


def _check_rows(window: Window, groups: Sequence[Any]) -> None:
    if len(window.periods) * max(len(groups), 1) > MAX_ROWS:
        raise InvalidInput(
            f"{len(window.periods)} periods x {len(groups)} groups is more than {MAX_ROWS} "
            "rows: choose a longer period, a shorter range or fewer groups"
        )


def _contact_group(session: Session, group_by: str, keys: list[Any]) -> dict[Any, Group]:
    if group_by == "staff_user":
        names = q.staff_names(session, [key for key in keys if key is not None])
        return {
            key: Group(names[key][0], names[key][1])
            if key in names
            else Group(None, "no call-taker")
            for key in keys
        }
    if group_by == "none":
        return {key: Group(None, "all contacts") for key in keys}
    unknown = "unknown" if group_by == "language" else "none"
    return {key: Group(str(key) if key is not None else None, str(key or unknown)) for key in keys}


def contact_figures(
    session: Session,
    jurisdiction: Jurisdiction,
    window: Window,
    group_by: str,
    *,
    service_level_s: float,
    channel: str | None = None,
    staff_user_id: int | None = None,
) -> FigureReport:
    """The contact figures of `jurisdiction` over `window` (plan_window) per period and
    group (channel, language, staff_user or none), with totals per group and overall.
    `staff_user_id` keeps one call-taker's contacts only; `channel` one channel's. Groups
    come largest first (contacts offered over the range). Read-only."""
    _check_group(group_by, CONTACT_GROUPS)
    sums = q.contact_sums(
        session,
        jurisdiction.id,
        jurisdiction.time_zone,
        window.period,
        group_by,
        window.start,
        window.end,
        service_level_s=service_level_s,
        channel=channel,
        staff_user_id=staff_user_id,
    )
    by_group: dict[Any, list[q.ContactSums]] = {}
    for part in sums:
        by_group.setdefault(part.group, []).append(part)
    if group_by == "none":
        by_group.setdefault(None, [])
    order = sorted(by_group, key=lambda key: (-sum(p.offered for p in by_group[key]), str(key)))
    _check_rows(window, order)
    labels = _contact_group(session, group_by, order)
    cells = {(part.period, part.group): part for part in sums}
    report = FigureReport(
        jurisdiction.jurisdiction_id,
        jurisdiction.time_zone,
        window.period,
        group_by,
        window.start,
        window.end,
        [labels[key] for key in order],
        [window.label(local) for local in window.periods],
        extra={"service_level_seconds": service_level_s},
    )
    for local in window.periods:
        for key in order:
            cell = cells.get((local, key)) or _add((), local, key)
            report.rows.append(
                {"period_start": window.label(local), **_group_fields(labels[key])}
                | contact_measures(cell)
            )
    for key in order:
        report.totals.append(
            _group_fields(labels[key]) | contact_measures(_add(by_group[key], None, key))
        )
    report.total = contact_measures(_add(sums, None, None))
    return report


def _group_fields(group: Group) -> dict[str, Any]:
    return {"group": group.key, "group_name": group.name}


# --- articles -------------------------------------------------------------------------------


def top_articles(
    session: Session,
    jurisdiction: Jurisdiction,
    start: datetime,
    end: datetime,
    *,
    locale: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The articles that answered most calls in [start, end) (ArticleAnswer rows), most first
    (ties by article id), each with its count per language answered in and its title in
    `locale` when it has one, else in the city's default language, else any. `locale` also
    keeps only the answers given in that language."""
    if start >= end:
        raise InvalidInput("start must be before end")
    counts = q.article_answer_counts(session, jurisdiction.id, start, end, locale)
    per_article: dict[int, dict[str, Any]] = {}
    for count in counts:
        entry = per_article.setdefault(
            count.article_pk,
            {"article_id": count.article_id, "answers": 0, "by_locale": {}},
        )
        entry["answers"] += count.answers
        entry["by_locale"][count.locale] = count.answers
    ranked = sorted(per_article.items(), key=lambda kv: (-kv[1]["answers"], kv[1]["article_id"]))
    ranked = ranked[:limit]
    titles = q.article_titles(session, [pk for pk, _entry in ranked])
    result = []
    for pk, entry in ranked:
        variants = titles.get(pk, {})
        title = (
            variants.get(locale or "")
            or variants.get(jurisdiction.default_locale)
            or next(iter(sorted(variants.items())), ("", None))[1]
        )
        result.append({"article_id": entry["article_id"], "title": title} | entry)
    return result


# --- work orders ----------------------------------------------------------------------------


def _work_order_measures(done: q.WorkOrderSums | None, overdue: int) -> dict[str, Any]:
    if done is None:
        return {
            "done": 0,
            "on_time": 0,
            "on_time_pct": None,
            "overdue": overdue,
            "median_hours_to_done": None,
        }
    return {
        "done": done.done,
        "on_time": done.on_time,
        "on_time_pct": _round(_ratio(done.on_time, done.with_due, 100)),
        "overdue": overdue,
        "median_hours_to_done": _round(done.median_hours_to_done, 2),
    }


def work_order_figures(
    session: Session,
    jurisdiction: Jurisdiction,
    window: Window,
    group_by: str,
    *,
    now: datetime,
) -> FigureReport:
    """Work orders of `jurisdiction`'s agencies per period and crew or agency: done (state
    done, counted in the period they were closed in), done on time (closed at or before
    due_at, the step's SLA target computed by domain/sla when the work order was made; a share
    of those done that had a due time), overdue (open past due_at at the period's end, or now
    for a period not yet over), and the median hours from created to done."""
    _check_group(group_by, WORK_ORDER_GROUPS)
    args = (session, jurisdiction.id, jurisdiction.time_zone)
    done = q.work_order_done_sums(*args, window.period, group_by, window.start, window.end)
    whole = q.work_order_done_sums(*args, None, group_by, window.start, window.end)
    ends = [min(window.period_end(local), now) for local in window.periods]
    last = min(window.end, now)
    overdue = q.overdue_counts(session, jurisdiction.id, group_by, sorted({*ends, last}))
    keys = {part.group for part in done} | {key for _at, key in overdue}
    if group_by == "none":
        keys.add(None)
    _check_rows(window, list(keys))
    names = {
        "crew": q.crew_names,
        "agency": q.agency_names,
        "none": lambda _s, _k: {},
    }[group_by](session, [key for key in keys if key is not None])
    labels = {
        key: Group(names[key][0], names[key][1]) if key in names else Group(None, "no crew")
        for key in keys
    }
    if group_by == "none":
        labels = {None: Group(None, "all work orders")}
    totals = {part.group: part for part in whole}
    order = sorted(keys, key=lambda key: (-(totals[key].done if key in totals else 0), str(key)))
    cells = {(part.period, part.group): part for part in done}
    report = FigureReport(
        jurisdiction.jurisdiction_id,
        jurisdiction.time_zone,
        window.period,
        group_by,
        window.start,
        window.end,
        [labels[key] for key in order],
        [window.label(local) for local in window.periods],
    )
    for local, moment in zip(window.periods, ends, strict=True):
        for key in order:
            report.rows.append(
                {"period_start": window.label(local), **_group_fields(labels[key])}
                | _work_order_measures(cells.get((local, key)), overdue.get((moment, key), 0))
            )
    for key in order:
        report.totals.append(
            _group_fields(labels[key])
            | _work_order_measures(totals.get(key), overdue.get((last, key), 0))
        )
    everything = q.work_order_done_sums(*args, None, "none", window.start, window.end)
    report.total = _work_order_measures(
        everything[0] if everything else None, sum(overdue.get((last, key), 0) for key in keys)
    )
    return report


# --- pictures -------------------------------------------------------------------------------


def chart(report: FigureReport, metric: str, titles: dict[str, tuple[str, str]]) -> charts.Chart:
    """One metric of a report as a line per group over the periods."""
    if metric not in titles:
        raise InvalidInput(f"metric must be one of {', '.join(titles)}")
    title, unit = titles[metric]
    names = [group.name for group in report.groups]
    # Two call-takers may share a display name; a series is named once, so say whose.
    groups = {
        group.key: group.name if names.count(group.name) == 1 else f"{group.name} ({group.key})"
        for group in report.groups
    }
    series: dict[str, list[Any]] = {name: [] for name in groups.values()}
    for row in report.rows:
        series[groups[row["group"]]].append(row[metric])
    zone = ZoneInfo(report.time_zone)
    first = report.start.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    last = report.end.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    by = "" if report.group_by == "none" else f" · by {report.group_by.replace('_', ' ')}"
    x = [datetime.fromisoformat(label).replace(tzinfo=None) for label in report.periods]
    return charts.Chart(
        title=f"{title} per {report.period}",
        subtitle=f"{report.jurisdiction_id} · {first} to {last} ({report.time_zone}){by}",
        x_label=_PERIOD_LABELS[report.period],
        y_label=unit,
        kind="line",
        x=[moment if report.period == "hour" else moment.date() for moment in x],
        series=series,
    )


def contact_chart(report: FigureReport, metric: str) -> charts.Chart:
    return chart(report, metric, _CONTACT_TITLES)


def work_order_chart(report: FigureReport, metric: str) -> charts.Chart:
    return chart(report, metric, _WORK_ORDER_TITLES)
