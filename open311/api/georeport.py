"""The GeoReport v2 endpoints, in .json and .xml (requests also .geojson, GET .json as JSONP)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, g, request
from sqlalchemy.orm import Session

from open311.api import database, filing, idempotency, ratelimits
from open311.api.forms import read_body, read_photos, repeated
from open311.api.georeport_base import GeoReportBlueprint, api_key, next_page_link, respond
from open311.api.locales import content_locale
from open311.api.schemas import (
    JurisdictionArgs,
    LinkedMedia,
    RequestArgs,
    RequestForm,
    RequestsArgs,
    search_args,
)
from open311.api.smorest import load
from open311.db import catalogue_queries, request_queries, search_queries
from open311.db.models import Jurisdiction, ServiceRequest
from open311.domain import (
    apikeys,
    catalogue,
    intake,
    jurisdictions,
    publication,
    request_search,
    translations,
)
from open311.errors import InvalidInput, NotFound, UnknownRequest, UnknownToken
from open311.media import photos
from open311.wire import cursor as cursors
from open311.wire import geojson, georeport
from open311.wire.datetimes import format_w3c
from open311.wire.formats import CONTENT_TYPES, json_array, render_xml_list

blp = GeoReportBlueprint(
    "georeport",
    __name__,
    description="Open311 GeoReport v2: discovery, services, definitions, requests, tokens.",
    geojson_views=("list_requests", "get_request"),
    jsonp=True,
)
blp.before_request(ratelimits.limit_calls)


@blp.route("/discovery.<fmt>", methods=["GET"])
@blp.arguments(JurisdictionArgs, location="query", as_kwargs=True)
def discovery(jurisdiction_id: str | None = None, **_args: Any) -> Response:
    """Service discovery: where the endpoint is, what it speaks, whom to ask for a key.

    The URL and contact are the jurisdiction's own when it has them (`jurisdiction_id`, else
    the default jurisdiction), else OPEN311_PUBLIC_URL and OPEN311_CONTACT. A city serving
    several languages lists them (`locales`, `default_locale`: an extension)."""
    config = current_app.config
    session = database.session()
    changed = catalogue_queries.latest_catalogue_change(session)
    city = _discovered_city(session, jurisdiction_id)
    url = (city and city.public_url) or config["OPEN311_PUBLIC_URL"]
    payload = georeport.discovery(
        url=url or request.host_url.rstrip("/") + blp.url_prefix,
        changeset=format_w3c(changed or datetime(2000, 1, 1, tzinfo=UTC)),
        contact=(city and city.contact) or config["OPEN311_CONTACT"],
        key_service=config["OPEN311_KEY_SERVICE"],
        endpoint_type=config["OPEN311_ENDPOINT_TYPE"],
        **_languages(city),
    )
    return respond(payload, "discovery")


def _languages(city: Jurisdiction | None) -> dict[str, Any]:
    """Discovery's extension: the city's locales and default, when it serves more than one
    (a one-language city answers the spec's document as it is)."""
    if city is None or len(city.locales or ()) < 2:
        return {}
    return {"locales": city.locales, "default_locale": city.default_locale}


def _discovered_city(session: Session, jurisdiction_id: str | None) -> Jurisdiction | None:
    """The jurisdiction discovery describes: the one named (404 if unknown), else the default;
    None when the server has none yet, or several and no default (the server's settings)."""
    if jurisdiction_id:
        return jurisdictions.resolve(session, jurisdiction_id)
    try:
        return jurisdictions.resolve(session, None)
    except (InvalidInput, NotFound):
        return None


@blp.route("/services.<fmt>", methods=["GET"])
@blp.arguments(JurisdictionArgs, location="query", as_kwargs=True)
def services(jurisdiction_id: str | None = None, **_args: Any) -> Response:
    """Service list: every request type the city accepts, in the `locale` (else
    Accept-Language) asked for when the city has it."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    items = [georeport.service_item(s) for s in catalogue.list_services(session, jurisdiction)]
    said = translations.services_in(session, jurisdiction, content_locale(jurisdiction), items)
    return respond(said, "services")


@blp.route("/services/<service_code>.<fmt>", methods=["GET"])
@blp.arguments(JurisdictionArgs, location="query", as_kwargs=True)
def service_definition(service_code: str, jurisdiction_id: str | None = None, **_args: Any):
    """Service definition: the questions to answer when filing this type, in the `locale`
    (else Accept-Language) asked for when the city has it; codes and keys never change."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    service = catalogue.get_service(session, jurisdiction, service_code)
    definition = georeport.service_definition(service)
    said = translations.definition_in(
        session, jurisdiction, content_locale(jurisdiction), definition
    )
    return respond(said, "service_definition")


@blp.route("/requests.<fmt>", methods=["POST"])
@blp.doc(parameters=[idempotency.PARAMETER])
def post_request() -> Response:
    """File a service request (api_key required), with photos as multipart `media` parts."""
    fields, answers = read_body(request)
    session = database.session()
    client = apikeys.authenticate(session, api_key(fields))
    # Only a known client's photos are read (and, further down, decoded).
    uploads = read_photos(request)
    retry = idempotency.attempt(session, client, fields, answers, uploads)
    if retry.replay is not None:
        return retry.replay
    form = load(RequestForm(), fields)
    linked = load(LinkedMedia(), {"media_url": repeated(request, fields, "media_url")})
    jurisdiction = jurisdictions.resolve(session, form.pop("jurisdiction_id", None))
    # Every photo is checked before anything is stored; an uploaded one outranks a linked URL.
    cleaned = photos.prepare(uploads)
    media_urls = tuple(linked["media_url"])
    submission = intake.Submission(**form, attributes=answers, media_urls=media_urls)
    answered: list[Response] = []

    def keep(stored: ServiceRequest) -> None:
        payload = [georeport.post_result(stored, submission.account_id)]
        answered.append(respond(payload, "service_requests"))
        retry.keep(answered[0], stored.id)

    filing.file_request(session, jurisdiction, client, submission, cleaned, before_commit=keep)
    return answered[0]


@blp.route("/requests.<fmt>", methods=["GET"])
@blp.arguments(RequestsArgs(), location="query", as_kwargs=True)
def list_requests(jurisdiction_id: str | None = None, **args: Any) -> Response:
    """Service requests: newest first; the last 90 days and at most 1000 unless paged or
    filtered by area, district, crew, change feed or text (README: Open data and area
    queries)."""
    session = database.session()
    # Resolved by the statements themselves, a round trip saved on every list (see Unresolved).
    jurisdiction = search_queries.Unresolved(jurisdiction_id)
    search, paging = request_search.plan(session, jurisdiction, search_args(args))
    page = search_queries.find_page(session, jurisdiction, search, _representation())
    if not page.items:
        jurisdictions.resolve(session, jurisdiction_id)  # an unknown jurisdiction says so
    response = _render_page(page, search)
    response.headers["X-Page-Size"] = str(search.limit)
    link = _next_link(search, paging, page)
    if link is not None:
        response.headers["Link"] = link
    total = request_search.total_count(session, jurisdiction, search, paging, page)
    if total is not None:
        response.headers["X-Total-Count"] = str(total)
    return response


@blp.route("/requests/<service_request_id>.<fmt>", methods=["GET"])
@blp.arguments(RequestArgs(), location="query", as_kwargs=True)
def get_request(
    service_request_id: str,
    jurisdiction_id: str | None = None,
    extensions: bool = False,
    **_args: Any,
) -> Response:
    """One service request, as a one-item list."""
    session = database.session()
    search = request_search.single(session, service_request_id, extensions)
    named = search_queries.Unresolved(jurisdiction_id)
    page = search_queries.find_page(session, named, search, _representation(), lookup=True)
    if not page.items:
        jurisdictions.resolve(session, jurisdiction_id)  # an unknown jurisdiction says so
        raise UnknownRequest(f"service_request_id {service_request_id} not found")
    return _render_page(page, search)


def _representation() -> search_queries.Representation:
    fmt = g.representation
    return "rows" if fmt == "xml" else fmt


# XML pages longer than this are streamed, rendered item by item as the client reads them.
STREAM_XML_FROM = 100


def _render_page(page: search_queries.Page, search: search_queries.RequestSearch) -> Response:
    """JSON and GeoJSON: the database's texts joined; XML: rendered here from plain rows."""
    fmt = g.representation
    if fmt == "json":
        return Response(json_array(page.items), content_type=CONTENT_TYPES["json"])
    if fmt == "geojson":
        return Response(geojson.join_features(page.items), content_type=geojson.CONTENT_TYPE)
    items = _xml_items(page.items, search.near is not None, search.extensions)
    chunks = (chunk.encode("utf-8") for chunk in render_xml_list(items, "service_requests"))
    if len(page.items) < STREAM_XML_FROM:
        return Response(b"".join(chunks), content_type=CONTENT_TYPES["xml"])
    return Response(chunks, content_type=CONTENT_TYPES["xml"])


def _xml_items(rows: Iterable[tuple], near: bool, extensions: bool) -> Iterator[dict[str, Any]]:
    width = len(georeport.REQUEST_FIELDS)
    for row in rows:
        item = georeport.request_item_from_row(row[:width])
        rest = row[width:]
        if near:
            item["distance"], rest = rest[0], rest[1:]
        if extensions:
            channel, districts, crew, notes, parent, media_urls = rest
            georeport.extend_item(
                item,
                channel=channel,
                districts_json=districts,
                crew=crew,
                notes_json=notes,
                parent_service_request_id=parent,
                media_urls_json=media_urls,
            )
        yield georeport.for_xml(item)


def _next_link(
    search: search_queries.RequestSearch, paging: request_search.Paging, page: search_queries.Page
) -> str | None:
    """The next page's Link header: the same arguments with the next page or cursor."""
    if not page.more or paging.mode == "ids":
        return None
    next_page = paging.page + 1
    if paging.mode == "page" and request_search.within_paged_rows(next_page, search.limit):
        return next_page_link(search.limit, paging.window, page=str(next_page))
    cursor = request_search.next_cursor(search, page)
    if cursor is None:
        return None
    return next_page_link(search.limit, paging.window, cursor=cursors.encode(cursor))


@blp.route("/tokens/<token>.<fmt>", methods=["GET"])
@blp.arguments(JurisdictionArgs, location="query", as_kwargs=True)
def get_token(token: str, jurisdiction_id: str | None = None, **_args: Any) -> Response:
    """The service_request_id a batch POST's token stands for."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    found = request_queries.get_request_by_token(session, jurisdiction, token)
    if found is None or not publication.is_published(session, found):
        raise UnknownToken(f"token {token} not found")
    return respond([georeport.token_item(found)], "service_requests")
