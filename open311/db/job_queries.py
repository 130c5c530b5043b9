"""The scheduled jobs' bookkeeping: one job at a time across all nodes, and the runs recorded.

Exclusion is a transaction-level PostgreSQL advisory lock (pg_try_advisory_xact_lock) taken in
a transaction of its own, on a connection of its own, kept open while the job runs (the job's
work commits in other sessions) and ended afterwards, which frees the lock; PostgreSQL frees it
too if the worker dies with its connection. A transaction, not a session, holds it so that it
works through pgbouncer in transaction mode, which lends a server connection for a transaction
at a time (a session-level lock would stay behind on a server connection another client gets
next, and its unlock could run on another). The open transaction costs nothing else: in READ
COMMITTED it keeps no snapshot between statements (pg_stat_activity shows no backend_xmin for it),
so vacuum is not held back, and it writes nothing, so it has no transaction id either. Whether a
job is due is read from `job_run` under that lock, so a second worker that gets the lock just
after the first finished sees the run just recorded and skips it.
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
    """Take `job`'s lock for `connection`'s transaction, without waiting; False when another
    transaction holds it. The lock lasts until that transaction ends (commit or rollback):
    `connection` must not be in autocommit, and must stay in its transaction while the job
    runs."""
    return bool(
        connection.scalar(select(func.pg_try_advisory_xact_lock(LOCK_CLASS, lock_key(job))))
    )


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
