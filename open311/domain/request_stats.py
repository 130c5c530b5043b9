"""Request statistics as open data: the rollup's refresh and the figures per group and period.

Figures (README: Request statistics, open data), per group and period of the jurisdiction's
local time (a day; a week from Monday; a month):

- opened: requests whose requested_datetime falls in the period;
- closed: requests whose status is closed and whose closing (their updated_datetime) falls in
  it. A reopened request is open again: its earlier closing counts nowhere, and it is in the
  backlog from its request on, as its current state says;
- median and p90 hours to close of the period's closings (linear interpolation between the
  closest ranks: PostgreSQL's percentile_cont, numpy's default);
- on-time share: of the period's closings that had an expected_datetime, those closed by it;
- backlog: requests open at the period's end (requested before it, not closed before it), or
  at the refresh for a period not over yet, and the median of their ages then, in days.
  Only days with an opening or a closing have a row: a period's backlog is that of the group's
  last row on or before its last day (before the window too).

The rollup (db/request_stats_queries.py) holds one row per group and local day; a period's
counts are sums of its days, its percentiles come from the days' closing durations merged, and
its backlog is its last day's. `refresh` brings the rollup up to date: only the days a change
touched (found from the requests' updated_datetime, against the state the rollup last read)
are recomputed, from the first of them to today. A day row keeps the median requested time of
its backlog, not its age: ages grow as time passes, the row needs no refresh for that.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session

from open311.db import request_stats_queries as queries
from open311.db.models import Jurisdiction
from open311.db.request_stats_queries import RequestState
from open311.db.session import settings_of
from open311.errors import InvalidInput, NotFound
from open311.i18n import _

GROUP_BY = ("service_code", "district", "agency", "channel")
PERIODS = ("day", "week", "month")
# Bounds of one answer: days of a `day` series, and groups x periods of any.
MAX_DAYS_BY_DAY = 366
MAX_CELLS = 20_000
# Years a week or month series may span.
MAX_YEARS = 10
# A request changed while a refresh read may commit with an updated_datetime a little before
# the watermark; re-reading this much before it (comparing with the state) misses none.
OVERLAP = timedelta(minutes=10)
HOUR_S = 3600.0
DAY_S = 86400.0


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: requests whose state changed, days recomputed, day rows written."""

    full: bool
    requests: int
    first_day: date | None
    last_day: date | None
    rows: int

    def counts(self) -> dict[str, int]:
        days = (self.last_day - self.first_day).days + 1 if self.first_day and self.last_day else 0
        return {"requests": self.requests, "days": days, "rows": self.rows}


def refresh(
    session: Session, jurisdiction: Jurisdiction, *, now: datetime, full: bool = False
) -> Refreshed:
    """Bring `jurisdiction`'s rollup up to `now`. The first refresh, or `full`, rebuilds it
    from every request; later ones read the requests updated since the last (with OVERLAP)
    and recompute the days their changes touched. One refresh of a city at a time (a
    transaction lock); flushes, the caller commits."""
    queries.lock_refresh(session, jurisdiction.id)
    blackbox = settings_of(session).publish_blackbox
    tz = ZoneInfo(jurisdiction.time_zone)
    last = queries.get_refresh(session, jurisdiction.id)
    watermark = queries.max_updated(session, jurisdiction.id)
    if watermark is not None:
        watermark = min(watermark, now)
    today = now.astimezone(tz).date()
    if full or last is None or last.watermark is None:
        changed = queries.rebuild_state(session, jurisdiction.id, blackbox)
        first = queries.first_requested(session, jurisdiction.id)
        first_day = first.astimezone(tz).date() if first is not None else today
        full = True
    else:
        since = last.watermark - OVERLAP
        pks = queries.find_changed_pks(session, jurisdiction.id, since)
        current = {s.pk: s for s in queries.find_current(session, jurisdiction.id, since, blackbox)}
        old = queries.find_state(session, pks)
        touched: list[datetime] = []
        for pk in pks:
            before, after = old.get(pk), current.get(pk)
            if before == after:
                continue
            for state in (before, after):
                if state is not None:
                    touched.append(state.requested_at)
                    if state.closed_at is not None:
                        touched.append(state.closed_at)
        gone = [pk for pk in old if pk not in current]
        queries.delete_state(session, gone)
        queries.save_state(
            session, jurisdiction.id, [s for pk, s in current.items() if old.get(pk) != s]
        )
        changed = len([pk for pk in pks if old.get(pk) != current.get(pk)])
        if watermark is None or watermark < last.watermark:
            watermark = last.watermark
        if not touched:  # nothing opened, closed or moved: every day row still holds
            queries.save_refresh(session, jurisdiction.id, now, watermark)
            return Refreshed(False, changed, None, None, 0)
        first_day = min(moment.astimezone(tz).date() for moment in touched)
    first_day = min(first_day, today)
    start, end = _local_midnight(first_day, tz), _local_midnight(today + timedelta(days=1), tz)
    states = queries.find_open_during(session, jurisdiction.id, start, end)
    districts = queries.district_names(session, jurisdiction.id)
    rows = compute_days(states, districts, tz, first_day, today, now)
    written = queries.replace_days(session, jurisdiction.id, first_day, today, rows)
    queries.save_refresh(session, jurisdiction.id, now, watermark)
    return Refreshed(full, changed, first_day, today, written)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _epoch(moment: datetime | None, missing: float) -> float:
    return moment.timestamp() if moment is not None else missing


def group_values(
    states: Sequence[RequestState], districts: dict[int, tuple[int, str]]
) -> dict[str, list[str]]:
    """Each dimension's group value of every state, aligned with `states` ("" for none);
    a district dimension per boundary layer, "district/<layer id>"."""
    layers = sorted({layer for layer, _name in districts.values()})
    values: dict[str, list[str]] = {
        "service_code": [s.service_code for s in states],
        "agency": [s.agency or "" for s in states],
        "channel": [s.channel or "" for s in states],
    }
    for layer in layers:
        column = []
        for state in states:
            names = [
                districts[d][1] for d in state.district_ids if districts.get(d, (0,))[0] == layer
            ]
            column.append(names[0] if names else "")
        values[f"district/{layer}"] = column
    return values


def compute_days(
    states: Sequence[RequestState],
    districts: dict[int, tuple[int, str]],
    tz: ZoneInfo,
    first: date,
    last: date,
    now: datetime,
) -> list[tuple[Any, ...]]:
    """The day rows of [first, last] from the requests open at some moment of it: per
    dimension, group and day with an opening or a closing, (dimension, group, day, opened,
    closed, closed_with_expected, closed_on_time, close_hours bytes, backlog, the backlog's
    median requested time in epoch seconds). The backlog of a day not over at `now` is taken
    at `now`."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    bounds = np.array(
        [_local_midnight(day, tz).timestamp() for day in [*days, last + timedelta(days=1)]]
    )
    bounds[1:] = np.minimum(bounds[1:], max(now.timestamp(), bounds[0]))
    requested = np.array([s.requested_at.timestamp() for s in states], dtype=np.float64)
    closed = np.array([_epoch(s.closed_at, math.inf) for s in states], dtype=np.float64)
    closed = np.maximum(closed, requested)
    expected = np.array([_epoch(s.expected_at, math.nan) for s in states], dtype=np.float64)
    # The day index of each opening and closing: -1 before the window, len(days) after it.
    opened_day = np.searchsorted(bounds, requested, side="right") - 1
    closed_day = np.searchsorted(bounds, closed, side="right") - 1
    rows: list[tuple[Any, ...]] = []
    for dimension, labels in group_values(states, districts).items():
        members: dict[str, list[int]] = defaultdict(list)
        for index, label in enumerate(labels):
            members[label].append(index)
        for label, indices in members.items():
            at = np.array(indices)
            rows.extend(
                _group_days(
                    dimension,
                    label,
                    days,
                    requested[at],
                    closed[at],
                    expected[at],
                    opened_day[at],
                    closed_day[at],
                )
            )
    return rows


def _group_days(
    dimension: str,
    label: str,
    days: list[date],
    requested: np.ndarray,
    closed: np.ndarray,
    expected: np.ndarray,
    opened_day: np.ndarray,
    closed_day: np.ndarray,
) -> Iterable[tuple[Any, ...]]:
    """One group's day rows: a sweep over its days with an opening or a closing, keeping the
    sorted requested times of the open requests (the backlog) as it goes."""
    count = len(days)
    backlog = np.sort(requested[(opened_day < 0) & (closed_day >= 0)])
    opening = np.lexsort((requested, opened_day))
    closing = np.lexsort((requested, closed_day))
    opened_sorted = opened_day[opening]
    closed_sorted = closed_day[closing]
    open_at = np.searchsorted(opened_sorted, np.arange(count + 1), side="left")
    close_at = np.searchsorted(closed_sorted, np.arange(count + 1), side="left")
    busy = np.flatnonzero((np.diff(open_at) > 0) | (np.diff(close_at) > 0))
    for n in busy:
        new = requested[opening[open_at[n] : open_at[n + 1]]]
        gone_rows = closing[close_at[n] : close_at[n + 1]]
        gone = requested[gone_rows]  # sorted: the closing order is by requested time within a day
        if new.size:
            backlog = np.insert(backlog, np.searchsorted(backlog, new, side="right"), new)
        if gone.size:
            # Equal times are one position each: the k-th of a run goes k places further.
            offset = np.arange(gone.size) - np.searchsorted(gone, gone, side="left")
            backlog = np.delete(backlog, np.searchsorted(backlog, gone, side="left") + offset)
        due = expected[gone_rows]
        with_expected = ~np.isnan(due)
        size = backlog.size
        median = float((backlog[(size - 1) // 2] + backlog[size // 2]) / 2) if size else None
        yield (
            dimension,
            label,
            days[n],
            int(new.size),
            int(gone.size),
            int(np.count_nonzero(with_expected)),
            int(np.count_nonzero(closed[gone_rows][with_expected] <= due[with_expected])),
            np.sort((closed[gone_rows] - gone) / HOUR_S).astype("<f8").tobytes(),
            int(size),
            median,
        )


# --- reading the figures -----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # the last day, inclusive


@dataclass(frozen=True)
class Figures:
    """One group's figures over one period (None: nothing to measure)."""

    group: str | None
    period: Period
    opened: int
    closed: int
    median_hours_to_close: float | None
    p90_hours_to_close: float | None
    closed_with_expected: int
    on_time_share: float | None
    backlog: int | None
    backlog_median_age_days: float | None
    # What the group is called: a service's name, a district's title; None for the others.
    name: str | None = None


@dataclass(frozen=True)
class Series:
    """An answer: the figures of each group and period, and what they were computed from."""

    jurisdiction_id: str
    group_by: str
    layer: str | None
    period: str
    start: date
    end: date
    refreshed_at: datetime | None
    rows: list[Figures] = field(default_factory=list)


def periods(period: str, start: date, end: date) -> list[Period]:
    """The periods of kind `period` that overlap [start, end], whole (a week from Monday)."""
    if period == "day":
        first = start
    elif period == "week":
        first = start - timedelta(days=start.weekday())
    else:
        first = start.replace(day=1)
    found = []
    while first <= end:
        if period == "day":
            following = first + timedelta(days=1)
        elif period == "week":
            following = first + timedelta(days=7)
        else:
            following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        found.append(Period(first, following - timedelta(days=1)))
        first = following
    return found


def default_window(period: str, today: date) -> tuple[date, date]:
    """Without dates: the last 30 days by day, 26 weeks by week, 12 months by month."""
    span = {"day": 29, "week": 7 * 26 - 1, "month": 364}[period]
    return today - timedelta(days=span), today


def figures(
    session: Session,
    jurisdiction: Jurisdiction,
    group_by: str,
    period: str,
    start: date | None = None,
    end: date | None = None,
    *,
    now: datetime,
    layer: str | None = None,
) -> Series:
    """`jurisdiction`'s request figures per group of `group_by` and `period` over [start, end]
    (local dates, periods reported whole), from the rollup as last refreshed. The monthly
    report calls this for a month's figures; the public endpoint for its answers."""
    if group_by not in GROUP_BY:
        raise InvalidInput(_("group_by must be one of %(choices)s", choices=", ".join(GROUP_BY)))
    if period not in PERIODS:
        raise InvalidInput(_("period must be one of %(choices)s", choices=", ".join(PERIODS)))
    tz = ZoneInfo(jurisdiction.time_zone)
    today = now.astimezone(tz).date()
    if start is None or end is None:
        default_start, default_end = default_window(period, end or today)
        start, end = start or default_start, end or default_end
    if end < start:
        raise InvalidInput(_("end_date must not be before start_date"))
    if period == "day" and (end - start).days + 1 > MAX_DAYS_BY_DAY:
        raise InvalidInput(
            _("period=day covers at most %(days)s days; use week or month", days=MAX_DAYS_BY_DAY)
        )
    if (end - start).days > 366 * MAX_YEARS:
        raise InvalidInput(_("a series covers at most %(years)s years", years=MAX_YEARS))
    dimension, layer_name = _dimension(session, jurisdiction, group_by, layer)
    spans = periods(period, start, end)
    refresh = queries.get_refresh(session, jurisdiction.id)
    refreshed_at = refresh.refreshed_at if refresh is not None else None
    days = queries.find_days(session, jurisdiction.id, dimension, spans[0].start, spans[-1].end)
    by_group: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in days:
        by_group[row[0]].append(row)
    carried: dict[str, tuple[Any, ...]] = {}
    for group, day, backlog, median in queries.find_backlog_before(
        session, jurisdiction.id, dimension, spans[0].start
    ):
        if backlog:
            carried[group] = (group, day, 0, 0, 0, 0, b"", backlog, median)
    groups = sorted(set(by_group) | set(carried))
    if len(groups) * len(spans) > MAX_CELLS:
        raise InvalidInput(
            _(
                "%(groups)s groups x %(periods)s periods is more than %(cells)s figures; ask for"
                " a shorter window or a longer period",
                groups=len(groups),
                periods=len(spans),
                cells=MAX_CELLS,
            )
        )
    series = Series(
        jurisdiction.jurisdiction_id, group_by, layer_name, period, start, end, refreshed_at
    )
    moments = _backlog_moments(spans, tz, refreshed_at)
    starts = [span.start.toordinal() for span in spans]
    names = queries.group_names(session, jurisdiction.id, dimension)
    for group in groups:
        series.rows.extend(
            replace(figures, name=names.get(group))
            for figures in _group_figures(
                group, spans, starts, by_group[group], carried.get(group), moments
            )
        )
    return series


def _dimension(
    session: Session, jurisdiction: Jurisdiction, group_by: str, layer: str | None
) -> tuple[str, str | None]:
    if group_by != "district":
        if layer:
            raise InvalidInput(_("layer is only for group_by=district"))
        return group_by, None
    found = (
        queries.find_layer(session, jurisdiction.id, layer)
        if layer
        else queries.routing_layer(session, jurisdiction.id)
    )
    if found is None:
        if layer:
            raise NotFound(_("boundary layer %(layer)s not found", layer=layer[:64]))
        raise NotFound(_("this jurisdiction has no boundary layer to group by"))
    return f"district/{found.id}", found.name


def _backlog_moments(
    spans: list[Period], tz: ZoneInfo, refreshed_at: datetime | None
) -> list[tuple[date, float] | None]:
    """Per period, the day whose backlog it reports and the moment its ages are taken at:
    its end, or the refresh for a period not over then; None for one after the refresh."""
    if refreshed_at is None:
        return [None] * len(spans)
    refreshed_day = refreshed_at.astimezone(tz).date()
    found: list[tuple[date, float] | None] = []
    for span in spans:
        if span.start > refreshed_day:
            found.append(None)
            continue
        day = min(span.end, refreshed_day)
        end = _local_midnight(day + timedelta(days=1), tz).timestamp()
        found.append((day, min(end, refreshed_at.timestamp())))
    return found


def _group_figures(
    group: str,
    spans: list[Period],
    starts: list[int],
    rows: list[tuple[Any, ...]],
    carried: tuple[Any, ...] | None,
    moments: list[tuple[date, float] | None],
) -> Iterable[Figures]:
    buckets: list[list[tuple[Any, ...]]] = [[] for _span in spans]
    for row in rows:
        buckets[bisect_right(starts, row[1].toordinal()) - 1].append(row)
    latest = carried  # the group's last row on or before the day looked at
    position = 0
    for span, bucket, moment in zip(spans, buckets, moments, strict=True):
        opened = sum(row[2] for row in bucket)
        closed = sum(row[3] for row in bucket)
        with_expected = sum(row[4] for row in bucket)
        on_time = sum(row[5] for row in bucket)
        median = p90 = None
        if closed:
            hours = np.concatenate([np.frombuffer(row[6], dtype="<f8") for row in bucket])
            median, p90 = (round(float(v), 3) for v in np.percentile(hours, [50, 90]))
        backlog: int | None = None
        age: float | None = None
        if moment is not None:
            day, at = moment
            while position < len(rows) and rows[position][1] <= day:
                latest = rows[position]
                position += 1
            backlog = latest[7] if latest is not None else 0
            if backlog and latest is not None and latest[8] is not None:
                age = round((at - latest[8]) / DAY_S, 3)
        yield Figures(
            group or None,
            span,
            opened,
            closed,
            median,
            p90,
            with_expected,
            round(on_time / with_expected, 4) if with_expected else None,
            backlog,
            age,
        )
