"""Shared helpers for API tests: URLs, reading either wire format back, and row counts.

XML is read back into plain data with the spec's own container/item names (digest §1.2), written
out here rather than imported from open311.wire, so a renamed element fails a test.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from open311.db.models import Requester, ServiceRequest

BASE = "/open311/v2"
FORMATS = ("json", "xml")
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "text/xml; charset=utf-8",
}

# Container element -> item element, as the spec names them.
CONTAINERS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "notes": "note",
}
# Items that are records even when every field of theirs was left out.
RECORDS = {"service", "attribute", "value", "request", "error", "endpoint", "note"}


def url(resource: str, fmt: str) -> str:
    """`url("services/3.1", "json")` -> `/open311/v2/services/3.1.json`."""
    return f"{BASE}/{resource}.{fmt}"


def from_xml(element: ET.Element) -> Any:
    """An XML element as plain data: containers become lists, records dicts, leaves strings."""
    assert not element.attrib, f"GeoReport XML carries no attributes: {element.attrib}"
    item = CONTAINERS.get(element.tag)
    if item is not None:
        tags = [child.tag for child in element]
        assert all(tag == item for tag in tags), f"<{element.tag}> holds {tags}, not <{item}>"
        return [from_xml(child) for child in element]
    if len(element) or element.tag in RECORDS:
        tags = [child.tag for child in element]
        assert len(tags) == len(set(tags)), f"repeated elements in <{element.tag}>: {tags}"
        return {child.tag: from_xml(child) for child in element}
    return element.text or ""


def body(response, fmt: str, root: str | None = None) -> Any:
    """The response as plain data after checking its Content-Type (and the XML root's name)."""
    assert response.headers["Content-Type"] == CONTENT_TYPES[fmt]
    if fmt == "json":
        return response.get_json()
    assert response.data.lower().startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    document = ET.fromstring(response.data)
    if root is not None:
        assert document.tag == root
    return from_xml(document)


def wire(value: Any, fmt: str) -> Any:
    """What `value` looks like once rendered in `fmt` and read back with `body()`.

    JSON keeps types and nulls; XML turns scalars into text, booleans into true/false and
    leaves out elements whose value is empty (digest §11).
    """
    if fmt == "json":
        return value
    if isinstance(value, dict):
        return {k: wire(v, fmt) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [wire(v, fmt) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def errors(response, fmt: str, status: int) -> list[str]:
    """Check an error response (status, type, shape, codes) and return its descriptions."""
    assert response.status_code == status, response.data
    items = body(response, fmt, "errors")
    assert isinstance(items, list)
    assert items, "an error response lists at least one error"
    for item in items:
        assert set(item) == {"code", "description"}
        if fmt == "json":
            assert item["code"] == status
            assert isinstance(item["description"], str)
        else:
            assert item["code"] == str(status)
        assert item["description"]
    return [item["description"] for item in items]


def counts(session: Session) -> tuple[int, int]:
    """(service_request rows, requester rows): compare before and after a refused POST."""
    return (
        session.scalar(select(func.count()).select_from(ServiceRequest)),
        session.scalar(select(func.count()).select_from(Requester)),
    )


def form(*pairs: tuple[str, str], **fields: str) -> MultiDict:
    """A form body that may repeat keys: `form(("attribute[C][]", "a"), api_key=k)`."""
    data = MultiDict(list(pairs))
    for key, value in fields.items():
        data.add(key, value)
    return data


# --- issue 4: GeoJSON, paging headers --------------------------------------------------------

GEOJSON_TYPE = "application/geo+json; charset=utf-8"


def next_link(response) -> str | None:
    """The `rel="next"` URL of a Link header as a path with its query (for the test client),
    after checking it is absolute."""
    header = response.headers.get("Link")
    if not header:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', header)
    assert match, header
    parts = urlsplit(match.group(1))
    assert parts.scheme in ("http", "https") and parts.netloc, header
    return parts.path + "?" + parts.query


def items_of(response, fmt: str) -> list[Any]:
    """The requests of a successful list answer in `fmt` (json, xml or geojson)."""
    assert response.status_code == 200, response.data
    if fmt == "geojson":
        assert response.headers["Content-Type"] == GEOJSON_TYPE
        collection = response.get_json()
        assert collection["type"] == "FeatureCollection"
        return [feature["properties"] for feature in collection["features"]]
    return body(response, fmt, "service_requests")
