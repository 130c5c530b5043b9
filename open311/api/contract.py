"""What /openapi.json says every operation can answer, so a client generated from it works.

flask-smorest documents what the views declare: their arguments and, for the staff API, their
success bodies. What the edge adds is documented here, once, by an apispec plugin: the error
answers (the GeoReport error list of open311/api/errors.py, in JSON and, under /open311/v2 with
a format suffix, XML too), with the statuses each operation can give and the headers of 429 and
503; the `{fmt}` suffix's choices; and the GeoReport POST bodies, which views read themselves
(forms.read_body: form-encoded, multipart or JSON) instead of through a declared schema.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields, validate

from open311.wire import geojson, jsonp
from open311.wire.formats import CONTENT_TYPES

GEOREPORT = "/open311/v2"
STAFF = "/api/v1"
JSON = CONTENT_TYPES["json"].split(";")[0]
XML = CONTENT_TYPES["xml"].split(";")[0]
GEOJSON = geojson.CONTENT_TYPE.split(";")[0]
JSONP = jsonp.CONTENT_TYPE.split(";")[0]
EXPORT_TYPES = ("text/csv", "application/x-ndjson", GEOJSON)
BINARY = {"type": "string", "format": "binary"}
WRITES = frozenset({"post", "put", "patch", "delete"})

ERROR_LIST = {
    "type": "array",
    "description": "The GeoReport error list; in XML <errors><error><code/><description/>.",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}
# XML answers carry the JSON answer's fields as elements (GeoReport §1.2): lists in a plural
# container, each item an element named in the singular, leaf values as text.
XML_ERRORS = {
    **ERROR_LIST,
    "xml": {"name": "errors", "wrapped": True},
    "items": {**ERROR_LIST["items"], "xml": {"name": "error"}},
}
XML_ANSWER = {"description": "The JSON answer's fields as XML elements (GeoReport §1.2)"}
RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
RATE_LIMIT_HEADERS = {
    "Retry-After": RETRY_AFTER,
    "RateLimit": {
        "description": "draft-ietf-httpapi-ratelimit-headers",
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {"description": "The limit's quota", "schema": {"type": "string"}},
}
REASONS = {
    400: "Invalid arguments or body",
    401: "No bearer token, or one not recognised, expired or revoked",
    403: "An api_key or a role that may not do this",
    404: "No such resource (or format suffix)",
    405: "Method not allowed",
    413: "The request body is too large",
    409: "What the body asks to create exists already",
    415: "A body type the server does not read",
    422: "An Idempotency-Key reused with a different body",
    429: "A rate limit reached",
    503: "The database is unavailable for a moment, or the query ran too long",
}
# What each GeoReport route's `{fmt}` may be; the rest offer json and xml.
FORMAT_CHOICES = {
    "/open311/v2/requests.{fmt}": ["json", "xml", "geojson"],
    "/open311/v2/requests/{service_request_id}.{fmt}": ["json", "xml", "geojson"],
    "/open311/v2/exports/requests.{fmt}": ["csv", "ndjson", "geojson"],
}
# The key of an API client, in the body, the query or the X-API-Key header (georeport_base).
API_KEY = {
    "type": "string",
    "description": "The API client's key; or send it in the X-API-Key header instead, which "
    "keeps it out of URLs and logs",
}
API_KEY_HEADER = {
    "in": "header",
    "name": "X-API-Key",
    "required": False,
    "schema": {"type": "string"},
}
# The GeoReport POST bodies read by forms.read_body, as a form (attribute[CODE] answers too).
# The api_key is required unless the X-API-Key header carries it.
POST_FIELDS: dict[str, dict[str, Any]] = {
    "/open311/v2/requests.{fmt}": {
        "api_key": API_KEY,
        "service_code": {"type": "string"},
    },
    "/open311/v2/servicerequestupdates.{fmt}": {
        "api_key": API_KEY,
        "service_request_id": {"type": "string"},
    },
}
OPTIONAL_FIELDS = frozenset({"api_key"})
WEBHOOKS = ("/open311/v2/webhooks.json", "/open311/v2/webhooks/{subscription_id}.json")


def error_content(xml: bool) -> dict[str, Any]:
    content: dict[str, Any] = {JSON: {"schema": ERROR_LIST}}
    if xml:
        content[XML] = {"schema": XML_ERRORS}
    return content


def error_response(status: int, xml: bool) -> dict[str, Any]:
    response: dict[str, Any] = {"description": REASONS[status], "content": error_content(xml)}
    if status == 429:
        response["headers"] = RATE_LIMIT_HEADERS
    elif status == 503:
        response["headers"] = {"Retry-After": RETRY_AFTER}
    elif status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The statuses this operation can answer with an error list."""
    # 404 everywhere: a path's id, a format suffix, or an id a body refers to may not exist.
    statuses = {400, 404, 429, 503}
    if method in WRITES:
        statuses |= {413, 415}
    if method == "post" and path.startswith(STAFF):
        statuses.add(409)  # a code or username that exists already
    if operation.get("security"):
        statuses |= {401, 403}
    if path.endswith("/login"):
        statuses.add(401)
    if path.startswith(GEOREPORT) and (method in WRITES or "webhooks" in path):
        statuses.add(403)  # api_key
    if method == "post" and path.startswith(GEOREPORT):
        statuses.add(422)  # Idempotency-Key reused
    return statuses


class ContractPlugin(BasePlugin):
    """Adds to each operation what the edge answers (see the module's docstring)."""

    def init_spec(self, spec: APISpec) -> None:
        # flask-smorest initialises its marshmallow plugin before the extra ones.
        for plugin in spec.plugins:
            if isinstance(plugin, MarshmallowPlugin) and plugin.converter is not None:
                plugin.converter.add_attribute_function(exclusive_bounds)
                plugin.converter.add_attribute_function(key_lengths)

    def path_helper(self, path=None, operations=None, parameters=None, **kwargs):
        for parameter in parameters or []:
            if parameter.get("in") == "path" and parameter.get("name") == "fmt":
                parameter["schema"] = {
                    "type": "string",
                    "enum": FORMAT_CHOICES.get(path, ["json", "xml"]),
                }
        return None

    def operation_helper(self, path=None, operations=None, **kwargs):
        if path is None or not operations:
            return
        xml = path.startswith(GEOREPORT) and "{fmt}" in path and "exports" not in path
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("default", None)
            if not any(str(status).startswith("2") for status in responses):
                status, response = success(path, method, xml)
                responses[status] = response
            # /media has no format suffix: its errors are in XML, the spec's mandatory format.
            errors_xml = xml or path.startswith("/media/")
            for status in sorted(error_statuses(path, method, operation)):
                responses[str(status)] = error_response(status, errors_xml)
            if path in FORMAT_CHOICES and method != "get":
                # Only GET offers the extra formats; an operation's parameter overrides the path's.
                operation.setdefault("parameters", []).append(
                    {
                        "in": "path",
                        "name": "fmt",
                        "required": True,
                        "schema": {"type": "string", "enum": ["json", "xml"]},
                    }
                )
            if path in POST_FIELDS and method == "post":
                operation["requestBody"] = form_body(POST_FIELDS[path])
            if path.startswith(GEOREPORT):
                document_api_key(path, method, operation)


def document_api_key(path: str, method: str, operation: dict[str, Any]) -> None:
    """The X-API-Key header on every GeoReport operation (a write's key; a read's, for the
    client's own rate limit); on the webhooks' operations, the api_key of the query too."""
    parameters = operation.setdefault("parameters", [])
    described = {(p.get("in"), p.get("name")) for p in parameters if isinstance(p, dict)}
    if method in WRITES or path in WEBHOOKS:
        purpose = "The API client's key, instead of the api_key parameter."
    else:
        purpose = "An API client's key: the call counts against the client's own rate limit."
    if ("header", "X-API-Key") not in described:
        parameters.append({**API_KEY_HEADER, "description": purpose})
    if path in WEBHOOKS and ("query", "api_key") not in described:
        parameters.append(
            {"in": "query", "name": "api_key", "required": False, "schema": {**API_KEY}}
        )


def exclusive_bounds(_converter: Any, field: fields.Field, **_kwargs: Any) -> dict[str, Any]:
    """apispec states a Range's bounds as inclusive; an exclusive one (hours > 0) says so."""
    bounds: dict[str, Any] = {}
    for rule in field.validators:
        if isinstance(rule, validate.Range):
            if rule.min is not None and not rule.min_inclusive:
                bounds["exclusiveMinimum"] = True
            if rule.max is not None and not rule.max_inclusive:
                bounds["exclusiveMaximum"] = True
    return bounds


def key_lengths(_converter: Any, field: fields.Field, **_kwargs: Any) -> dict[str, Any]:
    """A Dict's key Length as propertyNames (JSON Schema; schemathesis and most validators read
    it, though OpenAPI 3.0 does not list it), so that no schema-valid key is refused."""
    keys = getattr(field, "key_field", None)
    if not isinstance(field, fields.Dict) or keys is None:
        return {}
    names: dict[str, Any] = {}
    for rule in keys.validators:
        if isinstance(rule, validate.Length):
            if rule.min is not None:
                names["minLength"] = rule.min
            if rule.max is not None:
                names["maxLength"] = rule.max
    return {"propertyNames": names} if names else {}


def success(path: str, method: str, xml: bool) -> tuple[str, dict[str, Any]]:
    """(status, response) of a view that renders its own answer."""
    if path.startswith("/media/"):
        return "200", {"description": "The photo", "content": {"image/*": {"schema": BINARY}}}
    if "exports" in path:
        content = {kind: {"schema": {}} for kind in EXPORT_TYPES}
        content["text/csv"] = {"schema": {"type": "string"}}
        return "200", {"description": "The export, streamed", "content": content}
    content: dict[str, Any] = {JSON: {"schema": {}}}
    if xml:
        content[XML] = {"schema": XML_ANSWER}
    if path in FORMAT_CHOICES and method == "get":
        content[GEOJSON] = {"schema": {"type": "object"}}
    if path.startswith(GEOREPORT) and method == "get" and "webhooks" not in path:
        content[JSONP] = {"schema": {"type": "string"}}  # GET .json?callback=name
    status = "201" if (method, path) == ("post", "/open311/v2/webhooks.json") else "200"
    return status, {"description": "OK", "content": content}


def form_body(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": fields,
        "required": [name for name in fields if name not in OPTIONAL_FIELDS],
        # Other fields are read too (the standard's, and attribute[CODE] answers).
        "additionalProperties": {"type": "string"},
    }
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "multipart/form-data": {"schema": schema},
            JSON: {"schema": schema},
        },
    }


# Text XML 1.0 cannot carry is refused everywhere (forms.reject_forbidden): a string argument
# is documented with the pattern that says so, so that no schema-valid value is refused for it.
XML_SAFE = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\ufffe\\uffff]*$"


def finish(spec: APISpec) -> None:
    """Once every blueprint is registered: every string argument, in the path, the query or a
    body, is XML-safe text, and a staff body's unknown field is refused (StaffBody)."""
    for name, schema in spec.components.schemas.items():
        _xml_safe(schema)
        if name.endswith("Body") and "properties" in schema:
            schema.setdefault("additionalProperties", False)
    for item in spec._paths.values():
        for parameter in item.get("parameters", []):
            _xml_safe(parameter.get("schema", {}))
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if isinstance(parameter, dict):
                    _xml_safe(parameter.get("schema", {}))
            for content in operation.get("requestBody", {}).get("content", {}).values():
                _xml_safe(content.get("schema", {}))


def _xml_safe(schema: Any) -> None:
    if isinstance(schema, list):
        for member in schema:
            _xml_safe(member)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "object" or "properties" in schema:
        schema.setdefault("propertyNames", {}).setdefault("pattern", XML_SAFE)
    if schema.get("type") == "string" and not ({"enum", "format", "pattern"} & set(schema)):
        schema["pattern"] = XML_SAFE
    for key in ("properties",):
        for member in schema.get(key, {}).values():
            _xml_safe(member)
    for key in ("items", "additionalProperties", "allOf", "anyOf", "oneOf"):
        if key in schema:
            _xml_safe(schema[key])
