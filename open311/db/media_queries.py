"""Photos' rows: finding the one a served file name belongs to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from open311.db.models import Media


def get_media_by_file(session: Session, name: str) -> Media | None:
    """The photo whose file (or thumbnail file) is `name`; both names are unique."""
    return session.scalars(
        select(Media).where(or_(Media.name == name, Media.thumbnail_name == name)).limit(1)
    ).first()


def find_known_files(session: Session, names: Sequence[str]) -> set[str]:
    """Which of `names` are a photo's file or thumbnail (both columns are uniquely indexed)."""
    if not names:
        return set()
    photos = select(Media.name).where(Media.name.in_(names))
    thumbnails = select(Media.thumbnail_name).where(Media.thumbnail_name.in_(names))
    return set(session.scalars(photos.union_all(thumbnails)))
