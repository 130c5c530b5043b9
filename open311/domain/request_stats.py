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

The rollup (db/request_stats_queries.py) holds one row per group and local day; a period's
counts are sums of its days, its percentiles come from the days' closing durations merged, and
its backlog is its last day's. `refresh` brings the rollup up to date: only the days a change
touched (found from the requests' updated_datetime, against the state the rollup last read)
are recomputed, plus the day of the last refresh and today (ages grow as time passes).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
        first_day = min(
            [last.refreshed_at.astimezone(tz).date(), today]
            + [moment.astimezone(tz).date() for moment in touched]
        )
        if watermark is None or watermark < last.watermark:
            watermark = last.watermark
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
    dimension, group and day, (dimension, group, day, opened, closed, closed_with_expected,
    closed_on_time, close_hours bytes, backlog, backlog median age s). A day with nothing
    opened, closed or open is left out. The backlog of a day not over at `now` is taken at `now`."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    bounds = np.array(
        [_local_midnight(day, tz).timestamp() for day in [*days, last + timedelta(days=1)]]
    )
    ends = np.minimum(bounds[1:], now.timestamp())
    requested = np.array([s.requested_at.timestamp() for s in states], dtype=np.float64)
    closed = np.array([_epoch(s.closed_at, math.inf) for s in states], dtype=np.float64)
    expected = np.array([_epoch(s.expected_at, math.nan) for s in states], dtype=np.float64)
    rows: list[tuple[Any, ...]] = []
    for dimension, labels in group_values(states, districts).items():
        members: dict[str, list[int]] = defaultdict(list)
        for index, label in enumerate(labels):
            members[label].append(index)
        for label, indices in members.items():
            at = np.array(indices)
            rows.extend(
                _group_days(
                    dimension, label, days, bounds, ends, requested[at], closed[at], expected[at]
                )
            )
    return rows


def _group_days(
    dimension: str,
    label: str,
    days: list[date],
    bounds: np.ndarray,
    ends: np.ndarray,
    requested: np.ndarray,
    closed: np.ndarray,
    expected: np.ndarray,
) -> Iterable[tuple[Any, ...]]:
    by_request = np.argsort(requested, kind="stable")
    requested_sorted = requested[by_request]
    closed_by_request = closed[by_request]
    opened = np.diff(np.searchsorted(requested_sorted, bounds, side="left"))
    by_closing = np.argsort(closed, kind="stable")
    closings = closed[by_closing]
    closing_slices = np.searchsorted(closings, bounds, side="left")
    durations_all = (closings - requested[by_closing]) / HOUR_S
    expected_all = expected[by_closing]
    for n, day in enumerate(days):
        lo, hi = closing_slices[n], closing_slices[n + 1]
        durations = np.sort(durations_all[lo:hi])
        due = expected_all[lo:hi]
        with_expected = ~np.isnan(due)
        on_time = int(np.count_nonzero(closings[lo:hi][with_expected] <= due[with_expected]))
        end = ends[n]
        count = int(np.searchsorted(requested_sorted, end, side="left"))
        still_open = requested_sorted[:count][closed_by_request[:count] >= end]
        backlog = int(still_open.size)
        age = float(end - np.median(still_open)) if backlog else None
        if opened[n] == 0 and hi == lo and backlog == 0:
            continue
        yield (
            dimension,
            label,
            day,
            int(opened[n]),
            int(hi - lo),
            int(np.count_nonzero(with_expected)),
            on_time,
            durations.astype("<f8").tobytes(),
            backlog,
            age,
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
    refreshed_day = refreshed_at.astimezone(tz).date() if refreshed_at is not None else None
    days = queries.find_days(session, jurisdiction.id, dimension, spans[0].start, spans[-1].end)
    by_group: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in days:
        by_group[row[0]].append(row)
    if len(by_group) * len(spans) > MAX_CELLS:
        raise InvalidInput(
            _(
                "%(groups)s groups x %(periods)s periods is more than %(cells)s figures; ask for"
                " a shorter window or a longer period",
                groups=len(by_group),
                periods=len(spans),
                cells=MAX_CELLS,
            )
        )
    series = Series(
        jurisdiction.jurisdiction_id, group_by, layer_name, period, start, end, refreshed_at
    )
    starts = np.array([span.start.toordinal() for span in spans])
    for group in sorted(by_group):
        series.rows.extend(_group_figures(group, spans, starts, by_group[group], refreshed_day))
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


def _group_figures(
    group: str,
    spans: list[Period],
    starts: np.ndarray,
    rows: list[tuple[Any, ...]],
    refreshed_day: date | None,
) -> Iterable[Figures]:
    buckets: list[list[tuple[Any, ...]]] = [[] for _span in spans]
    for row in rows:
        buckets[int(np.searchsorted(starts, row[1].toordinal(), side="right")) - 1].append(row)
    for span, bucket in zip(spans, buckets, strict=True):
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
        if refreshed_day is not None and span.start <= refreshed_day:
            last_day = min(span.end, refreshed_day)
            last_rows = [row for row in bucket if row[1] == last_day]
            backlog = last_rows[0][7] if last_rows else 0
            if last_rows and last_rows[0][8] is not None:
                age = round(last_rows[0][8] / DAY_S, 3)
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
