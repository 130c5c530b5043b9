"""Reading a POST body the way GeoReport clients send it: form-encoded, multipart or JSON."""

from __future__ import annotations

import re
from typing import Any

from flask import Request
from werkzeug.exceptions import UnsupportedMediaType

from open311.errors import InvalidInput
from open311.wire.formats import XML_FORBIDDEN

ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def read_body(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(plain fields, attribute answers by code); 415 for a body type we do not read."""
    mimetype = request.mimetype
    if mimetype == "application/json":
        return _from_json(request.get_json(silent=True))
    if mimetype in FORM_TYPES or (not mimetype and not request.content_length):
        return _from_pairs(request.form.items(multi=True))
    raise UnsupportedMediaType()


def _from_pairs(pairs) -> tuple[dict[str, str], dict[str, list[str]]]:
    plain: dict[str, str] = {}
    answers: dict[str, list[str]] = {}
    for key, value in pairs:
        reject_forbidden(key, value)
        match = ATTRIBUTE_KEY.match(key)
        if match:
            answers.setdefault(match.group(1), []).append(value)
        else:
            # A repeated plain field (FixMyStreet repeats media_url): the first one counts.
            plain.setdefault(key, value)
    return plain, answers


def _from_json(document: Any) -> tuple[dict[str, str], dict[str, list[str]]]:
    if not isinstance(document, dict):
        raise InvalidInput("the JSON body must be an object of GeoReport fields")
    pairs: list[tuple[str, str]] = []
    for key, value in document.items():
        if key == "attribute" and isinstance(value, dict):
            for code, answer in value.items():
                for item in answer if isinstance(answer, list) else [answer]:
                    pairs.append((f"attribute[{code}]", _scalar(f"attribute[{code}]", item)))
        elif isinstance(value, list) and ATTRIBUTE_KEY.match(key):
            pairs += [(key, _scalar(key, item)) for item in value]
        elif value is not None:
            pairs.append((key, _scalar(key, value)))
    return _from_pairs(pairs)


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{key}: must be a string or a number")
    return str(value)


def reject_forbidden(key: str, value: str) -> None:
    """Characters XML 1.0 cannot carry would poison every later XML response: refuse them now."""
    if XML_FORBIDDEN.search(key) or XML_FORBIDDEN.search(value):
        raise InvalidInput(f"{XML_FORBIDDEN.sub('?', key)}: contains control characters")
