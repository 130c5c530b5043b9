"""Call-centre and crew figures at size: a year of N contacts by week and channel, and a year of
M work orders by week and crew, through the domain functions the staff API calls.

Works in one transaction on the database of DATABASE_URL (or the settings' default, the
project-local cluster of `make run`) and rolls it back: a made-up city (America/Los_Angeles)
gets the rows, each figure is timed five times (the median printed), and nothing stays.

    .venv/bin/python bench/call_stats.py                          # 200,000 contacts, 100,000 orders
    .venv/bin/python bench/call_stats.py --contacts 1000000 --work-orders 0
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text

from open311.config import Settings
from open311.db.models import Agency, Crew, Jurisdiction, Service, ServiceRequest
from open311.db.session import make_engine, make_session_factory
from open311.domain import call_stats
from open311.values import ServiceType, Status

LA = ZoneInfo("America/Los_Angeles")
START, END = datetime(2026, 1, 1, tzinfo=LA), datetime(2027, 1, 1, tzinfo=LA)
NOW = datetime(2027, 1, 2, tzinfo=LA)

# A year of contacts, evenly spread: every channel and four languages, one in nine abandoned.
CONTACTS = """
INSERT INTO contact (jurisdiction_id, channel, language, interpreter, queued_at, answered_at,
                     ended_at, hold_seconds, abandoned, outcome)
SELECT :city, (ARRAY['phone','tty','walk_in','email','chat','web','app'])[1 + i % 7],
       (ARRAY['en','es','vi','ko'])[1 + i % 4], i % 13 = 0,
       q, CASE WHEN i % 9 = 0 THEN NULL ELSE q + make_interval(secs => i % 97) END,
       q + make_interval(secs => 200 + i % 500), i % 60, i % 9 = 0,
       CASE WHEN i % 9 = 0 THEN NULL
            ELSE (ARRAY['information','request','transfer'])[1 + i % 3] END
FROM generate_series(1, :n) AS i,
     LATERAL (SELECT :start + make_interval(secs => i * (31536000.0 / :n)) AS q) AS t
"""
# A year of work orders over 40 crews of 5 agencies: one in ten still open, the rest done
# within 0 to 150 hours against a 3-day due time.
WORK_ORDERS = """
INSERT INTO work_order (service_request_pk, agency_id, crew_id, title, state, priority,
                        due_at, created_at, updated_at, closed_at)
SELECT :req, (:agencies)[1 + i % 5], (:crews)[1 + i % 40], 'bench',
       CASE WHEN i % 10 = 0 THEN 'assigned' ELSE 'done' END, 0,
       c + interval '3 days', c, c,
       CASE WHEN i % 10 = 0 THEN NULL ELSE c + make_interval(hours => i % 150) END
FROM generate_series(1, :n) AS i,
     LATERAL (SELECT :start + make_interval(secs => i * (31536000.0 / :n)) AS c) AS t
"""


def timed(action, runs: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--work-orders", type=int, default=100_000)
    args = parser.parse_args()
    engine = make_engine(Settings().resolved_database_url())
    with make_session_factory(engine)() as session:
        city = Jurisdiction(
            jurisdiction_id="bench-call-stats.example", name="Bench", time_zone=LA.key
        )
        session.add(city)
        session.flush()
        window = call_stats.plan_window(city, "week", START, END, now=NOW)
        if args.contacts:
            session.execute(text(CONTACTS), {"city": city.id, "n": args.contacts, "start": START})
            session.execute(text("ANALYZE contact"))
            seconds, report = timed(
                lambda: call_stats.contact_figures(
                    session, city, window, "channel", service_level_s=30
                )
            )
            print(
                f"contacts: a year of {args.contacts:,} by week and channel: "
                f"{seconds * 1000:.0f} ms ({len(report.rows)} rows)"
            )
        if args.work_orders:
            service = Service(
                jurisdiction=city, service_code="BENCH", service_name="Bench",
                type=ServiceType.realtime,
            )  # fmt: skip
            request = ServiceRequest(
                service=service, jurisdiction_id=city.id, status=Status.open,
                requested_datetime=START, updated_datetime=START,
            )  # fmt: skip
            agencies = [
                Agency(jurisdiction_id=city.id, code=f"A{n}", name=f"A{n}") for n in range(5)
            ]
            crews = [Crew(agency=agencies[n % 5], code=f"C{n}", name=f"C{n}") for n in range(40)]
            session.add_all([request, *agencies, *crews])
            session.flush()
            session.execute(
                text(WORK_ORDERS),
                {
                    "req": request.id,
                    "agencies": [a.id for a in agencies],
                    "crews": [c.id for c in crews],
                    "n": args.work_orders,
                    "start": START,
                },
            )
            session.execute(text("ANALYZE work_order"))
            for group_by in ("crew", "agency"):
                seconds, report = timed(
                    lambda group_by=group_by: call_stats.work_order_figures(
                        session, city, window, group_by, now=NOW
                    )
                )
                print(
                    f"work orders: a year of {args.work_orders:,} by week and {group_by}: "
                    f"{seconds * 1000:.0f} ms ({len(report.rows)} rows)"
                )
        session.rollback()
    engine.dispose()


if __name__ == "__main__":
    main()
