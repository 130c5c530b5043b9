"""The scheduled jobs' bookkeeping: one job at a time across all nodes, and the runs recorded.

Exclusion is a session-level PostgreSQL advisory lock (pg_try_advisory_lock) taken on a
connection of its own, held while the job runs and freed by PostgreSQL if the worker dies with
its connection. Whether a job is due is read from `job_run` under that lock, so a second worker
that gets the lock just after the first finished sees the run just recorded and skips it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from open311.db.models import JobRun
from open311.values import ScheduledJob

# The first key of every job's advisory lock (the two-int4 form), so that they cannot clash
# with another program's locks on a shared database.
LOCK_CLASS = 311_0001


def lock_key(job: ScheduledJob) -> int:
    """A stable int4 for `job` (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.sha256(job.value.encode()).digest()[:4], "big", signed=True)


def try_lock(connection: Connection, job: ScheduledJob) -> bool:
    """Take `job`'s lock for `connection`'s database session, without waiting; False when another
    session holds it. `connection` should be in autocommit: the lock outlives transactions."""
    return bool(connection.scalar(select(func.pg_try_advisory_lock(LOCK_CLASS, lock_key(job)))))


def unlock(connection: Connection, job: ScheduledJob) -> None:
    connection.scalar(select(func.pg_advisory_unlock(LOCK_CLASS, lock_key(job))))


def last_started(session: Session, job: ScheduledJob) -> datetime | None:
    """When `job` last started, ok or not (a failed run waits its interval too)."""
    return session.scalar(select(func.max(JobRun.started_at)).where(JobRun.job == job.value))


def start_run(session: Session, job: ScheduledJob, *, now: datetime) -> int:
    """Record that `job` starts now; the run's id (its result is recorded by finish_run)."""
    run = JobRun(job=job.value, started_at=now)
    session.add(run)
    session.flush()
    return run.id


def finish_run(session: Session, run_id: int, *, now: datetime, error: str | None) -> None:
    """Record a run's end: ok without `error`, else failed with the error's class name."""
    session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(finished_at=now, ok=error is None, error=error[:100] if error else None)
    )


def run_counts(session: Session) -> list[tuple[str, bool, int, datetime | None]]:
    """Finished runs of each job, ok and failed apart, across every node: (job, ok, count,
    last_finished_at), ordered by job then ok (failed first). For /metrics."""
    rows: Sequence = session.execute(
        select(JobRun.job, JobRun.ok, func.count(), func.max(JobRun.finished_at))
        .where(JobRun.ok.is_not(None))
        .group_by(JobRun.job, JobRun.ok)
        .order_by(JobRun.job, JobRun.ok)
    ).all()
    return [(job, bool(ok), int(count), last) for job, ok, count, last in rows]
