"""The one reading of the wall clock: an aware UTC datetime.

Domain functions take `now` as an argument so tests can choose the moment; the edges (views,
commands, the worker) read it here, in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """This moment in UTC, timezone-aware (never a naive datetime)."""
    return datetime.now(UTC)
