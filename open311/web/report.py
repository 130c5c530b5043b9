"""Filing a request from the browser: /report lists the city's services, /report/<code> is a
form generated from the service definition, posted to the same domain function as POST requests.

The form is the API's POST body as a browser sends it (multipart, `attribute[CODE]` and
`attribute[CODE][]` answers, `media` file parts), so it is read by the API's own readers
(api.forms) and checked by the API's own rules (RequestForm, answers.validate_answers,
intake.check_location, media.photos) and filed as the API files (api.filing): a refusal names
the same problems, each shown next to its field. It works without JavaScript; picker.js only
fills lat/long from a click on the map.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Response, current_app, redirect, request, session, url_for

from open311.api import database, filing
from open311.api.forms import read_body, read_photos
from open311.api.schemas import RequestForm
from open311.api.smorest import load
from open311.db import search_queries, tile_queries
from open311.db.models import Jurisdiction, Service
from open311.domain import catalogue, intake, jurisdictions, translations
from open311.domain.answers import validate_answers
from open311.errors import InvalidInput
from open311.media import photos
from open311.values import ServiceType
from open311.web.pages import current_page, page_blueprint, render, say_text
from open311.wire import georeport

blp = page_blueprint("report", __name__)

# The POST body's fields the form offers (besides attribute answers and photos); the API's
# others (device_id, account_id, media_url, jurisdiction_id) are not the browser's to send.
PLAIN_FIELDS = (
    "description",
    "address_string",
    "lat",
    "long",
    "email",
    "first_name",
    "last_name",
    "phone",
)
LOCATION = "location"  # the key of a problem with lat/long/address as a whole
PHOTOS = "media"
FILED_KEY = "filed"  # the session's note of the last request filed, for the confirmation


@dataclass
class Question:
    """One attribute of the definition as the form shows it: an input, or information."""

    code: str
    input_id: str
    name: str
    datatype: str
    variable: bool
    required: bool
    description: str
    help: str | None
    values: list[dict[str, str]]
    answers: list[str]
    problems: list[str] = field(default_factory=list)


@dataclass
class Refusal:
    """The problems of a refused form: by field key (an attribute's code prefixed "attribute:",
    a plain field's name, LOCATION, PHOTOS), and those of no field."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, problems: Iterable[str]) -> None:
        for problem in problems:
            key = field_of(problem)
            said = say_text(problem)
            if key is None:
                self.general.append(said)
            else:
                self.by_field.setdefault(key, []).append(said)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)


def field_of(problem: str) -> str | None:
    """Which field a domain problem is about: answers name their attribute's code (a marked
    Text's `code` parameter), marshmallow's and the photos' problems start with "name: "."""
    msgid = getattr(problem, "msgid", "")
    params = getattr(problem, "params", {}) or {}
    if msgid.startswith("attribute") and "code" in params:
        return f"attribute:{params['code']}"
    if "location" in msgid or msgid.startswith("lat and long"):
        return LOCATION
    head = str(problem).split(":", 1)[0].strip()
    if head in ("lat", "long"):
        return LOCATION
    if head in PLAIN_FIELDS or head == PHOTOS:
        return head
    return None


def _city() -> Jurisdiction | None:
    """The jurisdiction named by `jurisdiction_id` (404 if unknown), else the server's default;
    None when the server has several and no default: the reader chooses one first."""
    named = request.values.get("jurisdiction_id", "").strip() or None
    try:
        return jurisdictions.resolve(database.session(), named)
    except InvalidInput:
        if named is not None:
            raise
        return None


def _choose_city(service_code: str | None = None) -> str:
    """The server's cities to choose from, each linked to its list (or to the form of
    `service_code` there, for a link that named a service but no city)."""
    cities = jurisdictions.find_all(database.session())
    return render("report/cities.html", cities=cities, service_code=service_code)


@blp.route("/report", methods=["GET"])
def services() -> str:
    """The city's services, grouped by their `group`, in the page's language."""
    city = _city()
    if city is None:
        return _choose_city()
    db = database.session()
    items = [georeport.service_item(s) for s in catalogue.list_services(db, city)]
    said = translations.services_in(db, city, current_page().locale, items)
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(said, key=lambda i: i["service_name"].casefold()):
        groups.setdefault(item["group"] or "", []).append(item)
    ordered = sorted(groups.items(), key=lambda pair: (pair[0] == "", pair[0].casefold()))
    return render("report/services.html", city=city, groups=ordered)


@blp.route("/report/<service_code>", methods=["GET"])
def form(service_code: str) -> str:
    city = _city()
    if city is None:
        return _choose_city(service_code)
    service = catalogue.get_service(database.session(), city, service_code)
    return _form_page(city, service, {}, {}, Refusal())


@blp.route("/report/<service_code>", methods=["POST"])
def file_request(service_code: str) -> Response:
    """Check everything the API would, show every problem at once; else file, commit, and
    redirect (303) to the confirmation, so that a reload does not file twice. (The API's write
    limit is counted per address by every page's POST: pages.page_blueprint.)"""
    db = database.session()
    city = _city()
    if city is None:
        return redirect(url_for("report.services"))
    service = catalogue.get_service(db, city, service_code)
    fields, answers = read_body(request)
    refusal = Refusal()
    uploads: list[photos.Upload] = []
    try:
        uploads = read_photos(request)
    except InvalidInput as error:
        refusal.add(error.problems)
    offered = {name: fields[name] for name in PLAIN_FIELDS if name in fields}
    checked: dict[str, Any] = {}
    try:
        checked = load(RequestForm(), offered | {"service_code": service_code})
    except InvalidInput as error:
        refusal.add(error.problems)
    try:
        validate_answers(service, answers, ZoneInfo(city.time_zone))
    except InvalidInput as error:
        refusal.add(error.problems)
    checked.pop("service_code", None)
    submission = intake.Submission(
        service_code, **checked, attributes=answers, channel="web", language=current_page().locale
    )
    # With a field refused, the location is checked as given (a point refused is said already).
    given = submission if checked else _place_given(service_code, offered)
    if given is not None:
        try:
            intake.check_location(given)
        except InvalidInput as error:
            refusal.add(error.problems)
    cleaned: list[photos.Photo] = []
    if not refusal:
        try:
            cleaned = photos.prepare(uploads)
        except InvalidInput as error:
            refusal.add(error.problems)
    if refusal:
        return _refused(city, service, offered, answers, refusal)
    try:
        stored = filing.file_request(db, city, None, submission, cleaned)
    except InvalidInput as error:  # a rule only the whole submission meets (the service area)
        db.rollback()
        refusal.add(error.problems)
        return _refused(city, service, offered, answers, refusal)
    session[FILED_KEY] = {
        "service_request_id": stored.service_request_id
        if service.type == ServiceType.realtime
        else None,
        "token": stored.token,
        "jurisdiction_id": city.jurisdiction_id,
        "service_notice": stored.service_notice,
        "photos": len(cleaned),
    }
    return redirect(url_for("report.filed"), code=303)


def _place_given(service_code: str, offered: dict[str, str]) -> intake.Submission | None:
    """The place alone, for check_location when another field was refused: None when a point
    was sent (RequestForm said whether it was a good one), else the address as given."""
    if any(offered.get(name, "").strip() for name in ("lat", "long")):
        return None
    address = offered.get("address_string", "").strip() or None
    return intake.Submission(service_code, address_string=address)


@blp.route("/report/filed", methods=["GET"])
def filed() -> str | Response:
    """The confirmation of the request this browser filed last: its id and a link to its page
    (a batch service's token instead, a blackbox service's neither)."""
    note = session.get(FILED_KEY)
    if not isinstance(note, dict):
        return redirect(url_for("report.services"))
    return render("report/filed.html", filed=note)


def _refused(
    city: Jurisdiction,
    service: Service,
    values: dict[str, str],
    answers: dict[str, list[str]],
    refusal: Refusal,
) -> Response:
    """The form again, with the answers and the problems: 200, as Django and GOV.UK answer a
    refused form (a 4xx document is an error in the browser's console, and nothing failed)."""
    database.session().rollback()
    page = _form_page(city, service, values, answers, refusal)
    return Response(page, status=200, content_type="text/html; charset=utf-8")


def _form_page(
    city: Jurisdiction,
    service: Service,
    values: dict[str, str],
    answers: dict[str, list[str]],
    refusal: Refusal,
) -> str:
    db = database.session()
    locale = current_page().locale
    item = translations.services_in(db, city, locale, [georeport.service_item(service)])[0]
    definition = translations.definition_in(db, city, locale, georeport.service_definition(service))
    questions = _questions(definition["attributes"], answers, refusal)
    summary = _summary(questions, refusal)
    return render(
        "report/form.html",
        city=city,
        service=item,
        questions=questions,
        values=values,
        problems=refusal.by_field,
        summary=summary,
        max_photos=current_app.config["OPEN311_MEDIA_MAX_COUNT"],
        map_data=map_data(city),
    )


def _questions(
    attributes: Sequence[dict[str, Any]], answers: dict[str, list[str]], refusal: Refusal
) -> list[Question]:
    questions = []
    for index, attribute in enumerate(sorted(attributes, key=lambda a: a["order"])):
        code = attribute["code"]
        multiple = attribute["datatype"] == "multivaluelist"
        questions.append(
            Question(
                code=code,
                input_id=f"attribute-{index}",
                name=f"attribute[{code}][]" if multiple else f"attribute[{code}]",
                datatype=attribute["datatype"],
                variable=attribute["variable"],
                required=attribute["required"],
                description=attribute["description"],
                help=attribute["datatype_description"],
                values=attribute.get("values", []),
                answers=answers.get(code, []),
                problems=refusal.by_field.get(f"attribute:{code}", []),
            )
        )
    return questions


# Where the summary's link for a problem of a plain field goes (the field's input id).
_ANCHORS = {LOCATION: "address_string", PHOTOS: "media"}


def _summary(questions: Sequence[Question], refusal: Refusal) -> list[tuple[str, str | None]]:
    """Every problem, in the form's order, with the id of the input it is about (None: the
    form as a whole), for the list at the top of the page."""
    listed: list[tuple[str, str | None]] = [(p, None) for p in refusal.general]
    for question in questions:
        first = question.input_id + ("-0" if question.datatype == "multivaluelist" else "")
        listed += [(problem, first) for problem in question.problems]
    for key in (*PLAIN_FIELDS, LOCATION, PHOTOS):
        for problem in refusal.by_field.get(key, []):
            listed.append((problem, _ANCHORS.get(key, key)))
    return listed


def map_data(city: Jurisdiction) -> dict[str, str]:
    """The data-* attributes of a map of picker.js (the form's picker, a request's map): the
    city's extent for its first view and its districts' outlines, from the map's own queries
    and tiles, and the basemap when one is set (the template escapes them)."""
    db = database.session()
    settings = database.settings()
    data = {
        "data-worker": url_for("assets.vendor", name="maplibre-gl-csp-worker.js"),
        "data-basemap": settings.basemap_url,
        "data-basemap-attribution": settings.basemap_attribution,
    }
    scope = search_queries.resolve_scope(db, city)
    if scope is None:
        return data
    extent = tile_queries.find_extent(db, scope)
    if extent is not None:
        data["data-extent"] = ",".join(f"{value:.6f}" for value in extent)
    layers = tile_queries.find_layers(db, scope)
    if layers:
        tile = url_for("tiles.districts_tile", z=0, x=0, y=0).removesuffix("/0/0/0.mvt")
        query = urlencode({"jurisdiction_id": city.jurisdiction_id, "layer": layers[0].id})
        data["data-districts"] = f"{tile}/{{z}}/{{x}}/{{y}}.mvt?{query}"
    return data
