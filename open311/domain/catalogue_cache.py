"""What filing a request reads from the catalogue, kept per process between requests.

Every POST used to load its service with its definition, its routing rule with the agency,
workflow, steps and crews, and the city's holidays: eight statements and a few dozen ORM
objects for data that changes a few times a year. `current` keeps them per jurisdiction, keyed
by the catalogue's fingerprint (db/catalogue_queries.CATALOGUE_FINGERPRINT), which is read
afresh in the caller's transaction on every use: one small statement. A change committed
through the staff API in one gunicorn worker (or by a command, or by hand in psql) changes the
fingerprint, so every worker's next request loads the catalogue again; nothing is ever served
from a catalogue the database no longer holds.

The cached objects are detached and never changed; callers get copies merged into their own
session without SQL (`Session.merge(load=False)`), so relationships to new rows and lazy loads
work as on objects the session loaded itself, and no two sessions share an instance.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from open311.db import catalogue_queries
from open311.db.models import Jurisdiction, RoutingRule, Service
from open311.domain.sla import BusinessCalendar

# Jurisdictions whose catalogue a process keeps (a server has one or a few; tests make many).
MAX_JURISDICTIONS = 16


@dataclass(frozen=True)
class Catalogue:
    """One jurisdiction's catalogue as loaded, detached: read it through the methods."""

    fingerprint: str
    services: dict[str, Service]  # service_code -> active service, definition loaded
    rules: dict[int, RoutingRule]  # service pk -> its rule, what routing reads loaded
    holidays: frozenset[date]  # CityHoliday days

    def service(self, session: Session, service_code: str) -> Service | None:
        """The active service of that code, in `session`, with its definition; None if none."""
        found = self.services.get(service_code)
        return session.merge(found, load=False) if found is not None else None

    def rule(self, session: Session, service: Service) -> RoutingRule | None:
        """The service's routing rule in `session`; None when the service has none."""
        found = self.rules.get(service.id)
        return session.merge(found, load=False) if found is not None else None

    def calendar(self, jurisdiction: Jurisdiction) -> BusinessCalendar:
        """The city's SLA calendar: its settings as `jurisdiction` holds them now, and the
        holidays of this catalogue (sla.calendar_for without the statement)."""
        return BusinessCalendar.from_jurisdiction(jurisdiction, self.holidays)


_cache: OrderedDict[int, Catalogue] = OrderedDict()
_lock = threading.Lock()


def current(session: Session, jurisdiction: Jurisdiction) -> Catalogue:
    """The jurisdiction's catalogue as `session`'s transaction sees it (see the module
    docstring); loaded again when the fingerprint moved since it was kept."""
    fingerprint = catalogue_queries.catalogue_fingerprint(session)
    with _lock:
        kept = _cache.get(jurisdiction.id)
        if kept is not None and kept.fingerprint == fingerprint:
            _cache.move_to_end(jurisdiction.id)
            return kept
    # Loaded after the fingerprint was read: if the catalogue changes in between, this entry
    # holds the newer data under the older fingerprint, which only requests that read the
    # older one can match; every later request reads the newer fingerprint and loads again.
    loaded = _load(session, jurisdiction, fingerprint)
    with _lock:
        _cache[jurisdiction.id] = loaded
        _cache.move_to_end(jurisdiction.id)
        while len(_cache) > MAX_JURISDICTIONS:
            _cache.popitem(last=False)
    return loaded


def clear() -> None:
    """Forget every kept catalogue (the next use loads it again)."""
    with _lock:
        _cache.clear()


def _load(session: Session, jurisdiction: Jurisdiction, fingerprint: str) -> Catalogue:
    # A session of its own on the caller's connection (same transaction, same view): the
    # objects it loads are detached when it closes, and the caller's session is left as it was.
    # Closing a session that joined a transaction it did not begin leaves that transaction be.
    with Session(bind=session.connection(), autoflush=False) as loader:
        services = catalogue_queries.find_services_with_definitions(loader, jurisdiction)
        rules = catalogue_queries.find_routing_rules(loader, jurisdiction)
        holidays = catalogue_queries.find_city_holidays(loader, jurisdiction)
        return Catalogue(
            fingerprint=fingerprint,
            services={service.service_code: service for service in services},
            rules={rule.service_id: rule for rule in rules},
            holidays=frozenset(holiday.day for holiday in holidays),
        )
