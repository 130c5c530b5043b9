"""Which city a call is about, and the cities themselves: created, listed, changed.

The rule for a call without jurisdiction_id: the jurisdiction flagged `is_default` when one is;
otherwise the only one; several and none flagged is a 400 asking for jurisdiction_id. So a
single-city install needs nothing, and a second city added with `--default` left off the first
keeps answering calls written against the first once that one is flagged the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from open311.db import catalogue_queries
from open311.db.models import Jurisdiction
from open311.errors import Conflict, InvalidInput, NotFound, UnknownJurisdiction
from open311.i18n import _

# The fields PATCH and `create` take besides the id; settings that differ per city.
SETTINGS = (
    "name",
    "time_zone",
    "public_url",
    "contact",
    "duplicate_radius_m",
    "duplicate_window_hours",
    "holiday_country",
    "holiday_subdivision",
)


def resolve(session: Session, jurisdiction_id: str | None) -> Jurisdiction:
    """The named jurisdiction (404 if unknown), or when none is named the default one: the one
    flagged `is_default`, else the only one (400 when several exist and none is flagged)."""
    if jurisdiction_id:
        jurisdiction = catalogue_queries.get_jurisdiction(session, jurisdiction_id)
        if jurisdiction is None:
            raise UnknownJurisdiction(_("jurisdiction_id %(id)s not found", id=jurisdiction_id))
        return jurisdiction
    flagged = catalogue_queries.get_default_jurisdiction(session)
    if flagged is not None:
        return flagged
    found = catalogue_queries.find_jurisdictions(session, limit=2)
    if not found:
        raise NotFound(_("no jurisdiction is configured on this server yet"))
    if len(found) > 1:
        raise InvalidInput(
            _("jurisdiction_id is required: this server serves several jurisdictions")
        )
    return found[0]


def find_all(session: Session) -> Sequence[Jurisdiction]:
    """Every jurisdiction, in the order they were created."""
    return catalogue_queries.find_jurisdictions(session, limit=None)


def create(
    session: Session,
    jurisdiction_id: str,
    *,
    name: str,
    time_zone: str,
    default: bool = False,
    **settings: Any,
) -> Jurisdiction:
    """A new jurisdiction with an empty catalogue (its service area, layers, agencies and
    services are added afterwards). `default`: it becomes the default one. Flushes only."""
    jurisdiction_id = jurisdiction_id.strip()
    if (
        not jurisdiction_id
        or len(jurisdiction_id) > 255
        or any(c.isspace() for c in jurisdiction_id)
    ):
        raise InvalidInput("jurisdiction_id: 1 to 255 characters, no spaces (its web domain)")
    if catalogue_queries.get_jurisdiction(session, jurisdiction_id) is not None:
        raise Conflict(f"jurisdiction_id: {jurisdiction_id} exists")
    jurisdiction = Jurisdiction(jurisdiction_id=jurisdiction_id, name=name, time_zone="UTC")
    change(session, jurisdiction, {"name": name, "time_zone": time_zone, **settings})
    try:
        # A savepoint: the same id created at the same moment elsewhere is a Conflict, not a 500.
        with session.begin_nested():
            session.add(jurisdiction)
            session.flush()
    except IntegrityError:
        raise Conflict(f"jurisdiction_id: {jurisdiction_id} exists") from None
    if default:
        make_default(session, jurisdiction)
    return jurisdiction


def change(session: Session, jurisdiction: Jurisdiction, values: dict[str, Any]) -> Jurisdiction:
    """Set the settings named in `values` (see SETTINGS), checked first. Flushes only."""
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise InvalidInput(f"{unknown[0]}: not a jurisdiction setting")
    if "name" in values and not (values["name"] or "").strip():
        raise InvalidInput("name: required")
    if "time_zone" in values:
        _check_time_zone(values["time_zone"])
    for field in ("duplicate_radius_m", "duplicate_window_hours"):
        if field in values and (values[field] is None or values[field] < 0):
            raise InvalidInput(f"{field}: zero or more")
    for field, value in values.items():
        setattr(jurisdiction, field, value)
    if jurisdiction in session:
        session.flush()
    return jurisdiction


def make_default(session: Session, jurisdiction: Jurisdiction) -> None:
    """Make `jurisdiction` the one calls without jurisdiction_id mean (and no other)."""
    session.execute(
        update(Jurisdiction)
        .where(Jurisdiction.is_default, Jurisdiction.id != jurisdiction.id)
        .values(is_default=False)
    )
    jurisdiction.is_default = True
    session.flush()


def _check_time_zone(name: str | None) -> None:
    try:
        ZoneInfo(name or "")
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"time_zone: {name!r} is not an IANA time zone") from None
