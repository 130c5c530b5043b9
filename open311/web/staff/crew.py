"""The crew member's board (/staff/crew): my work orders, nearest first, on a phone.

Everything goes through the staff API's functions: the queue is queue.queue_filter's (the
user's crews and cities), narrowed and paged by work_queries' statement and only re-ordered by
distance here (db.crew_board_queries); Start and Finish are workflow.transition as POST
/api/v1/work-orders/<id>/transitions does it, so finishing the last open work order closes the
request with the public note published. A finishing photo is stored as the request's photo, as
POST /requests stores one (media.photos: prepare, kept, record).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import Response, flash, get_flashed_messages, redirect, request, session, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from open311 import clock
from open311.api import database, media
from open311.api.forms import MEDIA_FIELD, read_photos
from open311.api.staff.work_schemas import NOTE_MAX_LENGTH
from open311.db import crew_board_queries, work_queries
from open311.db.work_queries import QueueFilter, QueueRow
from open311.domain import queue, staff, workflow
from open311.errors import Forbidden, InvalidInput, NotFound
from open311.i18n import _
from open311.media import photos
from open311.values import OPEN_WORK_ORDER_STATES, StaffRole, WorkOrderState
from open311.web.pages import current_page, page_blueprint, render, say, say_text
from open311.web.staff.access import actor, current_user, staff_page

blp = page_blueprint("console_crew", __name__, url_prefix="/staff")

_R = StaffRole
# Crew members work the board; supervisors and administrators may look over their shoulder.
BOARD_ROLES = (_R.crew_member, _R.supervisor, _R.administrator)
BOARD_SIZE = 50  # a day's work and more; the board is not paged
NOTICE, WARNING = "notice", "warning"  # the flashed messages' categories: their CSS classes
POSITION_KEY = "crew_position"  # (lat, long) the browser or the "near" field last gave
# What a card calls each state.
STATE_LABELS = {
    WorkOrderState.new: _("Not assigned"),
    WorkOrderState.assigned: _("To do"),
    WorkOrderState.in_progress: _("In progress"),
    WorkOrderState.done: _("Done"),
    WorkOrderState.cancelled: _("Cancelled"),
}


@dataclass(frozen=True)
class Card:
    """One work order as the board shows it."""

    id: int
    title: str
    state: str
    state_label: str
    service_name: str
    service_request_id: str
    address: str | None
    description: str | None
    lat: float | None
    long: float | None
    distance: str | None
    due: str | None
    overdue: bool
    may_start: bool
    may_finish: bool


# --- where the crew member is --------------------------------------------------------------


def _coordinates(lat: str, long: str) -> tuple[float, float] | None:
    try:
        point = (float(lat), float(long))
    except ValueError:
        return None
    if not all(math.isfinite(value) for value in point):
        return None
    if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
        return None
    return point


def _lat_long(text: str) -> tuple[float, float] | None:
    """ "34.05, -118.25" (or with a space or semicolon between) as a point, else None."""
    parts = text.replace(";", ",").replace(" ", ",").split(",")
    numbers = [part for part in parts if part]
    if len(numbers) != 2:
        return None
    return _coordinates(*numbers)


def _position(wanted: QueueFilter) -> tuple[tuple[float, float] | None, str | None]:
    """Where to measure from, and the "near" field's problem if any: the browser's position
    (?lat=&long=, from crew.js), else the "near" field (lat,long or the address of one of the
    board's work orders), else the one remembered in the session. A new one is remembered;
    ?position=forget forgets it."""
    if request.args.get("position") == "forget":
        session.pop(POSITION_KEY, None)
        return None, None
    point: tuple[float, float] | None = None
    if "lat" in request.args or "long" in request.args:
        point = _coordinates(request.args.get("lat", ""), request.args.get("long", ""))
        if point is None:
            return _remembered(), say("Your position could not be read: type where you are.")
    near = request.args.get("near", "").strip()
    if point is None and near:
        point = _lat_long(near) or crew_board_queries.find_address_point(
            database.session(), wanted, near[:200]
        )
        if point is None:
            problem = say(
                "No work order of yours is at “%(near)s”: type a street of one, or latitude, "
                "longitude.",
                near=near[:200],
            )
            return _remembered(), problem
    if point is not None:
        session[POSITION_KEY] = [point[0], point[1]]
        return point, None
    return _remembered(), None


def _remembered() -> tuple[float, float] | None:
    kept = session.get(POSITION_KEY)
    if isinstance(kept, list) and len(kept) == 2:
        return _coordinates(str(kept[0]), str(kept[1]))
    return None


# --- how a card reads ------------------------------------------------------------------------


def _distance(metres: float | None) -> str | None:
    if metres is None:
        return None
    if metres < 1000:
        return say("%(metres)s m away", metres=int(round(metres, -1)))
    return say("%(km)s km away", km=f"{metres / 1000:.1f}")


def _time_zone() -> ZoneInfo:
    """The city's clock, the one due times are promised in (a crew works in one city)."""
    cities = current_user().jurisdictions
    try:
        return ZoneInfo(cities[0].time_zone) if cities else ZoneInfo("UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _due(due_at: datetime | None, overdue: bool) -> str | None:
    if due_at is None:
        return None
    when = format_datetime(
        due_at, "EEE d MMM, HH:mm", tzinfo=_time_zone(), locale=current_page().locale
    )
    return say("Overdue since %(when)s", when=when) if overdue else say("Due %(when)s", when=when)


def _card(row: Any, now: datetime) -> Card:
    state = WorkOrderState(row.state)
    overdue = row.due_at is not None and row.due_at < now and state in OPEN_WORK_ORDER_STATES
    return Card(
        id=row.id,
        title=row.title,
        state=state.value,
        state_label=say_text(STATE_LABELS[state]),
        service_name=row.service_name,
        service_request_id=row.service_request_id,
        address=row.address,
        description=row.description,
        lat=row.lat,
        long=row.long,
        distance=_distance(row.distance_m),
        due=_due(row.due_at, overdue),
        overdue=overdue,
        may_start=WorkOrderState.in_progress in workflow.TRANSITIONS[state],
        may_finish=WorkOrderState.done in workflow.TRANSITIONS[state],
    )


# --- the board ---------------------------------------------------------------------------------


@blp.route("/crew", methods=["GET"])
@staff_page(*BOARD_ROLES)
def board() -> Response:
    """The open work orders of the user's crews: nearest first when the board knows where the
    user is, else the queue's order (due soonest first, so overdue first)."""
    now = clock.now()
    wanted = queue.queue_filter(current_user(), now=now, page_size=BOARD_SIZE)
    near, near_problem = _position(wanted)
    rows = crew_board_queries.find_board(database.session(), wanted, near)
    page = render(
        "staff/crew.html",
        cards=[_card(row, now) for row in rows[:BOARD_SIZE]],
        more=len(rows) > BOARD_SIZE,
        near=near,
        near_text=request.args.get("near", ""),
        near_problem=near_problem,
        notices=get_flashed_messages(with_categories=True),
    )
    # A place not found is said by its field with 200, as a refused form is (see _refused).
    return Response(page, status=200, mimetype="text/html")


def _my_work_order(work_order_id: int) -> QueueRow:
    """The work order, if it is one of the user's crews' (a crew member is told of no other:
    404, as for one that does not exist)."""
    row = work_queries.get_work_order_row(database.session(), work_order_id)
    if row is not None:
        try:
            staff.check_work_order_scope(current_user(), row.work_order)
            return row
        except Forbidden:
            pass
    raise NotFound(_("There is no work order %(id)s on your board.", id=work_order_id))


def _back_to_board(notice: str, category: str = NOTICE) -> Response:
    flash(notice, category)
    return redirect(url_for("console_crew.board"), code=303)


def _said(error: InvalidInput) -> str:
    return "; ".join(say_text(problem) for problem in error.problems)


def _move(row: QueueRow, to: WorkOrderState, **kwargs: Any) -> None:
    """workflow.transition as the staff API calls it; another crew's work order (its crew
    changed since the page was read) is not found."""
    try:
        workflow.transition(
            database.session(),
            row.work_order,
            to,
            actor=actor(),
            crews=staff.crew_scope(current_user()),  # checked again on the locked row
            now=clock.now(),
            **kwargs,
        )
    except Forbidden:
        raise NotFound(
            _("There is no work order %(id)s on your board.", id=row.work_order.id)
        ) from None


@blp.route("/crew/work-orders/<int:work_order_id>/start", methods=["POST"])
@staff_page(*BOARD_ROLES)
def start(work_order_id: int) -> Response:
    """Start work: the work order goes in progress (residents are told work has started, as
    the API's transition tells them)."""
    row = _my_work_order(work_order_id)
    try:
        _move(row, WorkOrderState.in_progress)
    except InvalidInput as error:  # started already (a second tap, a crew mate), or paused
        database.session().rollback()
        return _back_to_board(_said(error), WARNING)
    database.session().commit()
    return _back_to_board(say("Started: %(title)s", title=row.work_order.title))


@blp.route("/crew/work-orders/<int:work_order_id>/finish", methods=["GET"])
@staff_page(*BOARD_ROLES)
def finish_form(work_order_id: int) -> str:
    return _finish_page(_my_work_order(work_order_id), {}, {})


def _finish_page(row: QueueRow, errors: dict[str, str], form: dict[str, str]) -> str:
    step = row.work_order.step
    return render(
        "staff/crew_finish.html",
        row=row,
        outcomes=sorted(step.outcomes) if step is not None and step.outcomes else [],
        errors=errors,
        form=form,
        note_max=NOTE_MAX_LENGTH,
    )


@blp.route("/crew/work-orders/<int:work_order_id>/finish", methods=["POST"])
@staff_page(*BOARD_ROLES)
def finish(work_order_id: int) -> str | Response:
    """Finish: the work order is done with the public note (residents read it), and the
    request closes when it was its last open work order; a photo, if sent, becomes the
    request's. Any problem is shown by its field and nothing is changed."""
    row = _my_work_order(work_order_id)
    form = {
        "public_note": request.form.get("public_note", "").strip(),
        "outcome": request.form.get("outcome", "").strip(),
    }
    errors: dict[str, str] = {}
    if not form["public_note"]:
        errors["public_note"] = say("Write what residents will read.")
    elif len(form["public_note"]) > NOTE_MAX_LENGTH:
        errors["public_note"] = say("At most %(count)s characters.", count=NOTE_MAX_LENGTH)
    cleaned: list[photos.Photo] = []
    try:
        cleaned = photos.prepare(read_photos(request)[:1])
    except InvalidInput as error:
        errors["media"] = "; ".join(_unprefixed(say_text(problem)) for problem in error.problems)
    except RequestEntityTooLarge as error:
        errors["media"] = _unprefixed(say_text(getattr(error, "open311_message", ""))) or say(
            "The photo is too large."
        )
    if errors:
        return _refused(row, errors, form)
    session_ = database.session()
    try:
        with photos.kept(media.store(), cleaned):
            _move(
                row,
                WorkOrderState.done,
                public_note=form["public_note"],
                outcome=form["outcome"] or None,
            )
            _keep_photos(row, cleaned)
            session_.commit()
    except InvalidInput as error:
        session_.rollback()
        return _refused(row, {"form": _said(error)}, form)
    return _back_to_board(say("Finished: %(title)s", title=row.work_order.title))


def _keep_photos(row: QueueRow, cleaned: list[photos.Photo]) -> None:
    """The finishing photo becomes one of the request's photos, recorded as POST /requests
    records its own (activity_id None: public with the request, not an app's update awaiting
    publication). A request filed without a photo gets it as its media_url, as POST /requests
    gives its first upload: the public item and its media_urls are read from there."""
    if not cleaned:
        return
    service_request = row.work_order.service_request
    photos.record(
        database.session(), cleaned, service_request_pk=service_request.id, now=clock.now()
    )
    if not service_request.media_url:
        service_request.media_url = media.media_url(cleaned[0].name)


def _unprefixed(problem: str) -> str:
    """An upload's problem as the API words it ("media: x.jpg is not ..."), without the API's
    field name: the page shows it by the photo field."""
    return problem.removeprefix(f"{MEDIA_FIELD}: ")


def _refused(row: QueueRow, errors: dict[str, str], form: dict[str, str]) -> Response:
    """The form again with its problems: 200, as the filing form answers a refused form (a 4xx
    document is an error in the browser's console, and nothing failed)."""
    page = _finish_page(row, errors, form)
    return Response(page, status=200, mimetype="text/html")
