"""The call-taker's intake (/staff/intake): one screen for a call.

The caller's language, the channel, the service and its questions (in the caller's language,
the city's translations), the place with open requests of that service near it, the caller's
details (kept private), and the knowledge base. Each step re-sends the whole form (a POST, so
that nothing about the caller lands in a URL or a log); only three buttons end the call
(intake_end): file a request, record the call on an open request nearby, or record it as
answered. Everything goes through the staff API's rules: the same look-up of duplicates
nearby (intake_nearby), the same knowledge-base search, the same filing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Response, redirect, request
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping

from open311 import clock
from open311.api import database
from open311.api.staff.intake_schemas import CHANNELS
from open311.db import request_queries
from open311.db.models import Jurisdiction, Service
from open311.domain import article_search, catalogue, staff, translations
from open311.errors import InvalidInput, Open311Error
from open311.i18n import negotiate
from open311.values import StaffRole
from open311.web.pages import current_page, page_blueprint, render, say, say_text
from open311.web.staff import intake_end, intake_nearby
from open311.web.staff.access import current_user, staff_page
from open311.web.staff.intake_form import IntakeForm, place_problems, read_form
from open311.wire import georeport

blp = page_blueprint("console_intake", __name__, url_prefix="/staff")

ROLES = (StaffRole.call_taker, StaffRole.supervisor, StaffRole.administrator)
KB_RESULTS = 5
AREA_TOLERANCE_DEG = 0.0002
# The form's plain fields, where a "name: problem" of the domain or the schema is shown.
FIELDS = (
    "jurisdiction_id",
    "caller_locale",
    "channel",
    "service_code",
    "address_string",
    "lat",
    "long",
    "description",
    "first_name",
    "last_name",
    "email",
    "phone",
    "q",
    "article_ids",
)


@dataclass(frozen=True)
class Call:
    """What the screen shows besides the form: the city, its languages, the service chosen
    and its questions, requests nearby, the knowledge base's answers."""

    city: Jurisdiction
    caller_locale: str
    services: list[dict[str, Any]]
    service: Service | None
    questions: list[dict[str, Any]]
    nearby: intake_nearby.Lookup | None
    answers: list[article_search.Found]
    used: list[article_search.ArticleView]


@blp.route("/intake", methods=["GET"], endpoint="intake")
@staff_page(*ROLES)
def intake_page() -> str:
    form = read_form(request.args)
    form.problems.clear()  # a bare link is not a mistake
    done = _done(request.args)
    return _screen(form, done=done)


@blp.route("/intake", methods=["POST"])
@staff_page(*ROLES)
def intake_post() -> str | Response:
    form = read_form(request.form)
    if request.form.get("action") == "file":
        return _finish(form, intake_end.file_request)
    if request.form.get("action") == "answered":
        return _finish(form, intake_end.answered)
    if request.form.get("attach"):
        return _finish(form, intake_end.attach)
    return _screen(form)


@blp.route("/intake/duplicates", methods=["GET"])
@staff_page(*ROLES)
def duplicates_panel() -> str:
    """The panel of requests near a point, for intake.js to swap in when the point or the
    service changes (the same partial the whole screen renders)."""
    form = read_form(request.args)
    city = intake_end.city_of(form)
    service = _service(form, city)
    found = intake_nearby.look_up(database.session(), city, service, form) if service else None
    return render("staff/intake_duplicates.html", form=form, nearby=found)


def _service(form: IntakeForm, city: Jurisdiction) -> Service | None:
    if not form.service_code:
        return None
    try:
        return catalogue.get_service(database.session(), city, form.service_code)
    except Open311Error as error:
        form.add_problem("service_code", say_text(error.problems[0]))
        return None


def _call(form: IntakeForm) -> Call:
    """Everything the screen shows for the form as it stands (nothing written)."""
    session = database.session()
    city = intake_end.city_of(form)
    locale = intake_end.caller_locale(form, city)
    listed = [georeport.service_item(s) for s in catalogue.list_services(session, city)]
    offered = list(city.locales or ()) or [city.default_locale]
    staff_locale = negotiate(current_page().locale, (), offered, city.default_locale)
    services = translations.services_in(session, city, staff_locale, listed)
    service = _service(form, city)
    questions: list[dict[str, Any]] = []
    nearby = None
    if service is not None:
        definition = georeport.service_definition(service)
        questions = translations.definition_in(session, city, locale, definition)["attributes"]
        nearby = intake_nearby.look_up(session, city, service, form)
    return Call(
        city=city,
        caller_locale=locale,
        services=sorted(services, key=lambda item: item["service_name"].casefold()),
        service=service,
        questions=questions,
        nearby=nearby,
        answers=_answers(form, city, locale),
        used=_used(form, city, locale),
    )


def _answers(form: IntakeForm, city: Jurisdiction, locale: str) -> list[article_search.Found]:
    """The knowledge base's best answers to the search box, else to the service chosen."""
    if not form.q and not form.service_code:
        return []
    wanted = article_search.ArticleArgs(
        q=form.q or None,
        service_code=None if form.q else form.service_code,
        page_size=KB_RESULTS,
    )
    try:
        page = article_search.search(database.session(), city, wanted, locale, clock.now())
    except InvalidInput as error:
        for problem in error.problems:
            form.add_problem("q", say_text(problem))
        return []
    return page.items


def _used(form: IntakeForm, city: Jurisdiction, locale: str) -> list[article_search.ArticleView]:
    """The answers the call-taker gave, as the caller heard them; one no longer published is
    dropped with a word next to the panel."""
    views = []
    for article_id in form.article_ids:
        try:
            view = article_search.read(database.session(), city, article_id, locale, clock.now())
        except Open311Error:
            form.add_problem("article_ids", say("Answer %(id)s is not published.", id=article_id))
            continue
        views.append(view)
    form.article_ids = [view.article_id for view in views]
    return views


def _screen(form: IntakeForm, *, done: dict[str, Any] | None = None) -> str:
    """The screen for the form as it stands. A refused filing comes back as this page with
    200, as a form shown again is (the browser would log a 4xx page as a failed load); the
    problems on it say what was refused."""
    call = _call(form)
    page = render(
        "staff/intake.html",
        form=form,
        call=call,
        channels=CHANNELS,
        done=done,
        map_area=_area(call.city),
        basemap=database.settings().basemap_url,
        basemap_attribution=database.settings().basemap_attribution,
    )
    return page


def _area(city: Jurisdiction) -> tuple[str, str]:
    """The city's service area for the map: its box as west,south,east,north and its outline
    as GeoJSON, simplified to about 20 m (a backdrop to find the caller's street by when no
    basemap is set); ("", "") when the city has none."""
    if city.service_area is None:
        return "", ""
    shape = to_shape(city.service_area)
    bounds = ",".join(f"{value:.5f}" for value in shape.bounds)
    outline = shape.simplify(AREA_TOLERANCE_DEG, preserve_topology=True)
    return bounds, json.dumps(mapping(outline), separators=(",", ":"))


def _finish(form: IntakeForm, step: Any) -> str | Response:
    """End the call with `step`; on a refusal, nothing stays and the form comes back with
    each problem next to its field."""
    session = database.session()
    if not form.problems:
        try:
            target = step(form)
        except InvalidInput as error:
            session.rollback()
            place_problems(form, error.problems, FIELDS, say_text)
        else:
            session.commit()
            return redirect(target, code=303)
    session.rollback()
    return _screen(form)


def _done(args: Any) -> dict[str, Any] | None:
    """The confirmation after a call ended (the redirect's query): the request filed or found,
    if it is one of the user's cities'; None for anything else."""
    if args.get("answered"):
        return {"kind": "answered", "request": None}
    for kind in ("filed", "attached"):
        wanted = args.get(kind, "")[:64]
        if not wanted:
            continue
        found = request_queries.get_request_by_public_id(database.session(), wanted)
        if found is not None and found.jurisdiction_id in staff.jurisdiction_scope(current_user()):
            return {"kind": kind, "request": found}
    return None
