"""The selects behind the staff statistics: contacts, article answers and work orders summed
per local period and group in one statement each. Only additive sums and counts come out of
contacts (domain/call_stats turns them into averages and percentages), so totals over many
periods are sums of the periods' rows; medians of work orders are computed here, per period
and for the whole range, since a median is not additive."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from open311.db.models import (
    Agency,
    Article,
    ArticleAnswer,
    ArticleVariant,
    Contact,
    Crew,
    StaffUser,
    WorkOrder,
)
from open311.values import OPEN_WORK_ORDER_STATES, ContactOutcome, WorkOrderState

# The groups a figure can be split by; "none" is the whole city as one group.
CONTACT_GROUPS = ("channel", "language", "staff_user", "none")
WORK_ORDER_GROUPS = ("crew", "agency", "none")
PERIODS = ("hour", "day", "week", "month")


@dataclass(frozen=True)
class ContactSums:
    """The additive sums of one period (None: the whole range) and group; group is the
    channel, language or staff user id (None: unknown or no call-taker)."""

    period: datetime | None
    group: Any
    offered: int
    answered: int
    abandoned: int
    answer_seconds: float  # sum of queued -> answered over answered contacts
    within_service_level: int  # answered within the threshold
    handled: int  # answered and ended: what handle time is averaged over
    handle_seconds: float  # sum of answered -> ended over handled contacts
    hold_seconds: int  # sum of hold over answered contacts
    information: int
    request: int
    with_outcome: int
    interpreter: int


# The stand-in for "no period" or "no group": a NULL column, grouped by nothing.
_NONE = literal(None)


def _local_period(column: Any, period: str, zone: str) -> ColumnElement:
    """The start of `column`'s period as a local wall-clock time (timestamp without zone):
    a city's day begins at its own midnight, its week on Monday (ISO)."""
    return func.date_trunc(period, func.timezone(zone, column))


def _grouped(*columns: Any) -> list[Any]:
    """The columns to GROUP BY: a constant (no period, no group) is not grouped by."""
    return [column for column in columns if column is not _NONE]


def _seconds(later: Any, earlier: Any) -> ColumnElement:
    return extract("epoch", later - earlier)


def contact_sums(
    session: Session,
    jurisdiction_pk: int,
    zone: str,
    period: str | None,
    group_by: str,
    start: datetime,
    end: datetime,
    *,
    service_level_s: float,
    channel: str | None = None,
    staff_user_id: int | None = None,
) -> list[ContactSums]:
    """Sums of the contacts queued in [start, end) per local period (None: the range as one)
    and group. One scan of ix_contact_jurisdiction_id_queued_at's range."""
    answered = Contact.answered_at.is_not(None)
    handled = and_(answered, Contact.ended_at.is_not(None))
    group = {
        "channel": Contact.channel,
        "language": Contact.language,
        "staff_user": Contact.staff_user_id,
        "none": _NONE,
    }[group_by]
    bucket = _local_period(Contact.queued_at, period, zone) if period else _NONE

    def count_if(condition: Any) -> ColumnElement:
        return func.count().filter(condition)

    def sum_if(value: Any, condition: Any) -> ColumnElement:
        return func.coalesce(func.sum(value).filter(condition), 0)

    query = (
        select(
            bucket.label("period"),
            group.label("grp"),
            func.count().label("offered"),
            count_if(answered).label("answered"),
            count_if(Contact.abandoned).label("abandoned"),
            sum_if(_seconds(Contact.answered_at, Contact.queued_at), answered).label("answer_s"),
            count_if(_seconds(Contact.answered_at, Contact.queued_at) <= service_level_s).label(
                "within"
            ),
            count_if(handled).label("handled"),
            sum_if(_seconds(Contact.ended_at, Contact.answered_at), handled).label("handle_s"),
            sum_if(Contact.hold_seconds, answered).label("hold_s"),
            count_if(Contact.outcome == ContactOutcome.information).label("information"),
            count_if(Contact.outcome == ContactOutcome.request).label("request"),
            count_if(Contact.outcome.is_not(None)).label("with_outcome"),
            count_if(Contact.interpreter).label("interpreter"),
        )
        .where(
            Contact.jurisdiction_id == jurisdiction_pk,
            Contact.queued_at >= start,
            Contact.queued_at < end,
        )
        .group_by(*_grouped(bucket, group))
    )
    if channel is not None:
        query = query.where(Contact.channel == channel)
    if staff_user_id is not None:
        query = query.where(Contact.staff_user_id == staff_user_id)
    return [
        ContactSums(
            period=row.period,
            group=row.grp,
            offered=row.offered,
            answered=row.answered,
            abandoned=row.abandoned,
            answer_seconds=float(row.answer_s),
            within_service_level=row.within,
            handled=row.handled,
            handle_seconds=float(row.handle_s),
            hold_seconds=int(row.hold_s),
            information=row.information,
            request=row.request,
            with_outcome=row.with_outcome,
            interpreter=row.interpreter,
        )
        for row in session.execute(query)
    ]


def staff_names(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """id -> (username, display name) of staff users: the only staff data a figure shows."""
    if not ids:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.username, StaffUser.display_name).where(
            StaffUser.id.in_(ids)
        )
    )
    return {row.id: (row.username, row.display_name) for row in rows}


@dataclass(frozen=True)
class ArticleCount:
    article_pk: int
    article_id: str
    locale: str
    answers: int


def article_answer_counts(
    session: Session,
    jurisdiction_pk: int,
    start: datetime,
    end: datetime,
    locale: str | None,
) -> list[ArticleCount]:
    """How often each article answered a call in [start, end), per language answered in."""
    query = (
        select(
            Article.id,
            Article.article_id,
            ArticleAnswer.locale,
            func.count().label("answers"),
        )
        .join(Article, Article.id == ArticleAnswer.article_pk)
        .where(
            ArticleAnswer.jurisdiction_id == jurisdiction_pk,
            ArticleAnswer.answered_at >= start,
            ArticleAnswer.answered_at < end,
        )
        .group_by(Article.id, Article.article_id, ArticleAnswer.locale)
    )
    if locale is not None:
        query = query.where(ArticleAnswer.locale == locale)
    return [
        ArticleCount(row.id, row.article_id, row.locale, row.answers)
        for row in session.execute(query)
    ]


def article_titles(session: Session, article_pks: Sequence[int]) -> dict[int, dict[str, str]]:
    """article pk -> {locale: title} of every variant."""
    if not article_pks:
        return {}
    titles: dict[int, dict[str, str]] = {}
    rows = session.execute(
        select(ArticleVariant.article_pk, ArticleVariant.locale, ArticleVariant.title).where(
            ArticleVariant.article_pk.in_(article_pks)
        )
    )
    for row in rows:
        titles.setdefault(row.article_pk, {})[row.locale] = row.title
    return titles


@dataclass(frozen=True)
class WorkOrderSums:
    """Work orders of one period (None: the whole range) and group (crew or agency pk)."""

    period: datetime | None
    group: Any
    done: int
    with_due: int  # done ones that had a due time: what on time is a share of
    on_time: int
    median_hours_to_done: float | None


def _work_order_group(group_by: str) -> ColumnElement:
    return {
        "crew": WorkOrder.crew_id,
        "agency": WorkOrder.agency_id,
        "none": _NONE,
    }[group_by]


def _city_orders(jurisdiction_pk: int) -> Any:
    return WorkOrder.agency_id.in_(
        select(Agency.id).where(Agency.jurisdiction_id == jurisdiction_pk).scalar_subquery()
    )


def work_order_done_sums(
    session: Session,
    jurisdiction_pk: int,
    zone: str,
    period: str | None,
    group_by: str,
    start: datetime,
    end: datetime,
) -> list[WorkOrderSums]:
    """Work orders done (state done, closed in [start, end)) per local period of their
    closing and group: how many, how many of those with a due time were closed by it, and the
    median hours from created to closed."""
    group = _work_order_group(group_by)
    bucket = _local_period(WorkOrder.closed_at, period, zone) if period else _NONE
    hours = _seconds(WorkOrder.closed_at, WorkOrder.created_at) / 3600.0
    query = (
        select(
            bucket.label("period"),
            group.label("grp"),
            func.count().label("done"),
            func.count().filter(WorkOrder.due_at.is_not(None)).label("with_due"),
            func.count().filter(WorkOrder.closed_at <= WorkOrder.due_at).label("on_time"),
            func.percentile_cont(0.5).within_group(hours).label("median_hours"),
        )
        .where(
            _city_orders(jurisdiction_pk),
            WorkOrder.state == WorkOrderState.done,
            WorkOrder.closed_at >= start,
            WorkOrder.closed_at < end,
        )
        .group_by(*_grouped(bucket, group))
    )
    return [
        WorkOrderSums(
            period=row.period,
            group=row.grp,
            done=row.done,
            with_due=row.with_due,
            on_time=row.on_time,
            median_hours_to_done=(
                float(row.median_hours) if row.median_hours is not None else None
            ),
        )
        for row in session.execute(query)
    ]


def overdue_counts(
    session: Session,
    jurisdiction_pk: int,
    group_by: str,
    moments: Sequence[datetime],
) -> dict[tuple[datetime, Any], int]:
    """(moment, group) -> work orders open and past due at that moment: created before it,
    due before it, and not closed (done or cancelled) by then.

    An order is overdue from `begins` = the later of created_at and due_at (exclusive) until
    closed_at (exclusive; never if still open). Over the orders overdue at some moment of the
    range (closed after they began), the count at t is #(begins < t) - #(closed_at <= t): two
    binary searches in each group's sorted times, fetched once, instead of comparing every
    moment with every order (a year by hour is 8,760 moments)."""
    if not moments:
        return {}
    group = _work_order_group(group_by)
    first, last = min(moments), max(moments)
    begins = func.greatest(WorkOrder.created_at, WorkOrder.due_at)
    query = (
        select(
            group.label("grp"),
            func.array_agg(aggregate_order_by(_micros(begins), _micros(begins))).label("begins"),
            func.array_agg(
                aggregate_order_by(_micros(WorkOrder.closed_at), _micros(WorkOrder.closed_at))
            )
            .filter(WorkOrder.closed_at.is_not(None))
            .label("ends"),
        )
        .where(
            _city_orders(jurisdiction_pk),
            WorkOrder.due_at.is_not(None),
            begins < last,
            or_(
                # still open; a final state without closed_at (bad data) is never open
                and_(
                    WorkOrder.closed_at.is_(None),
                    WorkOrder.state.in_(OPEN_WORK_ORDER_STATES),
                ),
                and_(WorkOrder.closed_at > first, WorkOrder.closed_at > begins),
            ),
        )
        .group_by(*_grouped(group))
    )
    counts: dict[tuple[datetime, Any], int] = {}
    for row in session.execute(query):
        starts, ends = row.begins or [], row.ends or []
        for moment in moments:
            at = _epoch_micros(moment)
            overdue = bisect_left(starts, at) - bisect_right(ends, at)
            if overdue:
                counts[(moment, row.grp)] = overdue
    return counts


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: Any) -> ColumnElement:
    """Microseconds since the epoch, exact (extract gives numeric): compared with Python's."""
    return cast(extract("epoch", moment) * 1_000_000, BigInteger)


def _epoch_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def crew_names(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = session.execute(select(Crew.id, Crew.code, Crew.name).where(Crew.id.in_(ids)))
    return {row.id: (row.code, row.name) for row in rows}


def agency_names(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = session.execute(select(Agency.id, Agency.code, Agency.name).where(Agency.id.in_(ids)))
    return {row.id: (row.code, row.name) for row in rows}
