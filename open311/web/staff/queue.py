"""The supervisor's screens: the work queues by crew and district (/staff/queues), one work
order with its request's history and the forms that act on it (/staff/work-orders/<id>), and
the statistics dashboard (/staff/dashboard, in dashboard.py).

Every read and write goes through the functions the staff API's views call (api/staff/work.py
and intake.py): the queue is `queue.queue_filter` + `work_queries.find_queue`, so its order is
the API's (due soonest first, so overdue first; undated last); reassigning, adding a work
order, merging a duplicate and adding a note are `workflow.reassign`, `workflow.add_work_order`,
`duplicates.merge` and `workflow.add_note`. A refused form is shown again with the problem next
to its field and the transaction rolled back, so nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Response, flash, get_flashed_messages, redirect, request, url_for
from sqlalchemy.orm import Session

from open311 import clock
from open311.api import database
from open311.api.staff.work_schemas import NOTE_MAX_LENGTH
from open311.db import queue_choice_queries, request_queries, work_queries
from open311.db.models import Crew, Jurisdiction, WorkOrder
from open311.db.work_queries import QueueRow
from open311.domain import duplicates, queue, staff, workflow
from open311.errors import InvalidInput, NotFound, Open311Error
from open311.values import OPEN_WORK_ORDER_STATES, StaffRole
from open311.web.pages import page_blueprint, render, say, say_text
from open311.web.staff import dashboard
from open311.web.staff.access import actor, current_user, staff_page

blp = page_blueprint("console_queue", __name__, url_prefix="/staff")

MANAGERS = (StaffRole.supervisor, StaffRole.administrator)
PAGE_SIZE = 50
PRIORITIES = range(0, 10)


class FormProblem(Exception):
    """A form's field the view itself found wrong, before asking the domain anything."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- the queue -----------------------------------------------------------------------------


def _id_arg(name: str) -> int | None:
    """A numeric filter of the query string; empty is none, anything else not a number is 400."""
    value = request.args.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput(say("%(name)s: not a number", name=name))
    return int(value)


def _zone(user_cities: list[Jurisdiction]) -> ZoneInfo:
    """The zone a queue's times are shown in: the user's city's (UTC across several cities)."""
    zones = {city.time_zone for city in user_cities}
    return ZoneInfo(zones.pop()) if len(zones) == 1 else ZoneInfo("UTC")


def is_overdue(state: Any, due_at: datetime | None, now: datetime) -> bool:
    """Open and past due, as the queue's `overdue` filter and the escalation read it."""
    return due_at is not None and due_at < now and state in OPEN_WORK_ORDER_STATES


def _districts_tiles(
    cities: list[Jurisdiction],
    districts: list[queue_choice_queries.DistrictChoice],
    chosen: int | None,
) -> str | None:
    """The public districts tiles under the map (the chosen district's layer, else the city's
    first), when the user works for one city; a map of several has points only."""
    if len(cities) != 1:
        return None
    query = {"jurisdiction_id": cities[0].jurisdiction_id}
    layer = next((each.layer_id for each in districts if each.id == chosen), None)
    if layer is not None:
        query["layer"] = str(layer)
    return "/tiles/districts/{z}/{x}/{y}.mvt?" + urlencode(query)


@blp.route("/queues", methods=["GET"])
@staff_page(*MANAGERS)
def queues() -> str:
    """The open work orders of the user's cities, a page at a time, filtered by crew and
    district; each row carries its point for the map (queue.js), the table being the whole of
    it for a reader without the map."""
    user = current_user()
    session = database.session()
    cities = list(user.jurisdictions)
    scope = staff.jurisdiction_scope(user)
    crew_id, district_id = _id_arg("crew"), _id_arg("district")
    page = _id_arg("page") or 1
    now = clock.now()
    wanted = queue.queue_filter(
        user,
        now=now,
        crews=(crew_id,) if crew_id else (),
        district_id=district_id,
        page=min(page, 100_000),
        page_size=PAGE_SIZE,
    )
    rows = work_queries.find_queue(session, wanted)
    more = len(rows) > PAGE_SIZE
    zone = _zone(cities)
    items = [
        {
            "row": row,
            "overdue": is_overdue(row.state, row.due_at, now),
            "due": row.due_at.astimezone(zone) if row.due_at is not None else None,
        }
        for row in rows[:PAGE_SIZE]
    ]
    filters = {"crew": crew_id or "", "district": district_id or ""}
    districts = queue_choice_queries.find_district_choices(session, scope)
    return render(
        "staff/queue.html",
        items=items,
        crews=queue_choice_queries.find_crew_choices(session, scope),
        districts=districts,
        districts_tiles=_districts_tiles(cities, districts, district_id),
        filters=filters,
        page_number=page,
        previous_url=url_for(".queues", **filters, page=page - 1) if page > 1 else None,
        next_url=url_for(".queues", **filters, page=page + 1) if more else None,
        zone=zone.key,
        notices=get_flashed_messages(),
        basemap=database.settings().basemap_url,
        basemap_attribution=database.settings().basemap_attribution,
    )


# --- one work order and its forms ----------------------------------------------------------


@dataclass
class Forms:
    """What a refused form is shown again with: its name, the fields' problems (key "" for
    the form as a whole) and the values sent."""

    name: str = ""
    problems: dict[str, str] | None = None
    values: Mapping[str, str] | None = None

    def problem(self, form: str, field: str) -> str | None:
        return (self.problems or {}).get(field) if form == self.name else None

    def value(self, form: str, field: str, default: Any = "") -> Any:
        return (self.values or {}).get(field, default) if form == self.name else default


def _work_order_row(session: Session, work_order_id: int) -> QueueRow:
    """The work order, if of the user's cities (another city's is not found, as in the API)."""
    row = work_queries.get_work_order_row(session, work_order_id)
    if row is None:
        raise NotFound(f"work order {work_order_id} not found")
    staff.check_work_order_scope(current_user(), row.work_order)
    return row


def _show(work_order_id: int, forms: Forms | None = None) -> Response:
    session = database.session()
    row = _work_order_row(session, work_order_id)
    order = row.work_order
    found = order.service_request
    city = session.get(Jurisdiction, found.jurisdiction_id)
    assert city is not None  # a foreign key guarantees it
    zone = ZoneInfo(city.time_zone)
    crews = queue_choice_queries.find_crew_choices(session, (city.id,))
    now = clock.now()
    page = render(
        "staff/work_order.html",
        order=order,
        found=found,
        zone=zone,
        lat=row.lat,
        long=row.long,
        overdue=is_overdue(order.state, order.due_at, now),
        is_open=order.state in OPEN_WORK_ORDER_STATES,
        status=workflow.current_status(session, found),
        districts=work_queries.find_request_districts(session, found),
        work_orders=work_queries.find_request_work_orders(session, found),
        history=request_queries.find_activity(session, found),
        agency_crews=[crew for crew in crews if crew.agency_id == order.agency_id],
        city_crews=crews,
        priorities=PRIORITIES,
        forms=forms or Forms(),
        notices=get_flashed_messages(),
        title_max=workflow.TITLE_MAX_LENGTH,
        note_max=NOTE_MAX_LENGTH,
    )
    return Response(page, status=200, content_type="text/html; charset=utf-8")


@blp.route("/work-orders/<int:work_order_id>", methods=["GET"])
@staff_page(*MANAGERS)
def work_order(work_order_id: int) -> Response:
    """A work order, its request and the request's whole history, internal notes included."""
    return _show(work_order_id)


def _crew(session: Session, field: str = "crew_id") -> Crew:
    value = request.form.get(field, "").strip()
    crew = session.get(Crew, int(value)) if value.isdigit() and len(value) < 18 else None
    if crew is None:
        raise FormProblem(field, say("Choose a crew from the list."))
    return crew


def _note(field: str = "note", *, required: bool = False) -> str | None:
    text = request.form.get(field, "").strip()
    if required and not text:
        raise FormProblem(field, say("Write the note."))
    if len(text) > NOTE_MAX_LENGTH:
        raise FormProblem(field, say("At most %(count)s characters.", count=NOTE_MAX_LENGTH))
    return text or None


def _due(zone: ZoneInfo) -> datetime | None:
    """A datetime-local field, read as the city's wall-clock time."""
    text = request.form.get("due_at", "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FormProblem("due_at", say("Give a date and time, or leave it empty.")) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _priority() -> int:
    text = request.form.get("priority", "0").strip() or "0"
    if not text.isdigit() or int(text) not in PRIORITIES:
        raise FormProblem("priority", say("A priority is 0 to 9."))
    return int(text)


def _domain_problems(error: Open311Error, fields: tuple[str, ...]) -> dict[str, str]:
    """The domain's problems, each next to the field it names ("crew_id: ...") or over the
    form."""
    found: dict[str, str] = {}
    for problem in error.problems:
        name, colon, _rest = str(problem).partition(": ")
        key = name if colon and name in fields else ""
        found[key] = " ".join(filter(None, (found.get(key), say_text(problem))))
    return found


def _act(
    work_order_id: int, form: str, fields: tuple[str, ...], action: Callable[[Session], str]
) -> Response:
    """Run one form's action: committed and back to the page with a notice (303), or rolled
    back and the page shown again with the problems: 200, as the filing form answers a refused
    form (report.py; a 4xx document is an error in the browser's console, and nothing failed)."""
    session = database.session()
    _work_order_row(session, work_order_id)  # 404 before anything is read from the form
    try:
        notice = action(session)
    except FormProblem as problem:
        session.rollback()
        return _show(work_order_id, Forms(form, {problem.field: problem.message}, request.form))
    except InvalidInput as error:
        session.rollback()
        return _show(work_order_id, Forms(form, _domain_problems(error, fields), request.form))
    session.commit()
    flash(notice)
    return redirect(url_for(".work_order", work_order_id=work_order_id), code=303)


def _order(session: Session, work_order_id: int) -> WorkOrder:
    return _work_order_row(session, work_order_id).work_order


@blp.route("/work-orders/<int:work_order_id>/reassign", methods=["POST"])
@staff_page(*MANAGERS)
def reassign(work_order_id: int) -> Response:
    """Give the work order to another crew of its agency (the API's reassign)."""

    def action(session: Session) -> str:
        crew, note = _crew(session), _note()
        order = _order(session, work_order_id)
        workflow.reassign(session, order, crew, actor=actor(), note=note, now=clock.now())
        return say("Work order %(id)s is now with %(crew)s.", id=work_order_id, crew=crew.name)

    return _act(work_order_id, "reassign", ("crew_id", "note"), action)


@blp.route("/work-orders/<int:work_order_id>/work-orders", methods=["POST"])
@staff_page(*MANAGERS)
def add_work_order(work_order_id: int) -> Response:
    """Add a work order to the request, outside its workflow (the API's add work order)."""

    def action(session: Session) -> str:
        found = _order(session, work_order_id).service_request
        city = session.get(Jurisdiction, found.jurisdiction_id)
        assert city is not None  # a foreign key guarantees it
        crew = _crew(session)
        title = request.form.get("title", "").strip()
        if not title:
            raise FormProblem("title", say("Give the work order a title."))
        due_at, priority, note = _due(ZoneInfo(city.time_zone)), _priority(), _note()
        added = workflow.add_work_order(
            session,
            found,
            crew,
            title=title,
            actor=actor(),
            now=clock.now(),
            due_at=due_at,
            note=note,
            priority=priority,
        )
        return say("Work order %(id)s added for %(crew)s.", id=added.id, crew=crew.name)

    fields = ("crew_id", "title", "due_at", "priority", "note")
    return _act(work_order_id, "add", fields, action)


@blp.route("/work-orders/<int:work_order_id>/merge", methods=["POST"])
@staff_page(*MANAGERS)
def merge(work_order_id: int) -> Response:
    """Merge the work order's request, a duplicate, into another request of its city (the
    API's merge): it closes pointing there, its open work orders cancelled."""

    def action(session: Session) -> str:
        found = _order(session, work_order_id).service_request
        wanted = request.form.get("parent", "").strip()
        if not wanted:
            raise FormProblem("parent", say("Give the id of the request it duplicates."))
        parent = request_queries.get_request_by_public_id(session, wanted)
        if parent is None or parent.jurisdiction_id != found.jurisdiction_id:
            raise FormProblem("parent", say("No request %(id)s in this city.", id=wanted))
        reason = _note("reason")
        into = duplicates.merge(
            session, found, parent, actor=actor(), now=clock.now(), reason=reason
        )
        return say(
            "Request %(id)s was merged into request %(parent)s.",
            id=found.service_request_id,
            parent=into.service_request_id,
        )

    return _act(work_order_id, "merge", ("parent", "reason"), action)


@blp.route("/work-orders/<int:work_order_id>/notes", methods=["POST"])
@staff_page(*MANAGERS)
def add_note(work_order_id: int) -> Response:
    """An internal note on the request, tied to this work order (the API's notes)."""

    def action(session: Session) -> str:
        order = _order(session, work_order_id)
        text = _note(required=True)
        assert text is not None  # required
        workflow.add_note(
            session,
            order.service_request,
            text,
            actor=actor(),
            public=False,
            now=clock.now(),
            work_order=order,
            crews=staff.crew_scope(current_user()),
        )
        return say("Note added.")

    return _act(work_order_id, "note", ("note",), action)


# --- the dashboard (dashboard.py), under this blueprint's endpoint names --------------------

blp.add_url_rule(
    "/dashboard", "dashboard", staff_page(*MANAGERS)(dashboard.dashboard), methods=["GET"]
)
blp.add_url_rule(
    "/charts/<name>.svg", "chart", staff_page(*MANAGERS)(dashboard.chart), methods=["GET"]
)
