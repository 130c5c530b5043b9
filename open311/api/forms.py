"""Reading what clients send, and refusing text XML cannot carry.

A POST body comes as GeoReport clients send it (form-encoded, multipart or JSON), with photos as
the `media` file parts of a multipart body (GeoReport v2.1 draft).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flask import Request, current_app
from flask import request as http
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from open311.errors import InvalidInput
from open311.i18n import _, n_
from open311.media.photos import Upload, label
from open311.wire.formats import XML_FORBIDDEN

ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MULTIPART = "multipart/form-data"
MEDIA_FIELD = "media"
# No GeoReport or staff body nests deeper than a few levels; 32 leaves room and bounds the work
# (json.loads recurses: a thousand levels exhaust Python's recursion limit).
MAX_JSON_DEPTH = 32


def read_body(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(plain fields, attribute answers by code); 415 for a body type we do not read, 413 for
    fields larger than the form limit (photos apart: MAX_CONTENT_LENGTH makes room for them,
    and only multipart bodies may carry them). The body itself is limited before the view
    runs (api.limits), unread when it is too large."""
    mimetype = request.mimetype
    limit = form_limit(current_app.config) if current_app else None
    if mimetype == "application/json":
        return _from_json(request.get_json(silent=True))
    if mimetype in FORM_TYPES or (not mimetype and not request.content_length):
        # A multipart part without a name (werkzeug gives None) answers no field: skipped.
        pairs = [(k, v) for k, v in request.form.items(multi=True) if k is not None]
        if limit is not None and sum(len(k) + len(v) for k, v in pairs) > limit:
            raise RequestEntityTooLarge()
        return _from_pairs(pairs)
    raise UnsupportedMediaType()


def form_limit(config: Mapping[str, Any]) -> int | None:
    """The bytes a body's fields may take: OPEN311_MAX_BODY_BYTES (config.Settings makes
    MAX_CONTENT_LENGTH larger by the photos' allowance), else MAX_CONTENT_LENGTH."""
    explicit = config.get("OPEN311_MAX_BODY_BYTES")
    return int(explicit) if explicit else config.get("MAX_CONTENT_LENGTH")


def read_photos(request: Request) -> list[Upload]:
    """read_media with the app's limits (OPEN311_MEDIA_MAX_BYTES, OPEN311_MEDIA_MAX_COUNT)."""
    config = current_app.config
    return read_media(
        request,
        max_bytes=config["OPEN311_MEDIA_MAX_BYTES"],
        max_count=config["OPEN311_MEDIA_MAX_COUNT"],
    )


def read_media(request: Request, *, max_bytes: int, max_count: int) -> list[Upload]:
    """The `media` file parts of a multipart body, in order, read into memory: more than
    `max_count` is a 400 and one over `max_bytes` a 413, before any is decoded. Their type is
    not looked at here (media.images checks the bytes). An empty part without a file name is
    what a browser sends for a file input left empty: it is skipped."""
    if request.mimetype != MULTIPART:
        return []
    if MEDIA_FIELD in request.form:
        raise InvalidInput(_("media: send photos as file parts (a file name in the part's header)"))
    parts = [
        part for part in request.files.getlist(MEDIA_FIELD) if part.filename or _not_empty(part)
    ]
    if len(parts) > max_count:
        raise InvalidInput(
            n_(
                "media: at most %(count)s photo may be sent at once",
                "media: at most %(count)s photos may be sent at once",
                max_count,
            )
        )
    uploads = []
    for index, part in enumerate(parts):
        data = part.stream.read(max_bytes + 1)
        upload = Upload(part.filename or "", data)
        if len(data) > max_bytes:
            too_large = RequestEntityTooLarge()
            too_large.open311_message = _(  # type: ignore[attr-defined]
                "media: %(photo)s is larger than %(limit)s bytes",
                photo=label(upload, index),
                limit=max_bytes,
            )
            raise too_large
        uploads.append(upload)
    return uploads


def _not_empty(part) -> bool:
    position = part.stream.tell()
    empty = part.stream.read(1) == b""
    part.stream.seek(position)
    return not empty


def parse_json(text: str | bytes) -> Any:
    """A JSON request body as Python values; nested deeper than MAX_JSON_DEPTH is a 400 (not
    the RecursionError a deep enough document gives json.loads). Malformed JSON raises
    ValueError, as json.loads does, for the caller to report."""
    too_deep = InvalidInput(
        _("the JSON body is nested more than %(depth)s levels deep", depth=MAX_JSON_DEPTH)
    )
    try:
        document = json.loads(text)
    except RecursionError:
        raise too_deep from None
    if _depth_exceeds(document, MAX_JSON_DEPTH):
        raise too_deep
    return document


def _depth_exceeds(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep; iterative, so that no depth
    can exhaust the stack here."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children)
    return False


def repeated(request: Request, fields: dict[str, str], name: str) -> list[str]:
    """Every value of a field a form body repeats (FixMyStreet repeats media_url; read_body
    keeps the first), blanks skipped; a JSON body carries one."""
    if request.mimetype in FORM_TYPES:
        values = request.form.getlist(name)
    else:
        values = [fields[name]] if name in fields else []
    return [value.strip() for value in values if value.strip()]


def _from_pairs(pairs) -> tuple[dict[str, str], dict[str, list[str]]]:
    plain: dict[str, str] = {}
    answers: dict[str, list[str]] = {}
    for key, value in pairs:
        reject_forbidden(key, value)
        match = ATTRIBUTE_KEY.match(key)
        if match:
            answers.setdefault(match.group(1), []).append(value)
        else:
            # A repeated plain field: the first one counts (`repeated` reads them all).
            plain.setdefault(key, value)
    return plain, answers


def _from_json(document: Any) -> tuple[dict[str, str], dict[str, list[str]]]:
    if not isinstance(document, dict):
        raise InvalidInput(_("the JSON body must be an object of GeoReport fields"))
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
        raise InvalidInput(_("%(field)s: must be a string or a number", field=key))
    return str(value)


def reject_forbidden(key: str, value: str) -> None:
    """Characters XML 1.0 cannot carry would poison every later XML response: refuse them now."""
    if XML_FORBIDDEN.search(key) or XML_FORBIDDEN.search(value):
        raise InvalidInput(
            _("%(field)s: contains control characters", field=XML_FORBIDDEN.sub("?", key))
        )


def refuse_control_characters() -> None:
    """A before-request hook: the query string's text is refused as `reject_forbidden` says."""
    for key, value in http.args.items(multi=True):
        reject_forbidden(key, value)
