"""The call-taker's intake (/staff/intake): one screen for a call.

The caller's language, the channel, the service and its questions (in the caller's language,
the city's translations), the place with open requests of that service near it, the caller's
details (kept private), and the knowledge base. Each step re-sends the whole form (a POST, so
that nothing about the caller lands in a URL or a log); only three buttons end the call:
file a request, record the call on an open request nearby, or record it as answered. They go
through the staff API's rules: its body schema, intake.submit, contacts.record, the same
look-up of duplicates nearby and the same knowledge-base search.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, redirect, request, url_for
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping

from open311 import clock
from open311.api import database
from open311.api.forms import reject_forbidden
from open311.api.smorest import load
from open311.api.staff.intake_schemas import CHANNELS, IntakeRequestBody
from open311.db import article_queries, request_queries
from open311.db.models import Article, Jurisdiction, Service, ServiceRequest
from open311.domain import article_search, catalogue, contacts, staff, translations
from open311.domain.answers import validate_answers
from open311.domain.intake import Submission, check_location, submit
from open311.errors import InvalidInput, Open311Error
from open311.i18n import negotiate
from open311.values import ContactChannel, ContactOutcome, StaffRole, Status
from open311.web.pages import current_page, page_blueprint, render, say, say_text
from open311.web.staff import intake_nearby
from open311.web.staff.access import actor, current_user, staff_page
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
        return _finish(form, _file)
    if request.form.get("action") == "answered":
        return _finish(form, _answered)
    if request.form.get("attach"):
        return _finish(form, _attach)
    return _screen(form)


@blp.route("/intake/duplicates", methods=["GET"])
@staff_page(*ROLES)
def duplicates_panel() -> str:
    """The panel of requests near a point, for intake.js to swap in when the point or the
    service changes (the same partial the whole screen renders)."""
    form = read_form(request.args)
    city = _city(form)
    service = _service(form, city)
    found = intake_nearby.look_up(database.session(), city, service, form) if service else None
    return render("staff/intake_duplicates.html", form=form, nearby=found)


def _city(form: IntakeForm) -> Jurisdiction:
    """The city of the call: one of the user's (staff.choose_jurisdiction: 403 otherwise)."""
    chosen = staff.choose_jurisdiction(
        database.session(), current_user(), form.jurisdiction_id or None
    )
    form.jurisdiction_id = chosen.jurisdiction_id
    return chosen


def _service(form: IntakeForm, city: Jurisdiction) -> Service | None:
    if not form.service_code:
        return None
    try:
        return catalogue.get_service(database.session(), city, form.service_code)
    except Open311Error as error:
        form.add_problem("service_code", say_text(error.problems[0]))
        return None


def _caller_locale(form: IntakeForm, city: Jurisdiction) -> str:
    offered = list(city.locales or ()) or [city.default_locale]
    chosen = negotiate(form.caller_locale or None, (), offered, city.default_locale)
    form.caller_locale = chosen
    return chosen


def _call(form: IntakeForm) -> Call:
    """Everything the screen shows for the form as it stands (nothing written)."""
    session = database.session()
    city = _city(form)
    locale = _caller_locale(form, city)
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


def _articles(form: IntakeForm, city: Jurisdiction) -> list[Article]:
    found = []
    for article_id in form.article_ids:
        article = article_queries.get_article(database.session(), city, article_id)
        if article is None:
            raise InvalidInput(f"article_ids: no article {article_id[:100]} in this city")
        found.append(article)
    return found


def _file(form: IntakeForm) -> str:
    """File the request as POST /api/v1/intake/requests does (its schema, intake.submit, the
    contact in the same transaction), with the answers used linked to the contact."""
    for key, value in request.form.items(multi=True):
        reject_forbidden(key, value)
    city = _city(form)
    _caller_locale(form, city)
    body = load(IntakeRequestBody(), form.body())
    caller = body.get("caller") or {}
    submission = Submission(
        service_code=body["service_code"],
        lat=body.get("lat"),
        long=body.get("long"),
        address_string=body.get("address_string"),
        description=body.get("description"),
        email=caller.get("email"),
        first_name=caller.get("first_name"),
        last_name=caller.get("last_name"),
        phone=caller.get("phone"),
        language=caller.get("language"),
        attributes=body["attributes"],
        channel=body["channel"],
    )
    _check_all(city, submission)
    session = database.session()
    now = clock.now()
    stored = submit(session, city, None, submission, now, actor=actor())
    call = body.get("contact") or {}
    given = contacts.ContactFields(
        language=call.get("language"), interpreter=call.get("interpreter")
    )
    links = contacts.Links(requests=[stored], articles=_articles(form, city))
    contacts.record(
        session, city, current_user(), contacts.for_intake(given, body["channel"]), now, links
    )
    return url_for(".intake", filed=stored.service_request_id)


def _check_all(city: Jurisdiction, submission: Submission) -> None:
    """intake.submit's own checks of the place and the answers, both run before it, so that
    the call-taker sees every problem at once (submit stops at the first kind)."""
    problems: list[str] = []
    try:
        check_location(submission)
    except InvalidInput as error:
        problems += error.problems
    service = catalogue.get_service(database.session(), city, submission.service_code)
    try:
        validate_answers(service, submission.attributes, ZoneInfo(city.time_zone or "UTC"))
    except InvalidInput as error:
        problems += error.problems
    if problems:
        raise InvalidInput(*problems)


def _attach(form: IntakeForm) -> str:
    """The caller reports an open request already filed: the call is recorded on it (outcome
    `request`, "filed or found"), and no new request is made."""
    city = _city(form)
    _caller_locale(form, city)
    wanted = request.form.get("attach", "")[:64]
    found = request_queries.get_request_by_public_id(database.session(), wanted)
    if found is None or found.jurisdiction_id != city.id or found.status is not Status.open:
        raise InvalidInput(say("No open request %(id)s in this city.", id=wanted))
    _record(form, city, ContactOutcome.request, [found])
    return url_for(".intake", attached=found.service_request_id)


def _answered(form: IntakeForm) -> str:
    """A call answered from the knowledge base, no request filed (outcome `information`)."""
    city = _city(form)
    _caller_locale(form, city)
    if not form.article_ids:
        raise InvalidInput(say("article_ids: use an answer first, or file a request."))
    _record(form, city, ContactOutcome.information, [])
    return url_for(".intake", answered="1")


def _record(
    form: IntakeForm, city: Jurisdiction, outcome: ContactOutcome, requests: list[ServiceRequest]
) -> None:
    given = contacts.ContactFields(
        channel=ContactChannel(form.channel),
        language=form.caller_locale,
        interpreter=form.interpreter,
        outcome=outcome,
    )
    links = contacts.Links(requests=requests, articles=_articles(form, city))
    contacts.record(database.session(), city, current_user(), given, clock.now(), links)


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
