"""The demo cities' translations of their public texts, added as Translation rows when missing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from open311.db.models import Jurisdiction, Translation
from open311.i18n import normalise


@dataclass(frozen=True)
class Entry:
    """One text in another language: `source` as the city wrote it, `text` its translation."""

    locale: str
    source: str
    text: str
    context: str = ""


def ensure_translations(
    session: Session, jurisdiction: Jurisdiction, entries: Iterable[Entry], updated_by: str
) -> int:
    """Add the entries the city does not have yet and return how many were added.

    An existing (locale, context, source) is left alone, as the seeds leave the back office's
    changes: a translator who corrected a demo text keeps the correction. Texts are stored NFC,
    so a source typed with combining marks matches the one the catalogue holds. Flushes only.
    """
    existing = {
        (row.locale, row.context, row.source)
        for row in session.scalars(
            select(Translation).where(Translation.jurisdiction_id == jurisdiction.id)
        )
    }
    added = 0
    for entry in entries:
        key = (entry.locale, entry.context, normalise(entry.source))
        if key in existing or not entry.text.strip():
            continue
        existing.add(key)
        session.add(
            Translation(
                jurisdiction_id=jurisdiction.id,
                locale=entry.locale,
                context=entry.context,
                source=key[2],
                text=normalise(entry.text),
                updated_by=updated_by,
            )
        )
        added += 1
    session.flush()
    return added
