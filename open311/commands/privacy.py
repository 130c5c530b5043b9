"""`open311 privacy`: retention of personal data, erasure and export on a person's request."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from datetime import datetime

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from open311 import clock
from open311.commands import app_session, app_settings
from open311.config import Settings
from open311.domain import audit, privacy
from open311.media.stores import store_for


def run_retention(
    session: Session, settings: Settings, *, now: datetime, batch: int = privacy.BATCH
) -> privacy.Outcome:
    """Empty the personal data of requests closed more than OPEN311_RETENTION_DAYS ago, batch
    by batch (a commit each, then that batch's photo files deleted), and write one audit entry
    with the counts. Idempotent; what a scheduled job calls once a day."""
    store = store_for(settings)
    total = privacy.Outcome()
    cursor = privacy.RetentionCursor()
    while not cursor.done:
        outcome = privacy.retain_batch(
            session, cursor, retention_days=settings.retention_days, now=now, limit=batch
        )
        session.commit()
        privacy.remove_files(store, outcome.files)
        total.add(outcome)
    privacy.record_retention(session, total, retention_days=settings.retention_days, now=now)
    session.commit()
    return total


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _summary(outcome: privacy.Outcome) -> str:
    return ", ".join(f"{name} {count}" for name, count in outcome.counts().items())


def _person_options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option("--request", "service_request_id", help="Who filed this request.")(
        command
    )
    command = click.option(
        "--phone", help="The person's phone number (matched on its last 10 digits)."
    )(command)
    return click.option("--email", help="The person's e-mail address (any case).")(command)


@click.group("privacy", cls=AppGroup)
def privacy_group() -> None:
    """Personal data: retention, erasure and export (see README, Security and privacy)."""


@privacy_group.command("retain")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=privacy.BATCH,
    show_default=True,
    help="Rows per transaction.",
)
def retain(batch: int) -> None:
    """Empty the personal data of requests closed more than OPEN311_RETENTION_DAYS ago
    (requesters, update authors, unpublished update photos). Safe to repeat; run daily."""
    settings = app_settings()
    with app_session() as session:
        outcome = run_retention(session, settings, now=clock.now(), batch=batch)
    click.echo(f"retention ({settings.retention_days} days): {_summary(outcome)}")


@privacy_group.command("erase")
@_person_options
def erase(email: str | None, service_request_id: str | None, phone: str | None) -> None:
    """Erase a person: empty every requester and update-author row with their address (or of
    the request), delete their unpublished photos, cancel e-mails queued to them. One audit
    entry with the counts, never the address."""
    now = clock.now()
    with app_session() as session:
        held = privacy.find_person(
            session, email=email, service_request_id=service_request_id, phone=phone
        )
        outcome = privacy.erase(session, held)
        how = "--email" if email else "--phone" if phone else "--request"
        audit.record(
            session,
            audit.Call(
                _operator(), "RUN", "privacy erase", f"privacy erase {how}", (), outcome.counts()
            ),
            now=now,
        )
        session.commit()
    privacy.remove_files(store_for(app_settings()), outcome.files)
    click.echo(f"erased: {_summary(outcome)}")


@privacy_group.command("export")
@_person_options
def export(email: str | None, service_request_id: str | None, phone: str | None) -> None:
    """Print what is held about a person, as JSON (the read is audited)."""
    now = clock.now()
    with app_session() as session:
        held = privacy.find_person(
            session, email=email, service_request_id=service_request_id, phone=phone
        )
        document = privacy.export(session, held)
        how = "--email" if email else "--phone" if phone else "--request"
        audit.record(
            session,
            audit.Call(_operator(), "RUN", "privacy export", f"privacy export {how}", ()),
            now=now,
        )
        session.commit()
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))
