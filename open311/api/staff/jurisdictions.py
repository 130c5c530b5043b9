"""The cities this server serves: listed for their staff, created and changed by
administrators, through domain/jurisdictions.py as `open311 jurisdiction` does."""

from __future__ import annotations

from typing import Any

from open311.api import database
from open311.api.staff.auth import (
    StaffBlueprint,
    current_user,
    staff_jurisdiction,
    staff_required,
)
from open311.api.staff.jurisdictions_schemas import (
    JurisdictionChangeBody,
    JurisdictionOut,
    NewJurisdictionBody,
)
from open311.db.models import Jurisdiction
from open311.domain import jurisdictions, translations
from open311.values import StaffRole

blp = StaffBlueprint(
    "staff_jurisdictions", __name__, "Staff API: the jurisdictions (cities) this server serves."
)

ADMIN = StaffRole.administrator


@blp.route("/jurisdictions", methods=["GET"])
@staff_required()
@blp.response(200, JurisdictionOut(many=True))
def list_jurisdictions() -> list[Jurisdiction]:
    """The jurisdictions the signed-in user works for, oldest first."""
    return list(current_user().jurisdictions)


@blp.route("/jurisdictions", methods=["POST"])
@staff_required(ADMIN)
@blp.arguments(NewJurisdictionBody)
@blp.response(201, JurisdictionOut)
def create_jurisdiction(body: dict[str, Any]) -> Jurisdiction:
    """Add a city with an empty catalogue; the administrator who adds it works for it.
    `default: true` makes it the city GeoReport calls without jurisdiction_id mean."""
    session = database.session()
    locales, default_locale = _languages(body)
    created = jurisdictions.create(session, body.pop("jurisdiction_id"), **body)
    default_locale = translations.new_city_default(locales, default_locale)
    translations.set_locales(session, created, locales, default_locale)
    current_user().jurisdictions.append(created)
    session.commit()
    return created


@blp.route("/jurisdictions/<jurisdiction_id>", methods=["GET"])
@staff_required()
@blp.response(200, JurisdictionOut)
def get_jurisdiction(jurisdiction_id: str) -> Jurisdiction:
    """One of the user's jurisdictions (403 for one they do not work for)."""
    return staff_jurisdiction(jurisdiction_id)


@blp.route("/jurisdictions/<jurisdiction_id>", methods=["PATCH"])
@staff_required(ADMIN)
@blp.arguments(JurisdictionChangeBody)
@blp.response(200, JurisdictionOut)
def change_jurisdiction(body: dict[str, Any], jurisdiction_id: str) -> Jurisdiction:
    """Change a city's name, time zone or settings (public_url and contact shown in its
    discovery; null: the server's). `default: true` makes it the default."""
    session = database.session()
    city = staff_jurisdiction(jurisdiction_id)
    make_default = body.pop("default", False)
    languages = _languages(body)
    jurisdictions.change(session, city, body)
    translations.set_locales(session, city, *languages)
    if make_default:
        jurisdictions.make_default(session, city)
    session.commit()
    return city


def _languages(body: dict[str, Any]) -> tuple[list[str] | None, str | None]:
    """The body's locales and default_locale, taken out of it: they are checked together."""
    return body.pop("locales", None), body.pop("default_locale", None)
