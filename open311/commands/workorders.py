"""`open311 escalate` (for cron) and `open311 workorder`: look at and move work orders."""

from __future__ import annotations

import getpass
from datetime import datetime

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.orm import Session

from open311 import clock
from open311.commands import app_session
from open311.db import work_queries
from open311.db.models import WorkOrder
from open311.domain import escalation, workflow
from open311.errors import Open311Error
from open311.values import Status, WorkOrderState
from open311.wire.datetimes import format_w3c


def _staff() -> str:
    """Who is acting, for the activity log: the operating-system user at the terminal."""
    try:
        return f"staff:{getpass.getuser()}"
    except (KeyError, OSError):
        return "staff:cli"


def _when(moment: datetime | None) -> str:
    return format_w3c(moment) if moment is not None else "-"


def _get(session: Session, work_order_id: int) -> WorkOrder:
    found = session.get(WorkOrder, work_order_id)
    if found is None:
        raise click.ClickException(f"work order {work_order_id} not found")
    return found


def _line(order: WorkOrder) -> str:
    crew = order.crew.name if order.crew is not None else "no crew"
    return (
        f"work order {order.id}: {order.title} [{order.state.value}] "
        f"{order.agency.name} / {crew}, due {_when(order.due_at)}"
    )


@click.command("escalate")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Work orders per transaction.",
)
@with_appcontext
def escalate(limit: int) -> None:
    """Escalate overdue open work orders to their agency's supervisor crew, each exactly once.

    Meant for cron every minute. Safe to run concurrently (several machines, overlapping cron
    runs): work orders are claimed with SELECT ... FOR UPDATE SKIP LOCKED, so no two runs take
    the same one, and an escalated one is never escalated again. Commits every LIMIT work orders
    and prints how many were escalated.
    """
    total = 0
    while True:
        with app_session() as session:
            ids = escalation.escalate_overdue(session, now=clock.now(), limit=limit)
            session.commit()
        total += len(ids)
        if len(ids) < limit:
            break
    click.echo(f"escalated {total} work order{'' if total == 1 else 's'}")


@click.group("workorder", cls=AppGroup)
def workorder_group() -> None:
    """Work orders of requests: show one, add one outside the workflow, move it through its
    states."""


@workorder_group.command("show")
@click.argument("work_order_id", type=int)
def show(work_order_id: int) -> None:
    """Show a work order (step, crew, times) and its activity."""
    with app_session() as session:
        order = _get(session, work_order_id)
        request = order.service_request
        click.echo(_line(order))
        click.echo(f"  request: {request.service_request_id} ({request.status.value})")
        if order.step is not None:
            click.echo(f"  step: {order.step.code} of workflow {order.step.workflow.code}")
        if order.parent_id is not None:
            click.echo(f"  follows work order {order.parent_id}")
        click.echo(f"  priority: {order.priority}  outcome: {order.outcome or '-'}")
        click.echo(
            f"  not before: {_when(order.not_before)}  escalated: {_when(order.escalated_at)}"
        )
        click.echo(
            f"  created: {_when(order.created_at)}  updated: {_when(order.updated_at)}  "
            f"closed: {_when(order.closed_at)}"
        )
        for entry in work_queries.find_work_order_activity(session, order):
            public = "public" if entry.public else "internal"
            click.echo(
                f"  {_when(entry.at)} {entry.actor} {entry.kind} ({public}): {entry.summary}"
            )


@workorder_group.command("add")
@click.argument("service_request_id")
@click.option("--crew", "crew_ref", required=True, help="The crew, as AGENCY/CREW codes.")
@click.option("--title", required=True, help="What is to be done.")
@click.option("--due", help="Due time, a W3C datetime with a zone (default: one business day).")
@click.option("--note", help="Why, for staff only (the activity log).")
@click.option("--priority", type=click.IntRange(0, 9), default=0, show_default=True)
def add(
    service_request_id: str,
    crew_ref: str,
    title: str,
    due: str | None,
    note: str | None,
    priority: int,
) -> None:
    """Add a work order outside the request's workflow, for any crew of its city; the request
    stays open until it is done (as POST /api/v1/requests/ID/work-orders)."""
    from open311.db import request_queries, staff_queries
    from open311.db.models import Jurisdiction
    from open311.wire.datetimes import parse_w3c

    with app_session() as session:
        request = request_queries.get_request_by_public_id(session, service_request_id)
        if request is None:
            raise click.ClickException(f"request {service_request_id} not found")
        city = session.get(Jurisdiction, request.jurisdiction_id)
        agency_code, _, crew_code = crew_ref.partition("/")
        crew = staff_queries.get_crew(session, city, agency_code, crew_code)
        if crew is None:
            raise click.ClickException(f"no crew {crew_ref} (give AGENCY/CREW codes)")
        try:
            due_at = parse_w3c(due) if due is not None else None
        except ValueError as exc:
            raise click.ClickException(f"--due: {exc}") from None
        try:
            order = workflow.add_work_order(
                session,
                request,
                crew,
                title=title,
                actor=_staff(),
                now=clock.now(),
                due_at=due_at,
                note=note,
                priority=priority,
            )
        except Open311Error as exc:
            raise click.ClickException("; ".join(exc.problems)) from None
        session.commit()
        click.echo(_line(order))


@workorder_group.command("move")
@click.argument("work_order_id", type=int)
@click.argument("state", type=click.Choice([state.value for state in WorkOrderState]))
@click.option("--note", help="Why, for staff only (the activity log).")
@click.option("--public-note", help="What citizens are told (status_notes and a public update).")
@click.option("--outcome", help="What the crew found (only with done), e.g. still_there.")
def move(
    work_order_id: int, state: str, note: str | None, public_note: str | None, outcome: str | None
) -> None:
    """Move a work order to STATE; prints the follow-up work orders this opened."""
    with app_session() as session:
        order = _get(session, work_order_id)
        try:
            follow_ups = workflow.transition(
                session,
                order,
                state,
                actor=_staff(),
                note=note,
                public_note=public_note,
                outcome=outcome,
                now=clock.now(),
            )
        except Open311Error as exc:
            raise click.ClickException("; ".join(exc.problems)) from None
        session.commit()
        click.echo(_line(order))
        for follow_up in follow_ups:
            click.echo(f"  follow-up {_line(follow_up)}")
        request = order.service_request
        if request.status is Status.closed:
            click.echo(f"  request {request.service_request_id} closed: {request.status_notes}")
