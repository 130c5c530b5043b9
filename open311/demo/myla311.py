"""Read MyLA311 extracts: the city's columns, local times and codes, turned into GeoReport terms."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from open311.values import Status

LOS_ANGELES = ZoneInfo("America/Los_Angeles")

# The city's five status words; GeoReport has only open and closed.
STATUSES = {
    "Open": Status.open,
    "Pending": Status.open,
    "Closed": Status.closed,
    "Cancelled": Status.closed,
    "Referred Out": Status.closed,
}
PLAIN_STATUSES = {"Open", "Closed"}

# 2017/2018 exports: 12/31/2017 11:59:58 PM; Hack for LA's 2020 extract: 1/1/20 0:05.
_CITY_DATETIME = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2}) (\d{1,2}):(\d{2})(?::(\d{2}))?(?: ?([AP]M))?"
)
_NOT_A_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class CityRequest:
    """One MyLA311 record in GeoReport terms; `request_type` is the city's RequestType text."""

    service_request_id: str
    request_type: str
    status: Status
    status_notes: str | None
    agency_responsible: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    address: str | None
    zipcode: str | None
    location: str | None  # EWKT, 'SRID=4326;POINT(long lat)'
    channel: str | None


def read_agencies(path: Path) -> dict[str, str]:
    """Agency code as the records' `Owner` uses it (BOS, OCB, BSL, ...) -> the agency's name."""
    with path.open(newline="", encoding="utf-8") as file:
        return {row["data_code"]: row["agency_name"] for row in csv.DictReader(file)}


def read_records(paths: Iterable[Path]) -> dict[str, dict[str, str]]:
    """Raw records keyed by SR number with lower-cased column names; the first file to carry an SR
    number wins, so the order of `paths` decides between duplicates."""
    records: dict[str, dict[str, str]] = {}
    for path in paths:
        # newline="" lets the csv module take LF and CRLF files alike.
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            columns = [name.strip().lower() for name in next(reader)]
            for values in reader:
                record = dict(zip(columns, values, strict=True))
                records.setdefault(record["srnumber"], record)
    return records


def parse_city_datetime(text: str) -> datetime:
    """A Los Angeles wall-clock time as the exports write it, as an aware datetime."""
    match = _CITY_DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a MyLA311 date and time")
    month, day, year, hour, minute, second, half = match.groups()
    full_year = int(year) + (2000 if len(year) == 2 else 0)
    hours = int(hour)
    if half is not None:
        if not 1 <= hours <= 12:
            raise ValueError(f"{text!r} has an hour out of range for AM/PM")
        hours = hours % 12 + (12 if half == "PM" else 0)
    return datetime(
        full_year, int(month), int(day), hours, int(minute), int(second or 0), tzinfo=LOS_ANGELES
    )


def channel_of(source: str) -> str | None:
    """RequestSource as a channel word: 'Mobile App' -> 'mobile_app', "Council's Office" ->
    'councils_office'."""
    word = _NOT_A_WORD.sub("_", source.lower().replace("'", "")).strip("_")
    return word[:32] or None


def status_notes_of(status_word: str, action_taken: str) -> str | None:
    """The city's own status word when GeoReport's open/closed loses it, and what was done when
    the record says more than its creation or an edit ('SR Created', 'SR Updated')."""
    notes = []
    if status_word and status_word not in PLAIN_STATUSES:
        notes.append(status_word)
    if action_taken and not action_taken.startswith("SR "):
        notes.append(action_taken)
    return "; ".join(notes) or None


def point_of(latitude: str, longitude: str) -> str | None:
    """EWKT for PostGIS, or None when the record has no coordinates (11-17% of 2017/18 rows)."""
    if not latitude.strip() or not longitude.strip():
        return None
    lat, long = float(latitude), float(longitude)
    return f"SRID=4326;POINT({long!r} {lat!r})"


def to_city_request(record: Mapping[str, str], agencies: Mapping[str, str]) -> CityRequest:
    """Interpret one raw record. Unknown agency codes are kept as they are."""
    status_word = record["status"].strip()
    status = STATUSES.get(status_word, Status.open)
    owner = record["owner"].strip()
    created = parse_city_datetime(record["createddate"])
    updated_text = record.get("updateddate", "").strip()
    zipcode = record.get("zipcode", "").strip()
    return CityRequest(
        service_request_id=record["srnumber"].strip(),
        request_type=record["requesttype"].strip(),
        status=status,
        status_notes=status_notes_of(status_word, record.get("actiontaken", "").strip()),
        agency_responsible=agencies.get(owner, owner) or None,
        requested_datetime=created,
        updated_datetime=parse_city_datetime(updated_text) if updated_text else created,
        address=record.get("address", "").strip() or None,
        # One 2020 record says 0: a placeholder, not a zipcode.
        zipcode=zipcode if zipcode.strip("0") else None,
        location=point_of(record.get("latitude", ""), record.get("longitude", "")),
        channel=channel_of(record.get("requestsource", "")),
    )
