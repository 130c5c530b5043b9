"""The base of the blueprints under /open311/v2: format suffix, control characters, JSONP."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Response, g, request

from open311.api import links
from open311.api.forms import refuse_control_characters, reject_forbidden
from open311.api.schemas import CallbackArgs
from open311.api.smorest import Blueprint, load
from open311.errors import InvalidInput, NotFound
from open311.i18n import _
from open311.wire import jsonp
from open311.wire.datetimes import precise_w3c
from open311.wire.formats import CONTENT_TYPES, FORMATS, render
from open311.wire.georeport import BASE_PATH

# The API key may come in this header instead of the api_key parameter: a header stays out of
# URLs, and so out of access logs, browser histories and Referer headers.
API_KEY_HEADER = "X-API-Key"


class GeoReportBlueprint(Blueprint):
    """A blueprint of the GeoReport endpoint, at BASE_PATH + `path`.

    A route's `<fmt>` suffix is taken from the URL: `g.representation` is the format asked
    for, one of `formats` (or of `geojson_views`' extra .geojson), anything else a 404; `g.fmt`
    is the format errors are rendered in: `error_format` when given, else the one asked for
    (JSON for GeoJSON). Text XML cannot carry is refused in the path and the query (400).
    With `jsonp`, a GET .json may be wrapped in `callback(...)`."""

    def __init__(
        self,
        name: str,
        import_name: str,
        *,
        description: str,
        path: str = "",
        formats: tuple[str, ...] = FORMATS,
        format_name: str = "format",
        geojson_views: tuple[str, ...] = (),
        error_format: str | None = None,
        jsonp: bool = False,
    ) -> None:
        super().__init__(name, import_name, url_prefix=BASE_PATH + path, description=description)
        self.formats = formats
        self.format_name = format_name
        self.geojson_endpoints = {f"{name}.{view}" for view in geojson_views}
        self.error_format = error_format
        self.url_value_preprocessor(self._take_format)
        self.before_request(refuse_control_characters)
        if jsonp:
            self.before_request(_check_callback)
            self.after_request(_wrap_jsonp)

    def _take_format(self, endpoint: str | None, values: dict[str, Any] | None) -> None:
        values = values if values is not None else {}
        fmt = values.pop("fmt", None)
        if self.error_format is not None:
            g.fmt = self.error_format
        for name, value in values.items():
            if isinstance(value, str):
                reject_forbidden(name, value)
        if fmt is None:
            return
        offered = self.formats + (("geojson",) if endpoint in self.geojson_endpoints else ())
        if fmt not in offered:
            choices = [f".{name}" for name in self.formats]
            raise NotFound(
                _(
                    "%(name)s %(format)s is not supported; use %(choices)s or %(last)s",
                    name=self.format_name,
                    format=fmt[:20],
                    choices=", ".join(choices[:-1]),
                    last=choices[-1],
                )
            )
        g.representation = fmt
        if self.error_format is None:
            g.fmt = fmt if fmt in FORMATS else "json"


def _check_callback() -> None:
    """JSONP is for GET .json only; a bad function name is refused before any work."""
    if request.method != "GET" or not request.args.get("callback", "").strip():
        return
    callback = load(CallbackArgs(), {"callback": request.args["callback"]})["callback"]
    if g.get("representation") != "json":
        raise InvalidInput(_("callback: JSONP is only offered for .json"))
    g.callback = callback.strip()


def _wrap_jsonp(response: Response) -> Response:
    """A successful JSON answer becomes `callback(...)`; errors stay plain JSON, with their
    status, since a script tag cannot read either."""
    callback = g.get("callback")
    if callback and response.status_code == 200 and response.mimetype == "application/json":
        response.set_data(jsonp.wrap(callback, response.get_data()))
        response.content_type = jsonp.CONTENT_TYPE
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def respond(payload: Any, root: str, status: int = 200) -> Response:
    """`payload` as the document `root` in the format asked for (JSON or XML)."""
    return Response(render(payload, g.fmt, root), status=status, content_type=CONTENT_TYPES[g.fmt])


def next_page_link(
    page_size: int, window: tuple[datetime, datetime] | None, **position: str
) -> str:
    """The `Link` header of a GeoReport list's next page: the same arguments with the page
    size, the next page's `position` (page=N or cursor=...) and, when the first page used the
    default window, that window pinned (a cursor alone would lift it)."""
    changes = {"page_size": str(page_size), **position}
    if window is not None:
        start, end = window
        changes["start_date"], changes["end_date"] = precise_w3c(start), precise_w3c(end)
    return links.next_page_link(("page", "cursor", "page_size"), **changes)


def api_key(fields: Mapping[str, Any] | None = None, *, query: bool = False) -> str | None:
    """The key the client sent: the X-API-Key header, or the api_key of the body's `fields`
    (and, with `query`, of the query string). A header and a parameter that differ are a 400
    rather than a guess at which one the client meant."""
    header = request.headers.get(API_KEY_HEADER, "").strip() or None
    parameter = (fields or {}).get("api_key") or (request.args.get("api_key") if query else None)
    if header and parameter and header != parameter:
        raise InvalidInput(
            _("api_key: the %(header)s header and the api_key differ", header=API_KEY_HEADER)
        )
    return header or parameter
