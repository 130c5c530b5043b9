"""W3C/ISO 8601 datetimes as GeoReport uses them: always with a zone, UTC `Z` on output."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# The W3C profile with a zone, seconds optional, fractional seconds tolerated on input.
_W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")


def parse_w3c(value: str) -> datetime:
    """An aware datetime, or ValueError naming the expected shape."""
    text = value.strip()
    if not _W3C.match(text):
        raise ValueError(
            f"{value!r} is not a W3C datetime with a zone, e.g. 2024-04-12T09:14:03Z "
            "or 2024-04-12T09:14:03-07:00"
        )
    # Python accepts at most microseconds; drop extra fractional digits.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date and time") from None


def format_w3c(moment: datetime) -> str:
    """Second precision in UTC, the one rendering every validator accepts."""
    # isoformat, not strftime: glibc's %Y drops the zero padding of years before 1000.
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def precise_w3c(moment: datetime) -> str:
    """A W3C datetime to the microsecond: a next link's pinned window must not move by a
    fraction of a second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
