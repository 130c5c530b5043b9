"""`open311 request`: see where a request was routed and how it is being worked; locate it."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from open311 import clock
from open311.commands import app_session
from open311.db import request_queries
from open311.domain import jurisdictions, routing
from open311.errors import Open311Error
from open311.wire.datetimes import format_w3c


def _find(session, service_request_id: str, jurisdiction_id: str | None):
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    found = request_queries.get_request(session, jurisdiction, service_request_id)
    if found is None:
        raise click.ClickException(f"service_request_id {service_request_id} not found")
    return jurisdiction, found


@click.group("request", cls=AppGroup)
def request_group() -> None:
    """Service requests as the back office sees them."""


@request_group.command("show")
@click.argument("service_request_id")
@click.option("--jurisdiction", "jurisdiction_id", help="jurisdiction_id (default: the only one)")
def show(service_request_id: str, jurisdiction_id: str | None) -> None:
    """Show a request's routing (districts, agency), its work orders and its activity log."""
    with app_session() as session:
        _jurisdiction, found = _find(session, service_request_id, jurisdiction_id)
        click.echo(f"request {found.service_request_id}: {found.service.service_name}")
        click.echo(f"  status: {found.status.value}  ({found.status_notes or 'no notes'})")
        click.echo(f"  agency: {found.agency_responsible or '-'}")
        if found.expected_datetime:
            click.echo(f"  expected: {format_w3c(found.expected_datetime)}")
        if found.needs_location:
            click.echo("  needs a location (routed to triage)")
        for placed in found.districts:
            layer = placed.district.layer
            click.echo(f"  district: {layer.title or layer.name}: {placed.district.name}")
        for order in found.work_orders:
            crew = order.crew.name if order.crew else "unassigned"
            due = format_w3c(order.due_at) if order.due_at else "-"
            click.echo(
                f"  work order {order.id}: {order.title} [{order.state.value}] "
                f"{order.agency.name} / {crew}, due {due}"
            )
        for entry in request_queries.find_activity(session, found):
            public = "public" if entry.public else "internal"
            click.echo(
                f"  {format_w3c(entry.at)} {entry.actor} {entry.kind} ({public}): {entry.summary}"
            )


@request_group.command("locate")
@click.argument("service_request_id")
@click.option("--lat", type=float, required=True)
@click.option("--long", "long_", type=float, required=True)
@click.option("--jurisdiction", "jurisdiction_id", help="jurisdiction_id (default: the only one)")
def locate(service_request_id: str, lat: float, long_: float, jurisdiction_id: str | None) -> None:
    """Give an address-only request its point; it is routed to the district's crew then."""
    with app_session() as session:
        jurisdiction, found = _find(session, service_request_id, jurisdiction_id)
        try:
            districts = routing.locate(
                session, found, jurisdiction, lat, long_, actor="cli", now=clock.now()
            )
        except Open311Error as exc:
            raise click.ClickException("; ".join(exc.problems)) from None
        session.commit()
    click.echo(f"located; districts: {', '.join(districts.values()) or 'none'}")
