"""The scheduled jobs `open311 worker` runs, so that no crontab is needed: escalation every
minute, the media sweep and retention daily, the request statistics every 5 minutes
(OPEN311_*_INTERVAL_S; 0: off).

Each job runs in one worker at a time across all nodes: a worker takes the job's advisory lock
in a transaction of its own, kept open while the job runs (db/job_queries.py; so it works
through pgbouncer in transaction mode too), reads when the job last started from `job_run`,
and runs it only when its interval has passed since; so two workers never run it at once, nor
one right after the other. Each run is recorded in `job_run` (ok, or failed with the error's
class name) and logged in one line; a failing job does not stop the others. The jobs call what
their commands call (`open311 escalate`, `media sweep`, `privacy retain`, `stats refresh`),
which stay for cron.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from open311 import clock
from open311.commands.privacy import run_retention
from open311.commands.stats import run_refresh
from open311.config import Settings
from open311.db import job_queries, media_queries
from open311.db.session import FAILURES, describe_failure
from open311.domain import escalation
from open311.media import sweep
from open311.media.stores import store_for
from open311.values import ScheduledJob

log = logging.getLogger(__name__)

# Work orders per transaction, as `open311 escalate` takes them.
ESCALATION_BATCH = 500
# Files written this recently may belong to a POST in flight (`open311 media sweep`'s default).
SWEEP_GRACE = timedelta(hours=24)

# A job's body: its work on `session` (committing as it goes), its counts for the log.
Body = Callable[[Session, Settings, datetime], dict[str, int]]


def escalate(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """`open311 escalate`: every overdue work order, a transaction per batch."""
    total = 0
    while True:
        ids = escalation.escalate_overdue(session, now=now, limit=ESCALATION_BATCH)
        session.commit()
        total += len(ids)
        if len(ids) < ESCALATION_BATCH:
            return {"escalated": total}


def sweep_media(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """`open311 media sweep`: delete stored files no photo row names, older than a day."""
    store = store_for(settings)
    found = sweep.orphans(
        store,
        lambda names: media_queries.find_known_files(session, names),
        now=now,
        grace=SWEEP_GRACE,
    )
    session.rollback()  # read only; no transaction open while files are deleted
    return {"deleted": sweep.sweep(store, found)}


def retain(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """`open311 privacy retain`."""
    return run_retention(session, settings, now=now).counts()


def refresh_statistics(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """`open311 stats refresh`: the days changed since the last refresh, a city at a time."""
    return run_refresh(session, now=now)


@dataclass(frozen=True)
class Job:
    name: ScheduledJob
    interval: timedelta
    body: Body


def jobs(settings: Settings) -> list[Job]:
    """The jobs whose interval is not 0, in the order a round runs them."""
    configured = [
        (ScheduledJob.escalation, settings.escalation_interval_s, escalate),
        (ScheduledJob.media_sweep, settings.sweep_interval_s, sweep_media),
        (ScheduledJob.retention, settings.retention_interval_s, retain),
        (ScheduledJob.statistics, settings.stats_interval_s, refresh_statistics),
    ]
    return [
        Job(name, timedelta(seconds=seconds), body)
        for name, seconds, body in configured
        if seconds > 0
    ]


@dataclass(frozen=True)
class Ran:
    """What one look at a job came to: `ran` (then `ok` and `error`), and when to look again."""

    job: ScheduledJob
    ran: bool
    next_at: datetime
    ok: bool = False
    error: str | None = None


@dataclass
class Scheduler:
    """Runs the due jobs of one worker. `engine` gives the lock connections, `sessions` the
    jobs' sessions (the same engine); `now` can be replaced in tests."""

    engine: Engine
    sessions: sessionmaker[Session]
    settings: Settings
    jobs: list[Job]
    now: Callable[[], datetime] = clock.now
    # How soon to look again at a job another worker holds, or after a database error.
    retry: timedelta = field(default_factory=lambda: timedelta(seconds=5))

    def run_due(self) -> list[Ran]:
        """Look at each job once, running those that are due; a failure of one (its body, or
        the database) is recorded or logged, and the next job still runs."""
        results = []
        for job in self.jobs:
            try:
                results.append(self.run_if_due(job))
            except FAILURES as error:  # the database went away: look again later
                log.warning("job %s: database unavailable (%s)", job.name, describe_failure(error))
                results.append(Ran(job.name, False, self.now() + self.retry))
            except Exception as error:  # a bug in the bookkeeping: the worker delivers on
                log.error("job %s: not run (%s)", job.name, type(error).__name__)
                results.append(Ran(job.name, False, self.now() + self.retry))
        return results

    def run_if_due(self, job: Job) -> Ran:
        """Run `job` if no other worker is running it and its interval has passed since it
        last started (in any worker)."""
        # The lock's transaction stays open while the job runs, and its end (the commit on
        # leaving the block) frees the lock; it holds no snapshot (db/job_queries.py).
        with self.engine.connect() as lock, lock.begin():
            if not job_queries.try_lock(lock, job.name):
                return Ran(job.name, False, self.now() + self.retry)
            return self._run_locked(job)

    def _run_locked(self, job: Job) -> Ran:
        with self.sessions() as session:
            now = self.now()
            last = job_queries.last_started(session, job.name)
            if last is not None and now < last + job.interval:
                session.rollback()
                return Ran(job.name, False, last + job.interval)
            run_id = job_queries.start_run(session, job.name, now=now)
            session.commit()
        started = time.monotonic()
        error: str | None = None
        detail = ""
        counts: dict[str, int] = {}
        try:
            with self.sessions() as session:
                counts = job.body(session, self.settings, now)
                session.commit()
        except Exception as failure:
            # Its class recorded, and logged with what names no one: a database error's text
            # may quote a row (an e-mail address), another error's message a value.
            error = type(failure).__name__
            detail = describe_failure(failure)
        duration = time.monotonic() - started
        with self.sessions() as session:
            job_queries.finish_run(session, run_id, now=self.now(), error=error)
            session.commit()
        if error is None:
            summary = ", ".join(f"{name} {count}" for name, count in counts.items())
            log.info("job %s: ok in %.2f s (%s)", job.name, duration, summary)
        else:
            log.error("job %s: failed in %.2f s (%s)", job.name, duration, detail)
        return Ran(job.name, True, now + job.interval, ok=error is None, error=error)

    def loop(self, stop: threading.Event) -> None:
        """Run due jobs until `stop` is set, sleeping until the next one is due."""
        if not self.jobs:
            return
        while not stop.is_set():
            results = self.run_due()
            wait = min(ran.next_at for ran in results) - self.now()
            stop.wait(max(wait.total_seconds(), 0.05))
