"""Project base classes for flask-smorest: argument errors become GeoReport 400s, not 422s."""

from __future__ import annotations

from typing import Any

import flask_smorest
from flask import Request
from marshmallow import EXCLUDE, Schema, ValidationError, missing, pre_load
from webargs.flaskparser import FlaskParser, is_json_request

from open311.api import errors
from open311.api.forms import parse_json
from open311.errors import InvalidInput


def flatten_messages(messages: Any, field: str | None = None) -> list[str]:
    """marshmallow's nested {location: {field: [msg]}} as flat 'field: msg' lines."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            name = field if key in ("query", "form", "json", "json_or_form", "_schema") else key
            lines += flatten_messages(value, name if isinstance(name, str) else field)
        return lines
    if isinstance(messages, list):
        return [line for message in messages for line in flatten_messages(message, field)]
    text = str(messages)
    return [f"{field}: {text}" if field and not text.startswith(field) else text]


class GeoReportParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req: Request) -> Any:
        """webargs' own reading of a JSON body, with forms.parse_json's depth bound (webargs
        calls json.loads itself, not the app's JSON provider)."""
        if not is_json_request(req):
            return missing
        return parse_json(req.get_data(cache=True))

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        raise InvalidInput(*flatten_messages(error.messages))


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = GeoReportParser()


class Api(flask_smorest.Api):
    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)


class BaseSchema(Schema):
    """Unknown parameters are ignored (clients add their own) and empty ones count as absent."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def drop_empty(self, data, **kwargs):
        # Whitespace-only counts as empty too: "   " is no more a value than "" (digest §1.4).
        return {
            key: value
            for key, value in data.items()
            if value is not None and not (isinstance(value, str) and not value.strip())
        }


class StaffBody(Schema):
    """A staff API body: an unknown field is a mistake worth a 400 (marshmallow's default,
    RAISE), not something to ignore as GeoReport arguments are. Control characters are refused
    for every staff body by StaffBlueprint."""


def load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as error:
        raise InvalidInput(*flatten_messages(error.messages)) from None
