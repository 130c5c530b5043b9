"""Synthetic contacts (calls, chats, walk-ins, e-mails) for the demo cities, so that the call
statistics have something to show on `make run`. Made up, and labelled so in demo/README.md.

The shapes follow what a big-city 311 centre reports, not any one centre's data: mostly phone,
some chat, e-mail, walk-ins and TTY; a Spanish share (and a few other languages, most with an
interpreter); about 7% of queued calls abandoned; answer times skewed (most within half a
minute, a long tail); some calls put on hold; outcomes mostly information (answered with one of
the city's published articles, counted as article answers) and requests (linked to the city's
recent demo requests), some transfers to another agency. Busier on weekdays and in office hours.

Deterministic (one seeded random generator, times counted back from today's midnight in the
city), and idempotent: the calls are known by a DEMO- call id, and a city that already has demo
calls in the window gets none added.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from open311.db.models import (
    Article,
    ArticleAnswer,
    Contact,
    Jurisdiction,
    ServiceRequest,
    contact_request,
)
from open311.values import ArticleState, ContactChannel, ContactOutcome

DAYS = 60
PREFIX = "DEMO-"
SEED = 15


@dataclass(frozen=True)
class CityShape:
    """What one city's made-up centre looks like."""

    jurisdiction_id: str
    per_weekday: int  # contacts on an average weekday
    spanish: float  # share of contacts in Spanish
    others: tuple[str, ...]  # other languages heard now and then
    transfer_agencies: tuple[str, ...]


CITIES = (
    CityShape(
        "lacity.org",
        per_weekday=60,
        spanish=0.28,
        others=("ko", "zh", "tl", "hy", "vi"),
        transfer_agencies=("LA County 211", "LADWP", "Caltrans", "LA County Public Works"),
    ),
    CityShape(
        "austintexas.gov",
        per_weekday=35,
        spanish=0.2,
        others=("vi", "zh", "ar", "ko"),
        transfer_agencies=("Travis County", "Austin Energy", "TxDOT", "Capital Metro"),
    ),
)
CHANNELS = (
    (ContactChannel.phone, 0.76),
    (ContactChannel.chat, 0.09),
    (ContactChannel.email, 0.07),
    (ContactChannel.walk_in, 0.05),
    (ContactChannel.tty, 0.01),
    (ContactChannel.web, 0.02),
)
OUTCOMES = (
    (ContactOutcome.information, 0.56),
    (ContactOutcome.request, 0.3),
    (ContactOutcome.transfer, 0.09),
    (ContactOutcome.complaint, 0.02),
    (ContactOutcome.feedback, 0.02),
    (ContactOutcome.other, 0.01),
)
# Share of a day's contacts in each local hour (office hours busiest, a lunchtime peak).
HOURS = [0.2] * 7 + [3, 7, 9, 9, 8, 8, 8, 7, 6, 5, 3, 2, 1] + [0.5] * 4
QUEUED = frozenset({ContactChannel.phone, ContactChannel.tty, ContactChannel.chat})


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([item for item, _ in weighted], [weight for _, weight in weighted])[0]


def _seconds(rng: random.Random, median: float, spread: float, cap: float) -> int:
    """A skewed (log-normal) duration: most near `median`, a long tail up to `cap`."""
    return int(min(cap, rng.lognormvariate(math.log(median), spread)))


def seed_demo_contacts(session: Session, now: datetime) -> list[str]:
    """Add the synthetic contacts of each demo city present, unless it has demo calls already;
    one report line per city. Adds and flushes; the caller commits."""
    report = []
    for shape in CITIES:
        city = session.scalar(
            select(Jurisdiction).where(Jurisdiction.jurisdiction_id == shape.jurisdiction_id)
        )
        if city is not None:
            report.append(f"{shape.jurisdiction_id} {_seed_city(session, city, shape, now)}")
    return report


def _seed_city(session: Session, city: Jurisdiction, shape: CityShape, now: datetime) -> str:
    zone = ZoneInfo(city.time_zone)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=DAYS)
    present = session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(
            Contact.jurisdiction_id == city.id,
            Contact.external_id.startswith(PREFIX),
            Contact.queued_at >= start,
        )
    )
    if present:
        return f"contacts: none added ({present:,} synthetic ones already in the last {DAYS} days)"
    articles = session.scalars(
        select(Article.id)
        .where(Article.jurisdiction_id == city.id, Article.state == ArticleState.published)
        .order_by(Article.id)
    ).all()
    requests = session.execute(
        select(ServiceRequest.id, ServiceRequest.requested_datetime)
        .where(
            ServiceRequest.jurisdiction_id == city.id,
            ServiceRequest.requested_datetime >= start,
        )
        .order_by(ServiceRequest.requested_datetime, ServiceRequest.id)
    ).all()
    rng = random.Random(f"{SEED}-{shape.jurisdiction_id}")
    rows, wanted_links, wanted_articles = _make_calls(rng, city, shape, start, today)
    if not rows:
        return "contacts: none added"
    # Core inserts: thousands of rows without building ORM objects.
    table = Contact.__table__
    ids = session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    contact_ids = list(ids)
    links = _request_links(contact_ids, rows, wanted_links, requests)
    if links:
        session.execute(insert(contact_request), links)
    answers = _article_answers(rng, contact_ids, rows, wanted_articles, articles, city)
    if answers:
        session.execute(insert(ArticleAnswer.__table__), answers)
    session.flush()
    abandoned = sum(1 for row in rows if row["abandoned"])
    return (
        f"contacts: {len(rows):,} synthetic ({PREFIX}*), last {DAYS} days, "
        f"{abandoned:,} abandoned, {len(answers):,} answered with articles, "
        f"{len(links):,} linked to requests"
    )


def _make_calls(
    rng: random.Random, city: Jurisdiction, shape: CityShape, start: datetime, today: datetime
) -> tuple[list[dict[str, Any]], list[int], list[int]]:
    """The contacts' rows, and which of them (by index) led to a request or were answered by
    an article."""
    rows: list[dict[str, Any]] = []
    to_requests: list[int] = []
    to_articles: list[int] = []
    number = 0
    for day in range(DAYS):
        midnight = start + timedelta(days=day)
        weekend = midnight.weekday() >= 5
        count = int(shape.per_weekday * (0.35 if weekend else 1.0) * rng.uniform(0.8, 1.2))
        for _ in range(count):
            hour = rng.choices(range(24), HOURS)[0]
            local = midnight.replace(hour=hour) + timedelta(seconds=rng.randrange(3600))
            if local >= today:
                continue
            number += 1
            row = _call(rng, city, shape, local, number)
            if row["outcome"] is ContactOutcome.request:
                to_requests.append(len(rows))
            elif row["outcome"] is ContactOutcome.information:
                to_articles.append(len(rows))
            rows.append(row)
    return rows, to_requests, to_articles


def _call(
    rng: random.Random, city: Jurisdiction, shape: CityShape, queued: datetime, number: int
) -> dict[str, Any]:
    channel = _pick(rng, CHANNELS)
    draw = rng.random()
    if draw < shape.spanish:
        language, interpreter = "es", rng.random() < 0.1  # most centres have Spanish speakers
    elif draw < shape.spanish + 0.04:
        language, interpreter = rng.choice(shape.others), rng.random() < 0.75
    else:
        language, interpreter = "en", False
    row: dict[str, Any] = {
        "jurisdiction_id": city.id,
        "channel": channel,
        "language": language,
        "interpreter": interpreter,
        "queued_at": queued,
        "answered_at": None,
        "ended_at": None,
        "hold_seconds": 0,
        "abandoned": False,
        "staff_user_id": None,
        "outcome": None,
        "transfer_agency": None,
        "external_id": f"{PREFIX}{number:06d}",
        "caller_number": None,
    }
    if channel in (ContactChannel.phone, ContactChannel.tty):
        # 555-01xx numbers are reserved for fiction.
        row["caller_number"] = f"+1 555 01{rng.randrange(100):02d} {rng.randrange(10_000):04d}"
    if channel in QUEUED and rng.random() < 0.07:
        wait = _seconds(rng, 70, 0.8, 900)
        return row | {"abandoned": True, "ended_at": queued + timedelta(seconds=wait)}
    if channel is ContactChannel.email:
        wait = _seconds(rng, 4 * 3600, 0.7, 20 * 3600)  # e-mails are answered in hours
    elif channel in QUEUED:
        wait = _seconds(rng, 18, 1.0, 600)
    else:
        wait = _seconds(rng, 60, 0.6, 900)  # a walk-in's turn at the counter
    answered = queued + timedelta(seconds=wait)
    handle = _seconds(rng, 210, 0.6, 3600)
    hold = _seconds(rng, 40, 0.7, 600) if channel in QUEUED and rng.random() < 0.3 else 0
    outcome = _pick(rng, OUTCOMES)
    return row | {
        "answered_at": answered,
        "ended_at": answered + timedelta(seconds=handle + hold),
        "hold_seconds": hold,
        "outcome": outcome,
        "transfer_agency": (
            rng.choice(shape.transfer_agencies) if outcome is ContactOutcome.transfer else None
        ),
    }


def _request_links(
    contact_ids: list[int],
    rows: list[dict[str, Any]],
    wanted: list[int],
    requests: Any,
) -> list[dict[str, int]]:
    """Each request-outcome call linked to a request filed near its time, each request at
    most once (the demo's requests are few; calls beyond them stay unlinked)."""
    if not requests:
        return []
    times = [moment for _pk, moment in requests]
    used: set[int] = set()
    links = []
    position = 0
    for index in wanted:
        queued = rows[index]["queued_at"]
        while position < len(times) and times[position] < queued:
            position += 1
        for candidate in (position, position - 1, position + 1):
            if 0 <= candidate < len(requests) and candidate not in used:
                used.add(candidate)
                links.append(
                    {"contact_id": contact_ids[index], "service_request_pk": requests[candidate][0]}
                )
                break
    return links


def _article_answers(
    rng: random.Random,
    contact_ids: list[int],
    rows: list[dict[str, Any]],
    wanted: list[int],
    articles: Any,
    city: Jurisdiction,
) -> list[dict[str, Any]]:
    """An article answer for most information calls, the city's articles weighted so that a
    few answer most calls (as in any knowledge base)."""
    if not articles:
        return []
    weights = [1 / (rank + 1) for rank in range(len(articles))]
    answers = []
    for index in wanted:
        if rng.random() < 0.15:
            continue  # answered from memory, no article named
        row = rows[index]
        answers.append(
            {
                "jurisdiction_id": city.id,
                "article_pk": rng.choices(articles, weights)[0],
                "staff_user_id": None,
                "locale": row["language"],
                "answered_at": row["answered_at"],
                "contact_id": contact_ids[index],
            }
        )
    return answers
