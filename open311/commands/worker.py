"""`open311 worker`: delivers the outbox (webhooks, e-mail)."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from open311.commands import app_settings
from open311.notify.worker import Waker, Worker, run


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Deliveries per round before looking for signals and new work.",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    default=None,
    help="Seconds an idle worker waits for NOTIFY before looking for due retries "
    "[default: OPEN311_WORKER_POLL_S, 5].",
)
@with_appcontext
def worker(once: bool, batch: int, poll: float | None) -> None:
    """Deliver pending webhooks and e-mails until stopped (several workers may run at once).

    Each delivery is sent while its row is locked and committed right after: a worker killed
    mid-delivery leaves it pending for the next one, so receivers should drop a repeated
    X-Open311-Delivery. SIGTERM or Ctrl-C finishes the current delivery, then exits.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = app_settings()
    sessions = current_app.extensions["open311.sessions"]
    delivering = Worker(sessions, settings)
    waker = Waker(delivering)
    waker.install()
    poll_s = poll if poll is not None else settings.worker_poll_s
    database_url = current_app.config["DATABASE_URL"]
    total = run(delivering, database_url, batch=batch, poll_s=poll_s, once=once, waker=waker)
    click.echo(f"handled {total} deliver{'y' if total == 1 else 'ies'}")
