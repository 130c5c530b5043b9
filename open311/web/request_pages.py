"""A request's public page: /requests/<id>, and /requests/token/<token> for a batch service's.

The page shows exactly what GET /open311/v2/requests/<id>.json?extensions=true answers: the
item is made by the same statement (request_search.single, search_queries.find_page), so a
request the public reads leave out (a blackbox service's, a withheld or erased one) is a 404
here as there, and nothing of the requester can appear (the statement does not read it). Only
the service's name is said again, in the page's language, from the city's translations.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import Response, redirect, request, url_for
from sqlalchemy.orm import Session

from open311.api import database
from open311.db import district_queries, media_queries, request_queries, search_queries
from open311.db.models import Jurisdiction
from open311.domain import jurisdictions, publication, request_search, translations
from open311.errors import UnknownRequest
from open311.i18n import _
from open311.media.storage import valid_name
from open311.web.pages import current_page, page_blueprint, render, say_text
from open311.web.report import map_data

blp = page_blueprint("request_pages", __name__)

STATUS_WORDS = {"open": _("Open"), "closed": _("Closed")}


@blp.route("/requests/<service_request_id>", methods=["GET"])
def request_page(service_request_id: str) -> str:
    db = database.session()
    city, item = public_request(service_request_id)
    locale = current_page().locale
    book = translations.phrasebook(db, city, locale, [item["service_name"]])
    extended = item.get("extended_attributes") or {}
    zone = ZoneInfo(city.time_zone)
    return render(
        "requests/request.html",
        city=city,
        item=item,
        service_name=book.get(item["service_name"], "service_name"),
        status=say_text(STATUS_WORDS.get(item["status"], item["status"])),
        requested=_when(item.get("requested_datetime"), zone, locale),
        updated=_when(item.get("updated_datetime"), zone, locale),
        expected=_when(item.get("expected_datetime"), zone, locale),
        districts=_districts(db, city, extended.get("districts") or {}),
        photos=_photos(db, extended.get("media_urls") or [item.get("media_url")]),
        notes=[
            note | {"when": _when(note.get("datetime"), zone, locale)}
            for note in item.get("notes") or []
        ],
        parent=extended.get("parent_service_request_id"),
        map_data=_point_map(city, item),
        json_url=url_for("georeport.get_request", service_request_id=service_request_id, fmt="json")
        + "?extensions=true&jurisdiction_id="
        + city.jurisdiction_id,
    )


def public_request(service_request_id: str) -> tuple[Jurisdiction, dict[str, Any]]:
    """(its city, the public GeoReport item with extensions) of a request the public may read;
    UnknownRequest (404) otherwise, as GET requests/<id> says. The id is unique across cities,
    so the page needs no jurisdiction_id: it is looked up first, then the public statement is
    asked in that city."""
    db = database.session()
    found = request_queries.get_request_by_public_id(db, service_request_id)
    city = db.get(Jurisdiction, found.jurisdiction_id) if found is not None else None
    if city is None:
        raise UnknownRequest(_("service_request_id %(id)s not found", id=service_request_id))
    search = request_search.single(db, service_request_id, True)
    named = search_queries.Unresolved(city.jurisdiction_id)
    page = search_queries.find_page(db, named, search, "json", lookup=True)
    if not page.items:
        raise UnknownRequest(_("service_request_id %(id)s not found", id=service_request_id))
    return city, json.loads(page.items[0])


@blp.route("/requests/token/<token>", methods=["GET"])
def token_page(token: str) -> Response:
    """A batch service's token: once its request is there (and public), its page; until then
    a page saying it is being processed (404, as GET tokens/<token> answers)."""
    db = database.session()
    city = jurisdictions.resolve(db, request.args.get("jurisdiction_id", "").strip() or None)
    found = request_queries.get_request_by_token(db, city, token)
    if found is not None and publication.is_published(db, found):
        target = url_for("request_pages.request_page", service_request_id=found.service_request_id)
        return redirect(target, code=303)
    page = render("requests/token.html", token=token, city=city)
    return Response(page, status=404, content_type="text/html; charset=utf-8")


def _point_map(city: Jurisdiction, item: dict[str, Any]) -> dict[str, str] | None:
    """The data-* attributes of the request's small map (picker.js); None without a point."""
    if item.get("lat") is None or item.get("long") is None:
        return None
    return map_data(city) | {"data-point": f"{item['long']},{item['lat']}"}


def _photos(db: Session, urls: list[str | None]) -> list[dict[str, str | None]]:
    """Each photo's URL and the URL of its thumbnail (served next to it) when it is one of
    ours; a photo a client linked on another site has none (the pages' Content-Security-Policy
    shows images of this host only), and is shown as a link."""
    shown = []
    for url in filter(None, urls):
        folder, _slash, name = url.rpartition("/")
        found = media_queries.get_media_by_file(db, name) if valid_name(name) else None
        thumbnail = f"{folder}/{found.thumbnail_name}" if found is not None else None
        shown.append({"url": url, "thumbnail": thumbnail})
    return shown


def _districts(db: Session, city: Jurisdiction, districts: dict[str, str]) -> list[tuple[str, str]]:
    """(the layer's title, the district's name) of each layer the request was placed in: the
    public names the GeoReport item carries, its layer named as the city titled it."""
    shown = []
    for layer_name, district in sorted(districts.items()):
        layer = district_queries.get_layer(db, city, layer_name)
        shown.append(((layer.title if layer is not None else None) or layer_name, district))
    return shown


def _when(value: str | None, zone: ZoneInfo, locale: str) -> dict[str, str] | None:
    """A W3C datetime of the item as the page shows it: in the city's time zone and the page's
    language, with the exact value for <time datetime>."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    shown = format_datetime(moment.astimezone(zone), "medium", tzinfo=zone, locale=locale)
    return {"iso": value, "shown": shown}
