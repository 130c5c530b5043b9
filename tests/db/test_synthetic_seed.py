"""Synthetic requests at scale (`open311 seed --requests N`): realistic, placed, stable, idempotent.

5,000 synthetic requests are loaded once for the module on top of the demo city with its real
history, through the same hook the CLI uses; each test runs in a savepoint on that connection.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from click.testing import CliRunner, Result
from flask.cli import ScriptInfo
from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from open311.cli import main
from open311.db.migrate import schema_drift
from open311.db.models import (
    Activity,
    Jurisdiction,
    RequestDistrict,
    Service,
    ServiceRequest,
    WorkOrder,
)
from open311.demo import synthetic
from open311.demo.catalogue import load_catalogue
from open311.demo.myla311 import read_agencies
from open311.demo.seed import city_dir, seed_demo_city
from open311.demo.synthetic import SyntheticSpec
from open311.values import Status, WorkOrderState
from tests.factories import make_request

LA = ZoneInfo("America/Los_Angeles")
UNTIL = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
# The window: three years of local days before 1 July 2026 (midnight in Los Angeles).
WINDOW_START = datetime(2023, 7, 1, tzinfo=LA)
WINDOW_END = datetime(2026, 7, 1, tzinfo=LA)
SPEC = SyntheticSpec(5_000, years=3, seed=7, until=UNTIL)
SYN = ServiceRequest.service_request_id.like("SYN-%")


@pytest.fixture(scope="module")
def loaded(demo_connection: Connection) -> Iterator[tuple[list[str], list[int]]]:
    """The demo city plus SPEC's requests, committed to a savepoint kept for the module."""
    savepoint = demo_connection.begin_nested()
    progress: list[int] = []
    with Session(bind=demo_connection, join_transaction_mode="create_savepoint") as session:
        report = seed_demo_city(session, synthetic=SPEC, progress=progress.append)
        session.commit()
    yield report, progress
    savepoint.rollback()


@pytest.fixture
def connection(demo_connection: Connection, loaded) -> Iterator[Connection]:
    """Overrides conftest's: the loaded connection, with each test inside a savepoint."""
    savepoint = demo_connection.begin_nested()
    yield demo_connection
    savepoint.rollback()


@pytest.fixture
def cli(app) -> Callable[..., Result]:
    """Run `open311 ...` with the app whose sessions join the test's transaction."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))

    return invoke


def synthetic_rows(db: Session) -> list[ServiceRequest]:
    return list(db.scalars(select(ServiceRequest).where(SYN).order_by(ServiceRequest.id)))


def real_type_frequencies() -> Counter[str]:
    """RequestType counts of the three extracts, read here independently of the generator."""
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    for name in synthetic.HISTORY_FILES:
        with (city_dir() / name).open(newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                row = {key.lower(): value for key, value in row.items()}
                if row["srnumber"] not in seen:
                    seen.add(row["srnumber"])
                    counts[row["requesttype"].strip()] += 1
    return counts


def services_by_type(db: Session) -> dict[str, Service]:
    catalogue = load_catalogue(read_agencies(city_dir() / "agencies.csv"))
    by_code = {service.service_code: service for service in db.scalars(select(Service))}
    return {spec.request_type: by_code[spec.service_code] for spec in catalogue.services}


@dataclass(frozen=True)
class Generator:
    """The generator's inputs in this database's terms, built once for the module."""

    profile: synthetic.CityProfile
    plan: synthetic.ServicePlan
    window: synthetic.Window

    def draw(self, numbers: np.ndarray | list[int], seed: int = SPEC.seed) -> synthetic.Draw:
        """What the seed draws for SYN-k, k in `numbers`."""
        return synthetic.draw(self.profile, self.plan, self.window, seed, np.asarray(numbers))


@pytest.fixture(scope="module")
def generator(demo_connection: Connection, loaded) -> Generator:
    with Session(bind=demo_connection, join_transaction_mode="create_savepoint") as db:
        profile = synthetic.read_city_profile(city_dir())
        jurisdiction = db.scalars(select(Jurisdiction)).one()
        kept = synthetic.points_inside(db, jurisdiction, profile.lat, profile.long)
        profile = profile.keep_points(kept)
        plan = synthetic.plan_services(db, profile, services_by_type(db))
    return Generator(profile, plan, synthetic.Window.before(UNTIL, SPEC.years))


def load(db: Session, spec: SyntheticSpec) -> list[str]:
    """Run the synthetic load alone (seed_demo_city's hook is covered by the module's load)."""
    jurisdiction = db.scalars(select(Jurisdiction)).one()
    report = synthetic.load_synthetic_requests(
        db, jurisdiction, services_by_type(db), city_dir(), spec
    )
    return report.lines()


def fingerprint(db: Session, numbers: list[int]) -> list[tuple]:
    """The stored values of SYN-k, by k."""
    ids = [f"SYN-{k}" for k in numbers]
    rows = db.execute(
        select(
            ServiceRequest.service_request_id,
            ServiceRequest.service_id,
            ServiceRequest.status,
            ServiceRequest.requested_datetime,
            ServiceRequest.updated_datetime,
            ServiceRequest.description,
            ServiceRequest.address,
            func.ST_AsText(ServiceRequest.location),
            ServiceRequest.channel,
        ).where(ServiceRequest.service_request_id.in_(ids))
    ).all()
    return sorted(tuple(row) for row in rows)


# --- the first load ---------------------------------------------------------------------------


def test_the_load_adds_n_requests_and_reports_them(db, loaded):
    report, progress = loaded
    assert "synthetic requests: 5,000 (5,000 new)" in report
    assert any(line.startswith("synthetic requests routed to districts: ") for line in report)
    # Small next to the 30,000 history rows: indexes are kept, not rebuilt.
    assert any(line.startswith("synthetic load: indexes kept during the load") for line in report)
    assert sum(progress) == 5_000
    assert db.scalar(select(func.count()).where(SYN)) == 5_000
    ids = set(db.scalars(select(ServiceRequest.service_request_id).where(SYN)))
    assert ids == {f"SYN-{k}" for k in range(1, 5_001)}


def test_every_location_is_inside_the_service_area(db):
    outside = db.scalar(
        text(
            "SELECT count(*) FROM service_request r JOIN jurisdiction j "
            "ON j.id = r.jurisdiction_id WHERE r.service_request_id LIKE 'SYN-%' "
            "AND (r.location IS NULL OR NOT ST_Covers(j.service_area, r.location))"
        )
    )
    assert outside == 0


def test_points_are_real_points_jittered_by_at_most_30_m(generator):
    drawn = generator.draw(np.arange(1, 501))
    profile = synthetic.read_city_profile(city_dir())
    tree = shapely.STRtree(shapely.points(np.column_stack([profile.long, profile.lat])))
    jittered = shapely.points(np.column_stack([drawn.long, drawn.lat]))
    _given, nearest = tree.query_nearest(jittered, all_matches=False)
    north = (drawn.lat - profile.lat[nearest]) * 111_320
    east = (drawn.long - profile.long[nearest]) * 111_320 * np.cos(np.radians(drawn.lat))
    # The nearest real point is the source point or a closer one.
    assert np.all(np.hypot(north, east) <= 30 * np.sqrt(2) + 0.01)
    assert np.median(np.hypot(north, east)) > 5  # jittered, not the real points themselves


def test_the_type_mix_follows_the_city_records(db):
    real = real_type_frequencies()
    total = sum(real.values())
    names = dict(
        db.execute(
            select(Service.service_name, func.count())
            .join(ServiceRequest.service)
            .where(SYN)
            .group_by(Service.service_name)
        ).all()
    )
    assert set(names) <= set(real)
    # Chi-square over the types expected at least 5 times (the rest pooled): 11 types, so 10
    # degrees of freedom, whose 99.9th percentile is 29.6.
    chi2, pooled_observed, pooled_expected = 0.0, 0, 0.0
    for name, count in real.items():
        expected = 5_000 * count / total
        if expected < 5:
            pooled_observed += names.get(name, 0)
            pooled_expected += expected
        else:
            chi2 += (names.get(name, 0) - expected) ** 2 / expected
    chi2 += (pooled_observed - pooled_expected) ** 2 / max(pooled_expected, 1)
    assert chi2 < 29.6
    assert max(names, key=names.get) == "Bulky Items"


def test_times_fill_the_window_with_weekday_and_daytime_skew(db):
    rows = synthetic_rows(db)
    requested = [row.requested_datetime for row in rows]
    assert min(requested) >= WINDOW_START and max(requested) < WINDOW_END
    assert min(requested) < WINDOW_START + timedelta(days=14)
    assert max(requested) > WINDOW_END - timedelta(days=14)
    local = [moment.astimezone(LA) for moment in requested]
    days = Counter(moment.weekday() for moment in local)
    per_weekday = sum(days[d] for d in range(5)) / 5
    per_weekend_day = (days[5] + days[6]) / 2
    assert per_weekday > 1.6 * per_weekend_day
    daytime = sum(1 for moment in local if 7 <= moment.hour < 19) / len(local)
    night = sum(1 for moment in local if moment.hour < 5) / len(local)
    assert daytime > 0.8 and night < 0.05


def test_old_requests_are_closed_recent_ones_often_open(db):
    rows = synthetic_rows(db)

    def open_share(newer: timedelta, older: timedelta) -> float:
        chosen = [row for row in rows if older <= WINDOW_END - row.requested_datetime < newer]
        return sum(row.status == Status.open for row in chosen) / len(chosen)

    assert open_share(timedelta(days=14), timedelta(0)) > 0.15
    assert open_share(timedelta(days=5000), timedelta(days=60)) < 0.01
    for row in rows:
        assert row.requested_datetime <= row.updated_datetime < WINDOW_END
    statuses = Counter(row.status for row in rows)
    assert 0.003 < statuses[Status.open] / len(rows) < 0.05


def test_agency_is_the_routing_rules_and_channels_are_the_citys(db):
    mismatched = db.scalar(
        text(
            "SELECT count(*) FROM service_request r "
            "JOIN routing_rule rr ON rr.service_id = r.service_id "
            "JOIN agency a ON a.id = rr.agency_id "
            "WHERE r.service_request_id LIKE 'SYN-%' "
            "AND r.agency_responsible IS DISTINCT FROM a.name"
        )
    )
    assert mismatched == 0
    channels = Counter(db.scalars(select(ServiceRequest.channel).where(SYN)))
    assert set(channels) <= {
        "call",
        "mobile_app",
        "driver_self_report",
        "self_service",
        "email",
        "councils_office",
        "voicemail",
        "walk_in",
        "letter",
    }
    assert channels.most_common(1)[0][0] == "call"


def test_addresses_and_descriptions_are_searchable(db):
    rows = synthetic_rows(db)
    assert all(row.address and row.zipcode for row in rows)
    described = sum(1 for row in rows if row.description) / len(rows)
    assert 0.7 < described < 0.8
    found = db.execute(
        select(Service.service_code, ServiceRequest.description)
        .join(ServiceRequest.service)
        .where(SYN, text("search_vector @@ websearch_to_tsquery('english', 'broken light')"))
    ).all()
    assert found
    assert {code for code, _description in found} <= {
        "STREETLIGHT-SINGLE",
        "STREETLIGHT-MULTIPLE",
    }
    winnetka = db.scalar(
        select(func.count()).where(
            SYN, text("search_vector @@ websearch_to_tsquery('english', 'winnetka')")
        )
    )
    assert winnetka > 0


def test_the_generated_search_vector_matches_its_expression(db):
    stale = db.scalar(
        text(
            "SELECT count(*) FROM service_request WHERE search_vector IS DISTINCT FROM "
            "to_tsvector('english', coalesce(description, '') || ' ' || coalesce(address, ''))"
        )
    )
    assert stale == 0


def test_requests_are_placed_in_districts(db):
    placed = dict(
        db.execute(
            text(
                "SELECT l.name, count(*) FROM request_district rd "
                "JOIN boundary_layer l ON l.id = rd.layer_id "
                "JOIN service_request r ON r.id = rd.service_request_pk "
                "WHERE r.service_request_id LIKE 'SYN-%' GROUP BY l.name"
            )
        ).all()
    )
    # Every point is in the city; neighbourhood councils leave some land uncovered (1.4% of the
    # city's own points lie in none).
    assert placed["council_districts"] >= 0.995 * 5_000
    assert placed["neighborhood_councils"] >= 0.97 * 5_000


def test_the_backlog_gives_district_crews_work_orders_consistent_with_their_requests(db, loaded):
    """Each routed request's work order is its district crew's, open while the request is open
    and done when it closed, on the request's dates, due by its step's target."""
    rows = db.execute(
        text(
            """
            SELECT r.status, w.state, w.created_at = r.requested_datetime,
                   w.updated_at = r.updated_datetime, w.closed_at IS NOT DISTINCT FROM
                   CASE WHEN r.status = 'closed' THEN r.updated_datetime END,
                   w.due_at > w.created_at,
                   w.due_at - w.created_at >= make_interval(secs => s.target_hours * 3600),
                   c.kind = 'field' AND c.agency_id = w.agency_id,
                   EXISTS (SELECT 1 FROM request_district rd
                           JOIN crew_district cd ON cd.district_id = rd.district_id
                           WHERE rd.service_request_pk = r.id AND rd.layer_id = rr.layer_id
                             AND cd.crew_id = w.crew_id),
                   w.step_id = (SELECT x.id FROM workflow_step x
                                WHERE x.workflow_id = rr.workflow_id
                                ORDER BY CASE WHEN r.status = 'closed' THEN -x.position
                                              ELSE x.position END LIMIT 1),
                   w.title = s.name AND s.crew_role = 'district'
            FROM work_order w
            JOIN service_request r ON r.id = w.service_request_pk
            JOIN routing_rule rr ON rr.service_id = r.service_id
            JOIN workflow_step s ON s.id = w.step_id
            JOIN crew c ON c.id = w.crew_id
            WHERE r.service_request_id LIKE 'SYN-%'
            """
        )
    ).all()
    states = Counter((status, state) for status, state, *_checks in rows)
    assert set(states) <= {("open", "assigned"), ("open", "in_progress"), ("closed", "done")}
    assert states["closed", "done"] > 0.9 * 5_000
    assert states["open", "assigned"] + states["open", "in_progress"] > 0
    failed = [checks for _status, _state, *checks in rows if not all(checks)]
    assert failed == []
    per_request = db.scalar(
        text(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM work_order w JOIN service_request r "
            "ON r.id = w.service_request_pk WHERE r.service_request_id LIKE 'SYN-%' "
            "GROUP BY r.id) t"
        )
    )
    assert per_request == 1
    report, _progress = loaded
    opened = states["open", "assigned"] + states["open", "in_progress"]
    assert f"synthetic work orders: {len(rows):,} ({opened:,} open, the rest done)" in report


def test_every_open_routed_request_is_in_some_crews_queue(db):
    """What the crews' queues are measured on: the open work orders are all the open requests
    whose district has a crew, and some of them are overdue now."""
    missing = db.scalar(
        text(
            """
            SELECT count(*) FROM service_request r
            JOIN routing_rule rr ON rr.service_id = r.service_id
            JOIN workflow_step s ON s.workflow_id = rr.workflow_id AND s.position = 1
            JOIN request_district rd ON rd.service_request_pk = r.id AND rd.layer_id = rr.layer_id
            JOIN crew_district cd ON cd.district_id = rd.district_id
            JOIN crew c ON c.id = cd.crew_id AND c.kind = 'field'
             AND c.agency_id = coalesce(s.agency_id, rr.agency_id)
            WHERE r.service_request_id LIKE 'SYN-%' AND r.status = 'open'
              AND s.crew_role = 'district'
              AND NOT EXISTS (SELECT 1 FROM work_order w WHERE w.service_request_pk = r.id
                              AND w.state IN ('assigned', 'in_progress'))
            """
        )
    )
    assert missing == 0
    overdue = db.scalar(
        text(
            "SELECT count(*) FROM work_order w JOIN service_request r "
            "ON r.id = w.service_request_pk WHERE r.service_request_id LIKE 'SYN-%' "
            "AND w.state IN ('assigned', 'in_progress') AND w.due_at < :end"
        ),
        {"end": WINDOW_END},
    )
    assert overdue > 0


def test_ids_follow_requested_time_and_the_sequence_goes_on(db):
    out_of_order = db.scalar(
        text(
            "SELECT count(*) FROM (SELECT requested_datetime, lag(requested_datetime) "
            "OVER (ORDER BY id) AS before FROM service_request "
            "WHERE service_request_id LIKE 'SYN-%') t WHERE before > requested_datetime"
        )
    )
    assert out_of_order == 0
    service = db.scalars(select(Service).where(Service.service_code == "GRAFFITI")).one()
    filed = make_request(db, service)
    assert filed.id > db.scalar(select(func.max(ServiceRequest.id)).where(SYN))
    assert filed.service_request_id.isdigit()


def test_batch_services_have_tokens(db):
    tokens = db.execute(
        select(Service.type, func.count(ServiceRequest.token), func.count())
        .join(ServiceRequest.service)
        .where(SYN)
        .group_by(Service.type)
    ).all()
    by_type = {kind: (with_token, total) for kind, with_token, total in tokens}
    assert by_type["realtime"][0] == 0
    assert by_type["batch"][0] == by_type["batch"][1] > 0


# --- stability and re-runs ------------------------------------------------------------------


def test_the_stored_rows_are_what_the_seed_draws(db, generator):
    drawn = generator.draw(np.arange(1, 5_001))
    stored = dict(
        db.execute(
            select(
                ServiceRequest.service_request_id,
                func.extract("epoch", ServiceRequest.requested_datetime),
            ).where(SYN)
        ).all()
    )
    assert {f"SYN-{k}": float(t) for k, t in zip(drawn.number, drawn.requested, strict=True)} == {
        key: float(value) for key, value in stored.items()
    }


def test_a_request_does_not_depend_on_n_and_the_seed_matters(generator):
    every = generator.draw(np.arange(1, 5_001))
    few = generator.draw([17, 4_000, 70_000])
    assert sorted(few.number) == [17, 4_000, 70_000]
    for k in (17, 4_000):
        one, other = few.number == k, every.number == k
        for name in ("requested", "lat", "long", "type_index", "closed", "description_index"):
            assert getattr(few, name)[one] == getattr(every, name)[other], name
    again = generator.draw(np.arange(1, 101))
    other_seed = generator.draw(np.arange(1, 101), seed=SPEC.seed + 1)
    assert np.array_equal(
        again.requested, every.take(np.flatnonzero(every.number <= 100)).requested
    )
    assert not np.array_equal(np.sort(other_seed.requested), np.sort(again.requested))


def test_seeding_again_adds_nothing(db):
    before = fingerprint(db, [1, 2, 3, 2_500, 5_000])
    report = seed_demo_city(db, synthetic=SPEC)
    assert "synthetic requests: 5,000 (0 new)" in report
    assert not any(line.startswith("synthetic requests routed") for line in report)
    assert db.scalar(select(func.count()).where(SYN)) == 5_000
    assert fingerprint(db, [1, 2, 3, 2_500, 5_000]) == before


def test_a_run_adds_only_the_missing_ones_as_drawn(db, generator):
    before = fingerprint(db, [10, 20, 30])
    db.execute(text("DELETE FROM service_request WHERE service_request_id IN ('SYN-10', 'SYN-20')"))
    report = load(db, SyntheticSpec(5_100, seed=7, until=UNTIL))
    # The two gaps are filled back as they were, and SYN-5001 ... SYN-5100 are added.
    assert "synthetic requests: 5,100 (102 new)" in report
    assert fingerprint(db, [10, 20, 30]) == before
    assert db.scalar(select(func.count()).where(SYN)) == 5_100
    drawn = generator.draw(np.arange(5_001, 5_101))
    stored = db.scalars(
        select(func.extract("epoch", ServiceRequest.requested_datetime)).where(
            ServiceRequest.service_request_id == "SYN-5050"
        )
    ).one()
    assert float(stored) == float(drawn.requested[drawn.number == 5_050][0])


def test_a_smaller_n_removes_nothing(db):
    assert load(db, SyntheticSpec(1_000, seed=99, until=UNTIL)) == [
        "synthetic requests: 5,000 (0 new)"
    ]
    assert db.scalar(select(func.count()).where(SYN)) == 5_000


def test_without_until_the_window_ends_now(db):
    """What `open311 seed --requests N` does: no `until`, so the years end at this moment."""
    before = datetime.now(UTC)
    assert "synthetic requests: 5,050 (50 new)" in load(db, SyntheticSpec(5_050, years=1, seed=7))
    new = ServiceRequest.service_request_id.in_([f"SYN-{n}" for n in range(5_001, 5_051)])
    oldest, newest = db.execute(
        select(
            func.min(ServiceRequest.requested_datetime), func.max(ServiceRequest.requested_datetime)
        ).where(new)
    ).one()
    assert before - timedelta(days=366) <= oldest <= newest <= datetime.now(UTC)


def definitions(db: Session) -> set[tuple[str, str]]:
    """Every index and constraint of the tables a large load rebuilds, as PostgreSQL has them."""
    tables = "('service_request', 'request_district', 'activity')"
    indexes = db.execute(
        text(f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN {tables}")
    ).all()
    constraints = db.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            f"WHERE conrelid::regclass::text IN {tables}"
        )
    ).all()
    return {tuple(row) for row in [*indexes, *constraints]}


def test_a_large_load_rebuilds_exactly_the_indexes_there_were_and_logs_activity(db, connection):
    before = definitions(db)
    spec = SyntheticSpec(5_200, seed=7, until=UNTIL, rebuild_indexes=True, with_activity=True)
    report = load(db, spec)
    assert "synthetic requests: 5,200 (200 new)" in report
    assert any(line.startswith("synthetic load: indexes rebuilt after the load") for line in report)
    assert definitions(db) == before
    assert schema_drift(connection) == []

    new = db.scalars(
        select(ServiceRequest).where(
            ServiceRequest.service_request_id.in_([f"SYN-{k}" for k in range(5_001, 5_201)])
        )
    ).all()
    assert len(new) == 200
    placed = db.scalar(
        select(func.count(func.distinct(RequestDistrict.service_request_pk))).where(
            RequestDistrict.service_request_pk.in_([r.id for r in new])
        )
    )
    assert placed == 200
    # The activity option logs what this run creates: submitted, and closed when closed, in
    # public; each work order's creation and state changes internally, as workflow.py does.
    entries = db.scalars(select(Activity)).all()
    closed = [r for r in new if r.status == Status.closed]
    orders = db.scalars(
        select(WorkOrder).where(WorkOrder.service_request_pk.in_([r.id for r in new]))
    ).all()
    done = [w for w in orders if w.state == WorkOrderState.done]
    started = [w for w in orders if w.state == WorkOrderState.in_progress]
    changes = 2 * len(done) + len(started)
    total = len(new) + len(closed) + len(orders) + changes
    assert f"synthetic activity entries: {total:,}" in report
    assert {entry.service_request_pk for entry in entries} == {r.id for r in new}
    assert Counter(entry.kind for entry in entries) == {
        "submitted": len(new),
        "request_closed": len(closed),
        "work_order_created": len(orders),
        "work_order_state": changes,
    }
    assert all(entry.actor == "system" for entry in entries)
    public = [entry for entry in entries if entry.public]
    assert {entry.kind for entry in public} == {"submitted", "request_closed"}
    at = {(entry.service_request_pk, entry.kind): entry.at for entry in public}
    for request in new:
        assert at[request.id, "submitted"] == request.requested_datetime
        if request.status == Status.closed:
            assert at[request.id, "request_closed"] == request.updated_datetime
    logged = {
        (entry.work_order_id, entry.at, entry.summary)
        for entry in entries
        if entry.kind == "work_order_state"
    }
    for order in done:
        assert (
            order.id,
            order.closed_at,
            f"Work order {order.id} ({order.title}): in_progress -> done",
        ) in logged
    created = {e.work_order_id: e for e in entries if e.kind == "work_order_created"}
    for order in orders:
        assert created[order.id].at == order.created_at
        assert created[order.id].details["crew_id"] == order.crew_id
        assert created[order.id].details["due_at"] == order.due_at.isoformat()


def test_the_command_line(cli):
    again = cli("seed", "--requests", "5000", "--seed", "7", "--no-nyc")
    assert again.exit_code == 0, again.output
    assert "synthetic requests: 5,000 (0 new)" in again.output
    refused = cli("seed", "--requests", "-1")
    assert refused.exit_code == 2
    assert "--requests" in refused.output
