"""W3C/ISO 8601 datetimes as GeoReport uses them: UTC `Z` on output; on input with a zone, or
without one where the caller says in which zone to read it (the jurisdiction's local time)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

# The W3C profile, seconds optional, fractional seconds tolerated on input; the zone is optional
# here and required by parse_w3c unless the caller gives a local zone.
_W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$")
_ZONE = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


def parse_w3c(value: str, local: tzinfo | None = None) -> datetime:
    """An aware datetime, or ValueError naming the expected shape. Without a zone in `value`
    (2026-12-05T07:23, as a browser's datetime-local field sends) the time is read in `local`;
    with no `local` such a value is refused. A local time a clock change skips or repeats is
    read as zoneinfo does by default (fold=0: the earlier offset)."""
    text = value.strip()
    zoned = bool(_ZONE.search(text))
    if not _W3C.match(text) or (local is None and not zoned):
        raise ValueError(
            f"{value!r} is not a W3C datetime with a zone, e.g. 2024-04-12T09:14:03Z "
            "or 2024-04-12T09:14:03-07:00"
        )
    # Python accepts at most microseconds; drop extra fractional digits.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date and time") from None
    return moment if zoned else moment.replace(tzinfo=local)


def format_w3c(moment: datetime) -> str:
    """Second precision in UTC, the one rendering every validator accepts."""
    # isoformat, not strftime: glibc's %Y drops the zero padding of years before 1000.
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def precise_w3c(moment: datetime) -> str:
    """A W3C datetime to the microsecond: a next link's pinned window must not move by a
    fraction of a second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
