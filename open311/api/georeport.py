"""The GeoReport v2 endpoints under /open311/v2, each in .json and .xml."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, g, request

from open311.api import database
from open311.api.forms import read_body, reject_forbidden
from open311.api.schemas import JurisdictionArgs, RequestForm, RequestsArgs
from open311.api.smorest import Blueprint, load
from open311.db import queries
from open311.db.models import Status
from open311.domain import apikeys, catalogue, intake, jurisdictions
from open311.domain.requests_window import request_filter
from open311.errors import NotFound, UnknownRequest, UnknownToken
from open311.wire import georeport
from open311.wire.datetimes import format_w3c
from open311.wire.formats import CONTENT_TYPES, FORMATS, render

blp = Blueprint(
    "georeport",
    __name__,
    url_prefix="/open311/v2",
    description="Open311 GeoReport v2: discovery, services, definitions, requests, tokens.",
)


@blp.url_value_preprocessor
def take_format(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    fmt = (values or {}).pop("fmt", None)
    for name, value in (values or {}).items():
        reject_forbidden(name, value)
    if fmt is not None:
        g.fmt = fmt if fmt in FORMATS else None
        if g.fmt is None:
            raise NotFound(f"format {fmt[:20]} is not supported; use .json or .xml")


@blp.before_request
def refuse_control_characters() -> None:
    for key, value in request.args.items(multi=True):
        reject_forbidden(key, value)


def respond(payload: Any, root: str, status: int = 200) -> Response:
    return Response(render(payload, g.fmt, root), status=status, content_type=CONTENT_TYPES[g.fmt])


@blp.route("/discovery.<fmt>", methods=["GET"])
@blp.arguments(JurisdictionArgs, location="query", as_kwargs=True)
def discovery(**_args: Any) -> Response:
    """Service discovery: where the endpoint is, what it speaks, whom to ask for a key."""
    config = current_app.config
    changed = queries.latest_catalogue_change(database.session())
    payload = georeport.discovery(
        url=config["OPEN311_PUBLIC_URL"] or request.host_url.rstrip("/") + blp.url_prefix,
        changeset=format_w3c(changed or datetime(2000, 1, 1, tzinfo=UTC)),
        contact=config["OPEN311_CONTACT"],
        key_service=config["OPEN311_KEY_SERVICE"],
        endpoint_type=config["OPEN311_ENDPOINT_TYPE"],
    )
    return respond(payload, "discovery")


@blp.route("/services.<fmt>", methods=["GET"])
@blp.arguments(JurisdictionArgs, location="query", as_kwargs=True)
def services(jurisdiction_id: str | None = None, **_args: Any) -> Response:
    """Service list: every request type the city accepts."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    items = [georeport.service_item(s) for s in catalogue.list_services(session, jurisdiction)]
    return respond(items, "services")


@blp.route("/services/<service_code>.<fmt>", methods=["GET"])
@blp.arguments(JurisdictionArgs, location="query", as_kwargs=True)
def service_definition(service_code: str, jurisdiction_id: str | None = None, **_args: Any):
    """Service definition: the questions to answer when filing this type."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    service = catalogue.get_service(session, jurisdiction, service_code)
    return respond(georeport.service_definition(service), "service_definition")


@blp.route("/requests.<fmt>", methods=["POST"])
def post_request() -> Response:
    """File a service request (api_key required)."""
    fields, answers = read_body(request)
    session = database.session()
    client = apikeys.authenticate(session, fields.get("api_key"))
    form = load(RequestForm(), fields)
    jurisdiction = jurisdictions.resolve(session, form.pop("jurisdiction_id", None))
    submission = intake.Submission(**form, attributes=answers)
    stored = intake.submit(session, jurisdiction, client, submission)
    payload = [georeport.post_result(stored, submission.account_id)]
    session.commit()
    return respond(payload, "service_requests")


@blp.route("/requests.<fmt>", methods=["GET"])
@blp.arguments(RequestsArgs, location="query", as_kwargs=True)
def list_requests(
    jurisdiction_id: str | None = None,
    service_request_id: tuple[str, ...] = (),
    service_code: tuple[str, ...] = (),
    status: tuple[str, ...] = (),
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    **_args: Any,
) -> Response:
    """Service requests: newest first, at most 1000, the last 90 days unless dates say otherwise."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    wanted = request_filter(
        service_request_ids=service_request_id,
        service_codes=service_code,
        statuses=tuple(Status(s) for s in status),
        start=start_date,
        end=end_date,
    )
    found = queries.find_requests(session, jurisdiction, wanted)
    return respond([georeport.request_item(r) for r in found], "service_requests")


@blp.route("/requests/<service_request_id>.<fmt>", methods=["GET"])
@blp.arguments(JurisdictionArgs, location="query", as_kwargs=True)
def get_request(service_request_id: str, jurisdiction_id: str | None = None, **_args: Any):
    """One service request, as a one-item list."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    found = queries.get_request(session, jurisdiction, service_request_id)
    if found is None:
        raise UnknownRequest(f"service_request_id {service_request_id} not found")
    return respond([georeport.request_item(found)], "service_requests")


@blp.route("/tokens/<token>.<fmt>", methods=["GET"])
@blp.arguments(JurisdictionArgs, location="query", as_kwargs=True)
def get_token(token: str, jurisdiction_id: str | None = None, **_args: Any) -> Response:
    """The service_request_id a batch POST's token stands for."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    found = queries.get_request_by_token(session, jurisdiction, token)
    if found is None:
        raise UnknownToken(f"token {token} not found")
    return respond([georeport.token_item(found)], "service_requests")
