"""The service catalogue as the public sees it: active services and their definitions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from open311.db import catalogue_queries
from open311.db.models import Jurisdiction, Service
from open311.errors import UnknownService
from open311.i18n import _


def list_services(session: Session, jurisdiction: Jurisdiction) -> Sequence[Service]:
    return catalogue_queries.find_services(session, jurisdiction)


def get_service(session: Session, jurisdiction: Jurisdiction, service_code: str) -> Service:
    service = catalogue_queries.get_service(session, jurisdiction, service_code)
    if service is None:
        raise UnknownService(_("service_code %(code)s not found", code=service_code))
    return service
