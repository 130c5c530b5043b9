"""The call-centre and crew figures agree with the raw rows: every figure of every period and
group is recomputed here in plain Python from the same contacts and work orders, in a city
whose clocks change inside the range (Los Angeles, 1 November 2026)."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from open311.db.models import Article, ArticleAnswer, ArticleVariant, Contact, Jurisdiction
from open311.domain import call_stats
from open311.errors import InvalidInput
from open311.values import ContactChannel, ContactOutcome, StaffRole, WorkOrderState
from tests.api.helpers import make_staff
from tests.factories import (
    make_agency,
    make_crew,
    make_jurisdiction,
    make_request,
    make_service,
    make_work_order,
)

LA = ZoneInfo("America/Los_Angeles")
SERVICE_LEVEL_S = 30.0
# Local 28 October to 4 November 2026: Daylight time ends on Sunday 1 November at 02:00.
START = datetime(2026, 10, 28, tzinfo=LA)
END = datetime(2026, 11, 4, tzinfo=LA)
NOW = datetime(2026, 11, 10, tzinfo=UTC)


def la_city(db) -> Jurisdiction:
    return make_jurisdiction(db, time_zone="America/Los_Angeles", default_locale="en")


def make_contacts(db, city: Jurisdiction, count: int = 400) -> list[Contact]:
    """Contacts of every channel, four languages and three call-takers, some abandoned, some
    never answered (an e-mail still waiting), some without an end, across the range's edges."""
    takers = [make_staff(db, StaffRole.call_taker, f"taker-{n}")[0] for n in range(3)]
    pick = random.Random(15)
    contacts = []
    span = (END - START).total_seconds() + 2 * 86400
    for _ in range(count):
        # In UTC: aware arithmetic in a zone is wall-clock arithmetic, wrong across the change.
        queued = (START - timedelta(days=1)).astimezone(UTC) + timedelta(
            seconds=pick.uniform(0, span)
        )
        channel = pick.choice(list(ContactChannel))
        language = pick.choice(["en", "en", "es", "vi", None])
        fate = pick.random()
        contact = Contact(
            jurisdiction_id=city.id,
            channel=channel,
            language=language,
            queued_at=queued,
            hold_seconds=0,
        )
        if fate < 0.15:
            contact.abandoned = True
            contact.ended_at = queued + timedelta(seconds=pick.uniform(1, 200))
        elif fate < 0.2:
            pass  # offered, not (yet) answered nor abandoned
        else:
            answered = queued + timedelta(seconds=pick.choice([0, 5, 29, 30, 31, 90, 400]))
            answered += timedelta(microseconds=pick.randrange(0, 999_999))
            contact.answered_at = answered
            contact.staff_user_id = pick.choice(takers).id
            contact.hold_seconds = pick.choice([0, 0, 15, 120])
            if pick.random() > 0.1:
                contact.ended_at = answered + timedelta(seconds=pick.uniform(30, 900))
            contact.interpreter = language not in ("en", None) and pick.random() < 0.5
            contact.outcome = pick.choice([*ContactOutcome, None])
        contacts.append(contact)
    db.add_all(contacts)
    db.flush()
    return contacts


def local_start(moment: datetime, period: str) -> datetime:
    """The period a moment falls in, as local wall-clock time: written apart from the code
    under test on purpose."""
    local = moment.astimezone(LA).replace(tzinfo=None)
    if period == "hour":
        return datetime(local.year, local.month, local.day, local.hour)
    day = datetime(local.year, local.month, local.day)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=local.weekday())
    return datetime(local.year, local.month, 1)


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def expected_figures(contacts: list[Contact]) -> dict[str, Any]:
    answered = [c for c in contacts if c.answered_at is not None]
    handled = [c for c in answered if c.ended_at is not None]
    outcome = [c for c in contacts if c.outcome is not None]
    waits = [(c.answered_at - c.queued_at).total_seconds() for c in answered]
    information = sum(c.outcome == ContactOutcome.information for c in contacts)
    request = sum(c.outcome == ContactOutcome.request for c in contacts)
    interpreter = sum(c.interpreter for c in contacts)
    return {
        "offered": len(contacts),
        "answered": len(answered),
        "abandoned": sum(c.abandoned for c in contacts),
        "abandoned_pct": pct(sum(c.abandoned for c in contacts), len(contacts)),
        "asa_seconds": mean(waits),
        "service_level_pct": pct(sum(w <= SERVICE_LEVEL_S for w in waits), len(contacts)),
        "aht_seconds": mean([(c.ended_at - c.answered_at).total_seconds() for c in handled]),
        "avg_hold_seconds": mean([c.hold_seconds for c in answered]),
        "information": information,
        "request": request,
        "information_pct": pct(information, len(outcome)),
        "request_pct": pct(request, len(outcome)),
        "interpreter": interpreter,
        "interpreter_pct": pct(interpreter, len(contacts)),
    }


def group_key(db, contact: Contact, group_by: str) -> str | None:
    if group_by == "channel":
        return contact.channel.value
    if group_by == "language":
        return contact.language
    if group_by == "staff_user" and contact.staff_user_id is not None:
        return db.get(call_stats.q.StaffUser, contact.staff_user_id).username
    return None


def figures_of(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in call_stats.CONTACT_METRICS}


@pytest.mark.parametrize(
    ("period", "group_by"),
    [
        ("hour", "channel"),
        ("day", "language"),
        ("week", "staff_user"),
        ("day", "none"),
        ("month", "channel"),
    ],
)
def test_contact_figures_agree_with_the_raw_rows(db, period, group_by):
    city = la_city(db)
    contacts = make_contacts(db, city)
    inside = [c for c in contacts if START <= c.queued_at < END]
    window = call_stats.plan_window(city, period, START, END, now=NOW)
    report = call_stats.contact_figures(db, city, window, group_by, service_level_s=SERVICE_LEVEL_S)

    cells: dict[tuple[str, Any], list[Contact]] = {}
    for contact in inside:
        label = local_start(contact.queued_at, period).replace(tzinfo=LA).isoformat()
        cells.setdefault((label, group_key(db, contact, group_by)), []).append(contact)
    groups = {key for _label, key in cells} or {None}
    assert {row["group"] for row in report.rows} == groups
    # Every period of the range, empty ones included, for every group.
    assert len(report.rows) == len(report.periods) * len(groups)
    assert len(set(report.periods)) == len(report.periods)
    for row in report.rows:
        expected = expected_figures(cells.get((row["period_start"], row["group"]), []))
        assert figures_of(row) == expected, row
    for total in report.totals:
        mine = [c for c in inside if group_key(db, c, group_by) == total["group"]]
        assert figures_of(total) == expected_figures(mine)
    assert report.total == expected_figures(inside)
    # Largest group first.
    offered = [total["offered"] for total in report.totals]
    assert offered == sorted(offered, reverse=True)


def test_hours_across_the_clock_change_are_local_hours(db):
    city = la_city(db)
    window = call_stats.plan_window(
        city, "hour", datetime(2026, 11, 1, tzinfo=LA), datetime(2026, 11, 2, tzinfo=LA), now=NOW
    )
    # A 25-hour day, but 24 local hours: the repeated 01:00 is one hour of the clock.
    assert len(window.periods) == 24
    days = call_stats.plan_window(city, "day", START, END, now=NOW)
    assert [p.day for p in days.periods] == [28, 29, 30, 31, 1, 2, 3]
    assert window.label(days.periods[0]) == "2026-10-28T00:00:00-07:00"
    assert window.label(days.periods[-1]) == "2026-11-03T00:00:00-08:00"
    weeks = call_stats.plan_window(city, "week", START, END, now=NOW)
    assert [p.isoformat() for p in weeks.periods] == ["2026-10-26T00:00:00", "2026-11-02T00:00:00"]


def test_the_service_level_threshold_is_inclusive_and_a_setting(db):
    city = la_city(db)
    queued = (START + timedelta(hours=9)).astimezone(UTC)
    for wait in (10, 30, 31):
        db.add(
            Contact(
                jurisdiction_id=city.id,
                channel=ContactChannel.phone,
                queued_at=queued,
                answered_at=queued + timedelta(seconds=wait),
            )
        )
    db.add(Contact(jurisdiction_id=city.id, channel="phone", queued_at=queued, abandoned=True))
    db.flush()
    window = call_stats.plan_window(city, "week", START, END, now=NOW)
    strict = call_stats.contact_figures(db, city, window, "none", service_level_s=30)
    assert strict.total["service_level_pct"] == 50.0  # 2 of 4 offered, the abandoned counts
    assert strict.total["asa_seconds"] == round(71 / 3, 1)
    assert strict.total["abandoned_pct"] == 25.0
    loose = call_stats.contact_figures(db, city, window, "none", service_level_s=60)
    assert loose.total["service_level_pct"] == 75.0


def test_filters_keep_one_channel_or_one_call_taker(db):
    city = la_city(db)
    contacts = make_contacts(db, city, 150)
    inside = [c for c in contacts if START <= c.queued_at < END]
    window = call_stats.plan_window(city, "day", START, END, now=NOW)
    chats = call_stats.contact_figures(
        db, city, window, "language", service_level_s=30, channel="chat"
    )
    assert chats.total == expected_figures([c for c in inside if c.channel == "chat"])
    taker = next(c.staff_user_id for c in inside if c.staff_user_id)
    own = call_stats.contact_figures(
        db, city, window, "channel", service_level_s=30, staff_user_id=taker
    )
    assert own.total == expected_figures([c for c in inside if c.staff_user_id == taker])


def test_another_citys_contacts_are_not_counted(db):
    city = la_city(db)
    other = make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York")
    make_contacts(db, other, 50)
    window = call_stats.plan_window(city, "day", START, END, now=NOW)
    report = call_stats.contact_figures(db, city, window, "channel", service_level_s=30)
    assert report.total["offered"] == 0
    assert report.rows == [] and report.totals == []


@pytest.mark.parametrize(
    ("period", "start", "end", "message"),
    [
        ("fortnight", START, END, "period must be one of"),
        ("day", END, START, "start must be before end"),
        ("day", START, START, "start must be before end"),
        ("hour", START, START + timedelta(days=32), "more than 744 periods"),
        ("day", START, START + timedelta(days=800), "more than 744 periods"),
    ],
)
def test_bad_windows_are_refused(db, period, start, end, message):
    city = la_city(db)
    with pytest.raises(InvalidInput, match=message):
        call_stats.plan_window(city, period, start, end, now=NOW)


def test_default_window_ends_now(db):
    city = la_city(db)
    window = call_stats.plan_window(city, "hour", None, None, now=NOW)
    assert (window.start, window.end) == (NOW - timedelta(days=1), NOW)
    assert len(window.periods) == 24
    assert len(call_stats.plan_window(city, "hour", None, END, now=NOW).periods) == 24


def test_bad_group_and_too_many_rows_are_refused(db, monkeypatch):
    city = la_city(db)
    make_contacts(db, city, 60)
    window = call_stats.plan_window(city, "hour", START, END, now=NOW)
    with pytest.raises(InvalidInput, match="group_by"):
        call_stats.contact_figures(db, city, window, "district", service_level_s=30)
    monkeypatch.setattr(call_stats, "MAX_ROWS", 168 * 3)
    with pytest.raises(InvalidInput, match="rows"):
        call_stats.contact_figures(db, city, window, "language", service_level_s=30)


# --- articles -------------------------------------------------------------------------------


def make_article(db, city, article_id: str, **titles: str) -> Article:
    article = Article(jurisdiction_id=city.id, article_id=article_id)
    article.variants = [ArticleVariant(locale=k, title=v) for k, v in titles.items()]
    db.add(article)
    db.flush()
    return article


def test_top_articles_count_answers_per_language_with_a_title(db):
    city = la_city(db)
    bulky = make_article(db, city, "bulky-items", en="Bulky item pickup", es="Recogida")
    trees = make_article(db, city, "trees", en="Trees")
    graffiti = make_article(db, city, "graffiti", vi="Vẽ bậy")
    at = START + timedelta(days=1)
    answers = [
        (bulky, "en", 3),
        (bulky, "es", 2),
        (trees, "en", 5),
        (graffiti, "vi", 1),
    ]
    for article, locale, times in answers:
        for n in range(times):
            db.add(
                ArticleAnswer(
                    jurisdiction_id=city.id,
                    article_pk=article.id,
                    locale=locale,
                    answered_at=at + timedelta(minutes=n),
                )
            )
    # Outside the range: not counted.
    db.add(
        ArticleAnswer(jurisdiction_id=city.id, article_pk=trees.id, locale="en", answered_at=END)
    )
    db.flush()
    top = call_stats.top_articles(db, city, START, END)
    assert top == [
        {"article_id": "bulky-items", "title": "Bulky item pickup", "answers": 5,
         "by_locale": {"en": 3, "es": 2}},
        {"article_id": "trees", "title": "Trees", "answers": 5, "by_locale": {"en": 5}},
        {"article_id": "graffiti", "title": "Vẽ bậy", "answers": 1, "by_locale": {"vi": 1}},
    ]  # fmt: skip
    spanish = call_stats.top_articles(db, city, START, END, locale="es")
    assert spanish == [
        {"article_id": "bulky-items", "title": "Recogida", "answers": 2, "by_locale": {"es": 2}}
    ]
    assert [a["article_id"] for a in call_stats.top_articles(db, city, START, END, limit=1)] == [
        "bulky-items"
    ]
    with pytest.raises(InvalidInput):
        call_stats.top_articles(db, city, END, START)


# --- work orders ----------------------------------------------------------------------------


def make_orders(db, city):
    """Work orders of two agencies' crews: done on time, done late, done without a due time,
    cancelled, open and overdue at some periods' ends, across the clock change."""
    service = make_service(db, city)
    request = make_request(db, service)
    streets, lights = make_agency(db, city, "BSS"), make_agency(db, city, "BSL")
    crews = [make_crew(db, streets, "CD1"), make_crew(db, streets, "CD2"), make_crew(db, lights)]
    pick = random.Random(7)
    orders = []
    for _ in range(120):
        crew = pick.choice([*crews, None])
        agency = crew.agency if crew else pick.choice([streets, lights])
        created = (START - timedelta(days=3)).astimezone(UTC) + timedelta(
            seconds=pick.uniform(0, 11 * 86400)
        )
        due = created + timedelta(hours=pick.choice([4, 24, 72])) if pick.random() > 0.1 else None
        fate = pick.random()
        closed = created + timedelta(hours=pick.uniform(1, 120)) if fate < 0.75 else None
        state = (
            WorkOrderState.done
            if closed and fate < 0.65
            else WorkOrderState.cancelled
            if closed
            else pick.choice([WorkOrderState.new, WorkOrderState.assigned, "in_progress"])
        )
        orders.append(
            make_work_order(
                db,
                request,
                agency,
                crew=crew,
                state=state,
                created_at=created,
                updated_at=created,
                due_at=due,
                closed_at=closed,
            )
        )
    return orders


def order_group(order, group_by: str) -> str | None:
    if group_by == "crew":
        return order.crew.code if order.crew else None
    if group_by == "agency":
        return order.agency.code
    return None


def expected_orders(done: list, overdue: int) -> dict[str, Any]:
    with_due = [o for o in done if o.due_at is not None]
    on_time = sum(o.closed_at <= o.due_at for o in with_due)
    hours = [(o.closed_at - o.created_at).total_seconds() / 3600 for o in done]
    return {
        "done": len(done),
        "on_time": on_time,
        "on_time_pct": pct(on_time, len(with_due)),
        "overdue": overdue,
        "median_hours_to_done": round(statistics.median(hours), 2) if hours else None,
    }


def overdue_at(orders: list, moment: datetime) -> int:
    return sum(
        o.created_at < moment
        and o.due_at is not None
        and o.due_at < moment
        and (o.closed_at is None or o.closed_at > moment)
        for o in orders
    )


@pytest.mark.parametrize(
    ("period", "group_by"), [("day", "crew"), ("week", "agency"), ("hour", "none")]
)
def test_work_order_figures_agree_with_the_raw_rows(db, period, group_by):
    city = la_city(db)
    orders = make_orders(db, city)
    # "now" inside the range: the periods after it count overdue as of now.
    now = datetime(2026, 11, 2, 12, 30, tzinfo=LA)
    start, end = (START, END) if period != "hour" else (START, START + timedelta(days=2))
    window = call_stats.plan_window(city, period, start, end, now=now)
    report = call_stats.work_order_figures(db, city, window, group_by, now=now)
    done = [o for o in orders if o.state == "done" and start <= o.closed_at < end]
    for row, (local, key) in zip(
        report.rows,
        [(p, g.key) for p in window.periods for g in report.groups],
        strict=True,
    ):
        assert row["period_start"] == window.label(local)
        assert row["group"] == key
        upto = min(window.period_end(local), now)
        mine = [o for o in orders if order_group(o, group_by) == key]
        cell = [
            o
            for o in done
            if order_group(o, group_by) == key and local_start(o.closed_at, period) == local
        ]
        assert {k: row[k] for k in call_stats.WORK_ORDER_METRICS} == expected_orders(
            cell, overdue_at(mine, upto)
        ), row
    last = min(end, now)
    for total in report.totals:
        mine = [o for o in orders if order_group(o, group_by) == total["group"]]
        cell = [o for o in done if order_group(o, group_by) == total["group"]]
        assert {k: total[k] for k in call_stats.WORK_ORDER_METRICS} == expected_orders(
            cell, overdue_at(mine, last)
        )
    assert report.total == expected_orders(done, overdue_at(orders, last))
    if group_by == "crew":
        assert {g.key for g in report.groups} <= {"CD1", "CD2", None} | {
            o.crew.code for o in orders if o.crew
        }


def test_work_order_groups_are_refused_when_unknown(db):
    city = la_city(db)
    window = call_stats.plan_window(city, "day", START, END, now=NOW)
    with pytest.raises(InvalidInput, match="group_by"):
        call_stats.work_order_figures(db, city, window, "channel", now=NOW)


def test_charts_take_one_metric_per_group(db):
    city = la_city(db)
    make_contacts(db, city, 80)
    window = call_stats.plan_window(city, "day", START, END, now=NOW)
    report = call_stats.contact_figures(db, city, window, "channel", service_level_s=30)
    chart = call_stats.contact_chart(report, "asa_seconds")
    assert chart.title == "Average speed of answer per day" and chart.y_label == "seconds"
    assert len(chart.x) == 7
    assert set(chart.series) == {g.name for g in report.groups}
    phone = [r["asa_seconds"] for r in report.rows if r["group"] == "phone"]
    assert chart.series["phone"] == phone
    with pytest.raises(InvalidInput, match="metric"):
        call_stats.contact_chart(report, "happiness")


@pytest.mark.parametrize("group_by", ["none", "crew"])
def test_a_city_without_work_orders_has_zeros(db, group_by):
    city = la_city(db)
    window = call_stats.plan_window(city, "day", START, END, now=NOW)
    report = call_stats.work_order_figures(db, city, window, group_by, now=NOW)
    assert report.total == {
        "done": 0,
        "on_time": 0,
        "on_time_pct": None,
        "overdue": 0,
        "median_hours_to_done": None,
    }
    assert len(report.rows) == (7 if group_by == "none" else 0)


def test_an_order_closed_exactly_at_a_period_end_is_not_overdue_then(db):
    city = la_city(db)
    request = make_request(db, make_service(db, city))
    agency = make_agency(db, city)
    day_end = datetime(2026, 10, 29, tzinfo=LA)
    make_work_order(
        db,
        request,
        agency,
        state="done",
        created_at=START,
        updated_at=START,
        due_at=START + timedelta(hours=1),
        closed_at=day_end,
    )
    window = call_stats.plan_window(city, "day", START, END, now=NOW)
    report = call_stats.work_order_figures(db, city, window, "none", now=NOW)
    assert [row["overdue"] for row in report.rows] == [0] * 7
    assert report.rows[1]["done"] == 1 and report.rows[1]["on_time"] == 0
    shifted = call_stats.plan_window(city, "hour", START, START + timedelta(days=1), now=NOW)
    hourly = call_stats.work_order_figures(db, city, shifted, "none", now=NOW)
    # Due at 01:00: overdue at the end of 01:00-02:00 and later hours, but not at midnight,
    # the moment it was closed.
    assert [row["overdue"] for row in hourly.rows] == [0] + [1] * 22 + [0]


def test_call_takers_of_one_name_are_two_series(db):
    city = la_city(db)
    queued = (START + timedelta(hours=10)).astimezone(UTC)
    for username in ("kim-1", "kim-2"):
        user, _token = make_staff(db, StaffRole.call_taker, username)
        user.display_name = "Kim Lee"
        db.add(
            Contact(
                jurisdiction_id=city.id,
                channel="phone",
                queued_at=queued,
                answered_at=queued,
                staff_user_id=user.id,
            )
        )
    db.flush()
    window = call_stats.plan_window(city, "day", START, END, now=NOW)
    report = call_stats.contact_figures(db, city, window, "staff_user", service_level_s=30)
    chart = call_stats.contact_chart(report, "answered")
    assert set(chart.series) == {"Kim Lee (kim-1)", "Kim Lee (kim-2)"}
