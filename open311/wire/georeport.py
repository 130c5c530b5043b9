"""GeoReport v2 representations: which fields each resource carries, in the spec's order.

Only public fields are read here; the requester's personal data is not reachable from these
functions' inputs, which is what keeps it out of every GET response. The inputs are described
by Protocols (the attributes read, nothing else): the ORM objects fit them, and so does any plain
object with those attributes, so this module knows no database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from shapely.geometry import Point

from open311.values import Datatype, ServiceType, Status

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# Where the GeoReport API is served, under the site root (and under OPEN311_PUBLIC_URL's site).
BASE_PATH = "/open311/v2"
LIST_TYPES = (Datatype.singlevaluelist, Datatype.multivaluelist)


def request_url(endpoint: str, service_request_id: str, jurisdiction_id: str | None = None) -> str:
    """A request's public JSON (GET requests/ID.json) under `endpoint`, the GeoReport endpoint
    URL as OPEN311_PUBLIC_URL gives it (ending in /open311/v2, so no BASE_PATH is added): the
    one place a request's public URL is built (e-mails' links)."""
    url = f"{endpoint.rstrip('/')}/requests/{quote(service_request_id, safe='')}.json"
    if jurisdiction_id is not None:
        url += "?" + urlencode({"jurisdiction_id": jurisdiction_id})
    return url


# The fields of a request, in the order every representation gives them (digest §7.3).
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)


class ServiceLike(Protocol):
    """What a service item shows of a service."""

    @property
    def service_code(self) -> str: ...
    @property
    def service_name(self) -> str: ...
    @property
    def description(self) -> str | None: ...
    @property
    def metadata_(self) -> bool: ...
    @property
    def type(self) -> ServiceType: ...
    @property
    def keywords(self) -> str | None: ...
    @property
    def group(self) -> str | None: ...


class AttributeValueLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def name(self) -> str: ...


class AttributeLike(Protocol):
    """What a service definition shows of one attribute (question)."""

    @property
    def variable(self) -> bool: ...
    @property
    def code(self) -> str: ...
    @property
    def datatype(self) -> Datatype: ...
    @property
    def required(self) -> bool: ...
    @property
    def datatype_description(self) -> str | None: ...
    @property
    def position(self) -> int: ...
    @property
    def description(self) -> str: ...
    @property
    def values(self) -> Sequence[AttributeValueLike]: ...


class DefinitionLike(Protocol):
    @property
    def service_code(self) -> str: ...
    @property
    def attributes(self) -> Sequence[AttributeLike]: ...


class RequestLike(Protocol):
    """What GET requests shows of a request: public fields only."""

    @property
    def service_request_id(self) -> str: ...
    @property
    def status(self) -> Status: ...
    @property
    def status_notes(self) -> str | None: ...
    @property
    def service(self) -> ServiceLike: ...
    @property
    def description(self) -> str | None: ...
    @property
    def agency_responsible(self) -> str | None: ...
    @property
    def service_notice(self) -> str | None: ...
    @property
    def requested_datetime(self) -> datetime: ...
    @property
    def updated_datetime(self) -> datetime | None: ...
    @property
    def expected_datetime(self) -> datetime | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def address_id(self) -> str | None: ...
    @property
    def zipcode(self) -> str | None: ...
    @property
    def point(self) -> Point | None: ...
    @property
    def media_url(self) -> str | None: ...
    @property
    def token(self) -> str | None: ...


def csv_header(near: bool) -> str:
    """The export's CSV header: the public fields, and `distance` for radius queries."""
    return ",".join(REQUEST_FIELDS + (("distance",) if near else ()))


def _blank_to_none(value: str | None) -> str | None:
    return value if value else None


def service_item(service: ServiceLike) -> dict[str, Any]:
    return {
        "service_code": service.service_code,
        "service_name": service.service_name,
        "description": _blank_to_none(service.description),
        "metadata": service.metadata_,
        "type": service.type.value,
        "keywords": _blank_to_none(service.keywords),
        "group": _blank_to_none(service.group),
    }


def attribute_item(attribute: AttributeLike) -> dict[str, Any]:
    item: dict[str, Any] = {
        "variable": attribute.variable,
        "code": attribute.code,
        "datatype": attribute.datatype.value,
        "required": attribute.required,
        "datatype_description": _blank_to_none(attribute.datatype_description),
        "order": attribute.position,
        "description": attribute.description,
    }
    if attribute.datatype in LIST_TYPES:
        item["values"] = [{"key": v.key, "name": v.name} for v in attribute.values]
    return item


def service_definition(service: DefinitionLike) -> dict[str, Any]:
    return {
        "service_code": service.service_code,
        "attributes": [attribute_item(a) for a in service.attributes],
    }


def request_item(request: RequestLike) -> dict[str, Any]:
    lat = long = None
    point = request.point
    if point is not None:
        lat, long = point.y, point.x
    return {
        "service_request_id": request.service_request_id,
        "status": request.status.value,
        "status_notes": _blank_to_none(request.status_notes),
        "service_name": request.service.service_name,
        "service_code": request.service.service_code,
        "description": _blank_to_none(request.description),
        "agency_responsible": _blank_to_none(request.agency_responsible),
        "service_notice": _blank_to_none(request.service_notice),
        "requested_datetime": request.requested_datetime,
        "updated_datetime": request.updated_datetime,
        "expected_datetime": request.expected_datetime,
        "address": _blank_to_none(request.address),
        "address_id": _blank_to_none(request.address_id),
        "zipcode": _blank_to_none(request.zipcode),
        "lat": lat,
        "long": long,
        "media_url": _blank_to_none(request.media_url),
    }


def post_result(request: RequestLike, account_id: str | None) -> dict[str, Any]:
    """realtime: the id; batch: a token instead; blackbox: neither (spec §5)."""
    item: dict[str, Any] = {}
    if request.service.type == ServiceType.realtime:
        item["service_request_id"] = request.service_request_id
    elif request.service.type == ServiceType.batch:
        item["token"] = request.token
    item["service_notice"] = _blank_to_none(request.service_notice)
    item["account_id"] = account_id
    return item


def token_item(request: RequestLike) -> dict[str, Any]:
    return {"service_request_id": request.service_request_id, "token": request.token}


def discovery(
    *,
    url: str,
    changeset: str,
    contact: str,
    key_service: str,
    endpoint_type: str,
    locales: Sequence[str] = (),
    default_locale: str | None = None,
) -> dict[str, Any]:
    """The spec's discovery document; with `locales` (an extension) the languages the city
    serves and the one it writes in, after the spec's fields."""
    languages: dict[str, Any] = {}
    if locales:
        languages = {"locales": list(locales), "default_locale": default_locale}
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": changeset,
                "type": endpoint_type,
                "formats": ["text/xml", "application/json"],
            }
        ],
        **languages,
    }


# --- items from plain database rows, distance and the Chicago-style extensions -----------------


def request_item_from_row(values: Sequence[Any]) -> dict[str, Any]:
    """The item of `request_item`, from the REQUEST_FIELDS columns of a plain row (blank strings
    already null, datetimes already W3C text: the database did that work)."""
    return dict(zip(REQUEST_FIELDS, values, strict=True))


def extended_attributes(
    channel: str | None,
    districts: dict[str, str],
    crew: str | None,
    parent_service_request_id: str | None = None,
    media_urls: Sequence[str] = (),
) -> dict[str, Any]:
    """Chicago's `extended_attributes` (digest §9.2): intake channel, the district of each
    boundary layer (layer name -> district name), whether the request is linked as a duplicate
    (suspected at intake or merged) and of which request, the crew of the request's current
    open work order, and the URLs of all its photos (media_url holds only the first)."""
    return {
        "channel": channel,
        "districts": districts,
        "duplicate": parent_service_request_id is not None,
        "parent_service_request_id": parent_service_request_id,
        "crew": crew,
        "media_urls": list(media_urls),
    }


def extend_item(
    item: dict[str, Any],
    *,
    channel: str | None,
    districts_json: str,
    crew: str | None,
    notes_json: str,
    parent_service_request_id: str | None = None,
    media_urls_json: str = "[]",
) -> dict[str, Any]:
    """Add `extended_attributes` and `notes` to an item; districts, notes and media URLs come
    as the JSON text the database built for the `.json` representation, so both formats say
    the same."""
    item["extended_attributes"] = extended_attributes(
        channel,
        json.loads(districts_json),
        crew,
        parent_service_request_id,
        json.loads(media_urls_json),
    )
    item["notes"] = json.loads(notes_json)
    return item


_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def xml_name(name: str) -> str:
    """A layer name as an XML element name: other characters become `_`, and a name that could
    not start an element (a digit, `-`, `.`, or the reserved `xml` prefix) gets a leading `_`."""
    safe = _NOT_NAME.sub("_", name) or "_"
    if not (safe[0].isalpha() or safe[0] == "_") or safe.lower().startswith("xml"):
        safe = "_" + safe
    return safe


def for_xml(item: dict[str, Any]) -> dict[str, Any]:
    """The item with district layer names made element names (JSON keeps them as they are),
    and media URLs as `<media_urls><media_url>...</media_url>...</media_urls>`."""
    extended = item.get("extended_attributes")
    if extended and extended["districts"]:
        extended["districts"] = {xml_name(k): v for k, v in extended["districts"].items()}
    if extended and "media_urls" in extended:
        extended["media_urls"] = {"media_url": extended["media_urls"]}
    return item
