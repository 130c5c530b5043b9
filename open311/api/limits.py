"""Limits before work: how large a request body and how deep a JSON document may be, checked
before any view, argument parser or authentication looks at them.

An anonymous client must not make a worker read, parse or hold more than the endpoint needs:
every body is limited to OPEN311_MAX_BODY_BYTES (1 MiB) and refused with 413 from its
Content-Length alone, unread; only the photo endpoints take a multipart body up to the
photos' allowance (MAX_CONTENT_LENGTH, see config.Settings.flask_config). A chunked body, which
has no length to check, is cut off with the same 413 as soon as it grows past the limit.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

from open311.api.forms import MULTIPART, form_limit, parse_json
from open311.i18n import _

# The views that take photos, as multipart `media` parts (POST requests, POST updates).
PHOTO_ENDPOINTS = frozenset({"georeport.post_request", "updates.post_update"})


def init_app(app: Flask) -> None:
    app.before_request(limit_body)
    app.json = JSONProvider(app)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with request bodies read by forms.parse_json (nesting depth bounded):
    request.get_json() and everything built on it go through `loads`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_json(s)


def body_limit() -> int | None:
    """The bytes this request's body may have: MAX_CONTENT_LENGTH (the fields and the photos'
    allowance) for a multipart POST to a photo endpoint, else the fields' limit
    (OPEN311_MAX_BODY_BYTES) within it."""
    config = current_app.config
    ceiling = config.get("MAX_CONTENT_LENGTH")
    if request.endpoint in PHOTO_ENDPOINTS and request.mimetype == MULTIPART:
        return ceiling
    limits = [limit for limit in (form_limit(config), ceiling) if limit is not None]
    return min(limits, default=None)


def limit_body() -> None:
    """A before-request hook of the app (before every blueprint's): a body declared larger
    than its limit is a 413 now, before anything reads it; a chunked body is read through
    CappedStream, which raises the same 413 once it delivers more than the limit."""
    limit = body_limit()
    if limit is None:
        return
    if request.content_length is not None:
        request.max_content_length = limit
        if request.content_length > limit:
            raise _too_large(limit)
    elif "wsgi.input_terminated" in request.environ:
        # werkzeug would cut such a stream at max_content_length and hand on the truncated
        # body as if whole (a JSON error at best, a form missing its last fields at worst).
        request.environ["wsgi.input"] = CappedStream(request.environ["wsgi.input"], limit)
        request.max_content_length = None


def _too_large(limit: int) -> RequestEntityTooLarge:
    too_large = RequestEntityTooLarge()
    too_large.open311_message = _(  # type: ignore[attr-defined]
        "the request body is larger than the %(limit)s bytes this endpoint takes",
        limit=format(limit, ","),
    )
    return too_large


class CappedStream(io.RawIOBase):
    """A body without a length, read as it comes: 413 as soon as it has delivered more than
    `limit` bytes, so that no more than that (and one read's worth) is ever held."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(min(len(buffer), self._limit + 1 - self._delivered) or 1)
        self._delivered += len(data)
        if self._delivered > self._limit:
            raise _too_large(self._limit)
        buffer[: len(data)] = data
        return len(data)
