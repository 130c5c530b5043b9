"""The public map at /: requests as vector tiles over the districts; a click opens one.

The map is drawn by MapLibre (map.js) from /tiles (web/tiles.py); everything else on the page
works without JavaScript: the filters are a plain GET form (map.js also applies them to the
tiles as they change), and the newest requests that match are listed in a table, found by the
same search GET requests.json makes (domain/request_search.py, db/search_queries.find_page),
so keyboard and screen-reader users get what the map shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import request, url_for

from open311.api import database
from open311.api.smorest import load
from open311.db import catalogue_queries, search_queries, tile_queries
from open311.db.models import Jurisdiction
from open311.domain import jurisdictions, publication, request_search
from open311.errors import InvalidInput
from open311.values import ServiceType, Status
from open311.web import tiles
from open311.web.pages import page_blueprint, render, say_text
from open311.wire.georeport import REQUEST_FIELDS, request_item_from_row

blp = page_blueprint("home", __name__)

LISTED = 20  # the newest matching requests listed under the map
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Filters:
    """The filter form as it was sent (shown again as sent), one value per field."""

    status: str = ""
    service_code: str = ""
    start_date: str = ""  # a day, YYYY-MM-DD (an <input type=date>)
    end_date: str = ""

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        return cls(**{name: (args.get(name) or "").strip() for name in cls.__dataclass_fields__})

    def query(self) -> dict[str, str]:
        """The tiles' and the API's arguments: a day's dates become its first and last second,
        in the jurisdiction's time (W3C datetimes without a zone, as the API reads them)."""
        query = {"status": self.status, "service_code": self.service_code}
        query["start_date"] = self.start_date + ("T00:00:00" if _DAY.match(self.start_date) else "")
        query["end_date"] = self.end_date + ("T23:59:59" if _DAY.match(self.end_date) else "")
        return {name: value for name, value in query.items() if value}


@blp.route("/")
def index() -> str:
    """The map of requests, its filters and the newest matching requests."""
    session = database.session()
    asked = (request.args.get("jurisdiction_id") or "").strip() or None
    jurisdiction = jurisdictions.resolve(session, asked)
    filters = Filters.from_args(request.args)
    problems: list[str] = []
    try:
        parsed = load(
            tiles.RequestTileArgs(),
            {**filters.query(), "jurisdiction_id": jurisdiction.jurisdiction_id},
        )
        listed = _newest(session, jurisdiction, parsed)
    except InvalidInput as error:
        problems = [say_text(problem) for problem in error.problems]
        listed = _newest(session, jurisdiction, {})
    scope = search_queries.resolve_scope(session, jurisdiction)
    assert scope is not None  # resolved above
    layers = tile_queries.find_layers(session, scope)
    extent = tile_queries.find_extent(session, scope)
    return render(
        "home.html",
        jurisdiction=jurisdiction,
        cities=catalogue_queries.find_jurisdictions(session, limit=None),
        services=_services(session, jurisdiction),
        statuses=[status.value for status in Status],
        filters=filters,
        problems=problems,
        listed=listed,
        map_data=_map_data(jurisdiction, layers, extent),
    )


def _newest(session: Any, jurisdiction: Jurisdiction, parsed: dict[str, Any]) -> list[dict]:
    """The newest LISTED requests the filters match, as GET requests.json items."""
    args = request_search.SearchArgs(
        service_codes=parsed.get("service_code", ()),
        statuses=tuple(Status(s) for s in parsed.get("status", ())),
        start=parsed.get("start_date"),
        end=parsed.get("end_date"),
        page_size=LISTED,
    )
    search, _paging = request_search.plan(session, jurisdiction, args)
    page = search_queries.find_page(session, jurisdiction, search, "rows")
    return [request_item_from_row(row[: len(REQUEST_FIELDS)]) for row in page.items]


def _services(session: Any, jurisdiction: Jurisdiction) -> list[tuple[str, str]]:
    """(service_code, service_name) of the services the public list may show."""
    published = publication.publishes_blackbox(session)
    return [
        (service.service_code, service.service_name)
        for service in catalogue_queries.find_services(session, jurisdiction)
        if published or service.type is not ServiceType.blackbox
    ]


def _map_data(
    jurisdiction: Jurisdiction,
    layers: list[tile_queries.Layer],
    extent: tuple[float, float, float, float] | None,
) -> dict[str, str]:
    """The map element's data-* attributes: what map.js needs (the template escapes them)."""
    settings = database.settings()
    root = request.script_root
    city = f"jurisdiction_id={jurisdiction.jurisdiction_id}"
    data = {
        "data-worker-url": url_for("assets.vendor", name="maplibre-gl-csp-worker.js"),
        "data-requests-tiles": f"{root}/tiles/requests/{{z}}/{{x}}/{{y}}.mvt",
        "data-jurisdiction": jurisdiction.jurisdiction_id,
        "data-request-path": f"{root}/requests/",
        "data-points-from-zoom": str(tile_queries.POINTS_FROM_ZOOM),
        "data-basemap-url": settings.basemap_url,
        "data-basemap-attribution": settings.basemap_attribution,
    }
    if layers:
        data["data-districts-tiles"] = (
            f"{root}/tiles/districts/{{z}}/{{x}}/{{y}}.mvt?{city}&layer={layers[0].id}"
        )
    if extent is not None:
        data["data-bounds"] = ",".join(f"{value:.6f}" for value in extent)
    return data
