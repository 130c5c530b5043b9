"""The jobs `open311 worker` schedules (escalation, media sweep, retention): one worker at a time
across nodes, a daily job once within its interval, every run recorded in job_run, a failing job
recorded as failed without stopping the next, and the real worker escalating by itself."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from open311.commands.schedule import Job, Ran, Scheduler, escalate, jobs, retain
from open311.config import Settings
from open311.db.job_queries import run_counts
from open311.db.models import JobRun, WorkOrder
from open311.db.session import make_engine, make_session_factory
from open311.values import CrewKind, ScheduledJob
from tests.factories import (
    make_agency,
    make_crew,
    make_jurisdiction,
    make_request,
    make_service,
    make_work_order,
)
from tests.helpers import scratch_database
from tests.notify.helpers import until, worker_process

DAY = timedelta(days=1)


@pytest.fixture
def url(database_url: str) -> Iterator[str]:
    # A database of its own: job_run and the locks are global, and the jobs act on every row.
    with scratch_database(database_url) as scratch:
        yield scratch


@pytest.fixture
def sessions(url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def scheduler(url: str, job_list: list[Job], now=None, **settings) -> Scheduler:
    """A worker's scheduler with an engine of its own (as another node would have)."""
    engine = make_engine(url)
    config = Settings(**({"retention_days": 365} | settings))
    made = Scheduler(engine, make_session_factory(engine, config), config, job_list)
    if now is not None:
        made.now = now
    return made


def overdue_work_order(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        jurisdiction = make_jurisdiction(session, jurisdiction_id=f"{uuid.uuid4().hex[:8]}.org")
        agency = make_agency(session, jurisdiction, "LADOT")
        crew = make_crew(session, agency, "PE-EAST")
        make_crew(session, agency, "PE-SUPER", CrewKind.supervisor)
        request = make_request(session, make_service(session, jurisdiction, "POTHOLE"))
        order = make_work_order(
            session, request, agency, crew=crew, due_at=datetime.now(UTC) - timedelta(hours=2)
        )
        session.commit()
        return order.id


def escalated_at(sessions: sessionmaker[Session], work_order_id: int) -> datetime | None:
    with sessions() as session:
        return session.get(WorkOrder, work_order_id).escalated_at


def runs(sessions: sessionmaker[Session]) -> list[JobRun]:
    with sessions() as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def test_two_workers_run_a_due_job_exactly_once(url, sessions):
    order = overdue_work_order(sessions)
    entered = threading.Event()

    def slow_escalation(session, settings, now):
        entered.set()
        time.sleep(1.0)  # the other worker looks while this one holds the lock
        return escalate(session, settings, now)

    job = Job(ScheduledJob.escalation, timedelta(minutes=1), slow_escalation)
    first, second = scheduler(url, [job]), scheduler(url, [job])
    results: dict[str, list[Ran]] = {}
    running = threading.Thread(target=lambda: results.setdefault("first", first.run_due()))
    running.start()
    assert entered.wait(10)
    results["second"] = second.run_due()
    running.join()
    # Then one after the other: the run just recorded is within the interval.
    results["first again"] = first.run_due()
    results["second again"] = second.run_due()

    assert [ran.ran for ran in results["first"]] == [True]
    assert [ran.ran for ran in results["second"]] == [False]
    assert not results["first again"][0].ran and not results["second again"][0].ran
    assert [(run.job, run.ok) for run in runs(sessions)] == [("escalation", True)]
    assert escalated_at(sessions, order) is not None
    for made in (first, second):
        made.engine.dispose()


def test_a_daily_job_does_not_run_again_within_its_interval(url, sessions):
    start = datetime.now(UTC)
    clock = {"now": start}
    daily = Job(ScheduledJob.retention, DAY, retain)
    node_a = scheduler(url, [daily], now=lambda: clock["now"])
    node_b = scheduler(url, [daily], now=lambda: clock["now"])

    assert node_a.run_due()[0].ran
    clock["now"] = start + timedelta(hours=23)
    assert not node_b.run_due()[0].ran  # another node, the next morning: not yet
    assert not node_a.run_due()[0].ran
    assert node_b.run_due()[0].next_at == start + DAY
    clock["now"] = start + DAY + timedelta(seconds=1)
    assert node_b.run_due()[0].ran
    assert [(run.job, run.ok, run.started_at) for run in runs(sessions)] == [
        ("retention", True, start),
        ("retention", True, start + DAY + timedelta(seconds=1)),
    ]
    for made in (node_a, node_b):
        made.engine.dispose()


def test_a_failing_job_is_recorded_as_failed_and_the_next_job_still_runs(
    url, sessions, caplog, tmp_path
):
    order = overdue_work_order(sessions)

    def broken(session, settings, now):
        raise RuntimeError("the store is unreachable")

    failing = Job(ScheduledJob.media_sweep, DAY, broken)
    escalation = Job(ScheduledJob.escalation, timedelta(minutes=1), escalate)
    made = scheduler(url, [failing, escalation], media_dir=str(tmp_path))
    with caplog.at_level(logging.INFO, logger="open311.commands.schedule"):
        results = made.run_due()
    made.engine.dispose()

    assert [(ran.job, ran.ran, ran.ok, ran.error) for ran in results] == [
        (ScheduledJob.media_sweep, True, False, "RuntimeError"),
        (ScheduledJob.escalation, True, True, None),
    ]
    assert escalated_at(sessions, order) is not None
    recorded = runs(sessions)
    assert [(run.job, run.ok, run.error) for run in recorded] == [
        ("media_sweep", False, "RuntimeError"),
        ("escalation", True, None),
    ]
    assert all(run.finished_at is not None for run in recorded)
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("job media_sweep: failed in ") for line in lines), lines
    assert any(
        line.startswith("job escalation: ok in ") and "escalated 1" in line for line in lines
    ), lines
    # What /metrics counts: runs per job and outcome, with the last end.
    with sessions() as session:
        counts = run_counts(session)
    assert [(job, ok, count) for job, ok, count, _ in counts] == [
        ("escalation", True, 1),
        ("media_sweep", False, 1),
    ]
    assert all(last is not None for _, _, _, last in counts)


def test_jobs_follow_their_interval_settings():
    settings = Settings(
        escalation_interval_s=30,
        sweep_interval_s=0,
        retention_interval_s=3600,
        stats_interval_s=300,
    )
    assert [(job.name, job.interval) for job in jobs(settings)] == [
        (ScheduledJob.escalation, timedelta(seconds=30)),
        (ScheduledJob.retention, timedelta(hours=1)),
        (ScheduledJob.statistics, timedelta(minutes=5)),
    ]


def test_the_worker_escalates_an_overdue_work_order(url, sessions, tmp_path, monkeypatch):
    order = overdue_work_order(sessions)
    # The sweep runs too, on a media directory of its own (never the checkout's var/media).
    monkeypatch.setenv("OPEN311_MEDIA_DIR", str(tmp_path / "media"))
    # The defaults, which worker_process turns off unless the environment names them.
    monkeypatch.setenv("OPEN311_ESCALATION_INTERVAL_S", "60")
    monkeypatch.setenv("OPEN311_SWEEP_INTERVAL_S", "86400")
    monkeypatch.setenv("OPEN311_RETENTION_INTERVAL_S", "86400")
    (tmp_path / "media").mkdir()
    log = tmp_path / "worker.log"
    worker = worker_process(url, log, "--poll", "1")
    try:
        until(lambda: escalated_at(sessions, order) is not None, "the worker escalates")
        until(
            lambda: sum(run.ok is not None for run in runs(sessions)) == 3,
            "each job has run once",
        )
        assert worker.poll() is None, log.read_text()[-2000:]
    finally:
        worker.terminate()
        worker.wait(20)
    assert worker.returncode == 0, log.read_text()[-2000:]
    assert sorted((run.job, run.ok) for run in runs(sessions)) == [
        ("escalation", True),
        ("media_sweep", True),
        ("retention", True),
    ]
    text = log.read_text()
    assert "job escalation: ok in " in text and "(escalated 1)" in text, text[-2000:]


def test_a_database_out_of_reach_is_waited_for_not_fatal(caplog):
    job = Job(ScheduledJob.escalation, timedelta(minutes=1), escalate)
    made = scheduler("postgresql+psycopg2://open311@127.0.0.1:1/open311", [job])
    with caplog.at_level(logging.WARNING, logger="open311.commands.schedule"):
        before = datetime.now(UTC)
        [ran] = made.run_due()
    made.engine.dispose()
    assert not ran.ran and ran.next_at >= before + made.retry
    assert "job escalation: database unavailable (OperationalError" in caplog.text
