"""Mapbox vector tiles of requests and districts, made by PostGIS (ST_AsMVT).

GET /tiles/requests/{z}/{x}/{y}.mvt: the requests GET requests.json would publish (the same
Scope, the same conditions: db/tile_queries.py), filtered by status, service_code,
start_date and end_date, parsed by the API's own fields; aggregated into grid cells below
tile_queries.POINTS_FROM_ZOOM. GET /tiles/districts/{z}/{x}/{y}.mvt?layer=...: a boundary layer's
districts (the jurisdiction's first layer by name when none is named).

Errors are GeoReport JSON errors (a map's tile request is an API call, not a page), and every
one that input alone can tell (a tile outside the world, a malformed filter) is answered
before the database is asked. Answers carry an ETag that costs one small statement to check,
so a map that revalidates its tiles is answered 304 without any tile being made.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, g, request
from marshmallow import fields, validate

from open311.api import database, ratelimits
from open311.api.schemas import CommaList, JurisdictionArgs, W3CDateTime
from open311.api.smorest import load
from open311.db import search_queries, tile_queries
from open311.db.search_queries import RequestSearch, Scope
from open311.domain import jurisdictions, publication
from open311.domain.requests_window import as_utc
from open311.errors import InvalidInput, NotFound
from open311.i18n import _
from open311.values import Status

blp = Blueprint("tiles", __name__, url_prefix="/tiles")

CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
# Requests change all day: a minute's cache, then a revalidation that is mostly a 304.
REQUESTS_MAX_AGE_S = 60
# Districts change when a layer is imported again: a day, then a revalidation.
DISTRICTS_MAX_AGE_S = 86400
# Bumped when what a tile holds changes shape (fields, aggregation), so old ETags miss.
TILE_FORMAT = "1"


class RequestTileArgs(JurisdictionArgs):
    """The filters of a requests tile: GET requests' own fields, so the same text parses the
    same way (W3C datetimes, zone-less ones in the jurisdiction's time)."""

    service_code = CommaList()
    status = CommaList(choices=tuple(s.value for s in Status))
    start_date = W3CDateTime()
    end_date = W3CDateTime()


class DistrictTileArgs(JurisdictionArgs):
    layer = fields.String(
        validate=validate.Length(max=64), metadata={"description": "boundary layer name or id"}
    )


@blp.before_request
def _answer_in_json() -> None:
    g.fmt = "json"  # errors as GeoReport JSON (api.errors.error_response)
    ratelimits.limit_page()  # per address, against reads, as the pages are


@blp.route("/requests/<int(signed=True):z>/<int(signed=True):x>/<int(signed=True):y>.mvt")
def requests_tile(z: int, x: int, y: int) -> Response:
    """A tile of the published requests (grid cells with counts at low zooms)."""
    tile = _tile(z, x, y)
    args = load(RequestTileArgs(), request.args.to_dict())
    start, end = as_utc(args.get("start_date")), as_utc(args.get("end_date"))
    if start is not None and end is not None and end < start:
        raise InvalidInput(_("end_date is earlier than start_date"))
    session = database.session()
    scope = _scope(session, args.get("jurisdiction_id"))
    search = RequestSearch(
        service_codes=args.get("service_code", ()),
        statuses=tuple(Status(s) for s in args.get("status", ())),
        start=start,
        end=end,
        blackbox=publication.publishes_blackbox(session),
    )
    etag = _etag(
        "requests",
        tile,
        scope.pk,
        sorted(search.service_codes),
        sorted(s.value for s in search.statuses),
        start.isoformat() if start else "",
        end.isoformat() if end else "",
        search.blackbox,
        tile_queries.requests_version(session, scope),
    )
    if request.if_none_match.contains_weak(etag):
        return _not_modified(etag, REQUESTS_MAX_AGE_S)
    body = tile_queries.find_requests_tile(session, scope, search, tile)
    return _tile_response(body, etag, REQUESTS_MAX_AGE_S)


@blp.route("/districts/<int(signed=True):z>/<int(signed=True):x>/<int(signed=True):y>.mvt")
def districts_tile(z: int, x: int, y: int) -> Response:
    """A tile of one boundary layer's districts (id, name, title)."""
    tile = _tile(z, x, y)
    args = load(DistrictTileArgs(), request.args.to_dict())
    session = database.session()
    scope = _scope(session, args.get("jurisdiction_id"))
    layers = tile_queries.find_layers(session, scope)
    asked = args.get("layer")
    if asked is None:
        layer = layers[0] if layers else None
    else:
        # By name, else by id (as GET requests' `layer` is read).
        layer = next((each for each in layers if each.name == asked), None) or next(
            (each for each in layers if str(each.id) == asked), None
        )
    if layer is None:
        raise NotFound(_("layer: %(layer)s is not a boundary layer here", layer=asked or ""))
    etag = _etag("districts", tile, scope.pk, layer.id, layer.version)
    if request.if_none_match.contains_weak(etag):
        return _not_modified(etag, DISTRICTS_MAX_AGE_S)
    body = tile_queries.find_districts_tile(session, layer, tile)
    return _tile_response(body, etag, DISTRICTS_MAX_AGE_S)


def _tile(z: int, x: int, y: int) -> tile_queries.Tile:
    tile = tile_queries.Tile(z, x, y)
    if not tile.exists:
        raise InvalidInput(
            _(
                "tile %(z)s/%(x)s/%(y)s: no such tile; z is 0 to %(most)s, x and y 0 to 2^z - 1",
                z=z,
                x=x,
                y=y,
                most=tile_queries.MAX_ZOOM,
            )
        )
    return tile


def _scope(session: Any, jurisdiction_id: str | None) -> Scope:
    """The jurisdiction asked for (or the default one), resolved for the statements; an
    unknown one is refused as GET requests refuses it."""
    scope = search_queries.resolve_scope(session, search_queries.Unresolved(jurisdiction_id))
    if scope is None:
        jurisdictions.resolve(session, jurisdiction_id)  # says what is wrong
        raise NotFound(_("no jurisdiction is configured on this server yet"))
    return scope


def _etag(*parts: object) -> str:
    key = "|".join(str(part) for part in (TILE_FORMAT, *parts))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _cached(response: Response, etag: str, max_age: int) -> Response:
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"  # open data, as the API's lists
    return response


def _not_modified(etag: str, max_age: int) -> Response:
    return _cached(Response(status=304), etag, max_age)


def _tile_response(body: bytes, etag: str, max_age: int) -> Response:
    """The tile; an empty one is a 204 (MapLibre draws nothing for it, as for an empty 200)."""
    if not body:
        return _cached(Response(status=204), etag, max_age)
    return _cached(Response(body, content_type=CONTENT_TYPE), etag, max_age)
