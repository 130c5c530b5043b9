"""The notes the server itself writes to the public (status_notes, service_notice, public
activity entries) in the jurisdiction's own language, fixed at the moment they are written."""

from __future__ import annotations

from sqlalchemy.orm import Session

from open311 import i18n
from open311.db.models import Jurisdiction, ServiceRequest


def in_language_of(jurisdiction: Jurisdiction | None, text: str) -> str:
    """`text` in `jurisdiction`'s default language (English without one)."""
    locale = jurisdiction.default_locale if jurisdiction is not None else None
    return i18n.translate(text, locale or i18n.SOURCE_LOCALE)


def in_city_language(session: Session, request: ServiceRequest, text: str) -> str:
    """`text` (an `i18n._` Text) in the default language of `request`'s jurisdiction, as a
    plain str to store. A note is stored once, in one language, as a clerk's note is: an
    English city's notes are exactly the English text, a Spanish-default city's are Spanish
    for every reader (a city's other languages are the translation tables' job)."""
    return in_language_of(session.get(Jurisdiction, request.jurisdiction_id), text)
