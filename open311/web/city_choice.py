"""Which city a public page is about: `jurisdiction_id` as the APIs take it (else the default
one), and the cities to choose from in the page's selector."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from open311.api import database
from open311.db.models import Jurisdiction
from open311.domain import jurisdictions

MAX_ID = 255  # a jurisdiction_id longer than the column cannot name a city


@dataclass(frozen=True)
class CityChoice:
    """The city shown and the others a reader may switch to (id, name), in creation order."""

    city: Jurisdiction
    cities: tuple[tuple[str, str], ...]


def chosen_city() -> CityChoice:
    """The city of `?jurisdiction_id=` (404 when unknown, as the APIs), else the default."""
    session = database.session()
    asked = request.args.get("jurisdiction_id", "").strip()[:MAX_ID] or None
    city = jurisdictions.resolve(session, asked)
    cities = tuple((each.jurisdiction_id, each.name) for each in jurisdictions.find_all(session))
    return CityChoice(city, cities)
