"""Photos' rows: finding the one a served file name belongs to."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from open311.db.models import Media


def get_media_by_file(session: Session, name: str) -> Media | None:
    """The photo whose file (or thumbnail file) is `name`; both names are unique."""
    return session.scalars(
        select(Media).where(or_(Media.name == name, Media.thumbnail_name == name)).limit(1)
    ).first()
