"""`open311 worker`: delivers the outbox (webhooks, e-mail) and runs the scheduled jobs."""

from __future__ import annotations

import logging
import threading

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url

from open311.commands import app_settings
from open311.commands.schedule import Scheduler, jobs
from open311.db.session import make_engine, make_session_factory
from open311.notify.worker import APPLICATION_NAME, Waker, Worker, run
from open311.serving import logs


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Deliveries per thread and round before it looks for signals and new work.",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    default=None,
    help="Seconds an idle worker waits for NOTIFY before looking for due retries "
    "[default: OPEN311_WORKER_POLL_S, 5].",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Deliveries sent at once [default: OPEN311_WORKER_THREADS, 4].",
)
@with_appcontext
def worker(once: bool, batch: int, poll: float | None, threads: int | None) -> None:
    """Deliver pending webhooks and e-mails, and run the scheduled jobs, until stopped
    (several workers may run at once).

    Each delivery is leased, sent under a total deadline with no transaction open, and its
    result recorded: a worker killed mid-delivery leaves it to be sent again once its lease
    runs out, so receivers should drop a repeated X-Open311-Delivery. SIGTERM or Ctrl-C
    finishes the deliveries in flight, then exits.

    Scheduled jobs (not with --once): escalation every OPEN311_ESCALATION_INTERVAL_S, the media
    sweep and retention every OPEN311_SWEEP_INTERVAL_S / OPEN311_RETENTION_INTERVAL_S, each in
    one worker at a time across all nodes, each run recorded in job_run.
    """
    if not logging.getLogger().handlers:  # (a test's capture stays in place)
        logs.configure()  # JSON lines, as gunicorn's workers write them
    settings = app_settings()
    threads = threads if threads is not None else settings.worker_threads
    database_url = current_app.config["DATABASE_URL"]
    # An engine of its own: a connection per sending thread and the worker's name on each, so
    # pg_stat_activity shows what the worker holds (nothing, while it waits for a receiver).
    named = make_url(database_url).update_query_dict({"application_name": APPLICATION_NAME})
    # Two more for the scheduled jobs: a job's lock connection and its session's.
    engine = make_engine(named.render_as_string(hide_password=False), pool_size=threads + 2)
    stop = threading.Event()
    scheduling: threading.Thread | None = None
    try:
        sessions = make_session_factory(engine, settings)
        delivering = Worker(sessions, settings)
        waker = Waker(delivering)
        waker.install()
        poll_s = poll if poll is not None else settings.worker_poll_s
        scheduled = jobs(settings)
        if not once and scheduled:
            scheduler = Scheduler(engine, sessions, settings, scheduled)
            scheduling = threading.Thread(
                target=scheduler.loop, args=(stop,), name="open311-scheduler"
            )
            scheduling.start()
        total = run(
            delivering,
            # LISTEN elsewhere than through a transaction-mode pooler (config.py).
            settings.database_listen_url or database_url,
            batch=batch,
            poll_s=poll_s,
            once=once,
            waker=waker,
            threads=threads,
        )
    finally:
        stop.set()  # a job running now is finished first
        if scheduling is not None:
            scheduling.join()
        engine.dispose()
    click.echo(f"handled {total} deliver{'y' if total == 1 else 'ies'}")
