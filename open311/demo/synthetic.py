"""Synthetic Los Angeles requests at scale (`open311 seed --requests N`), for load tests.

What the city's real data shows is what the generator draws from: points of the three MyLA311
extracts and of the 27,166 requests open in July 2020 (moved up to 30 m north-south and
east-west, kept inside the service area), the extracts' request-type mix, channels per type,
addresses, times to close per type and hour-of-day rhythm. Only the weekday weights and the
short descriptions are authored. Like the city's records, synthetic requests have no
expected_datetime, service_notice, media or attributes; batch services' requests get a token,
as intake would give them. The crews get a backlog: each request routed to a district crew has
one work order, open while the request is open, done when it closed (_open_work_orders).

Synthetic requests are `SYN-1` ... `SYN-N`. Request `SYN-k` is a pure function of the seed, k and
the window (the `years` before midnight of `until`'s day in Los Angeles, today by default), given
the same geodata and catalogue: it is drawn from a random block of 65,536 numbers seeded with
(seed, k's block), so it does not depend on N. A run adds only the SYN-k (k <= N) that are
missing: the same N again adds nothing, a larger N adds the rest, and N smaller than what is
there removes nothing. The seed only shapes rows that get created; rows already present are
never rewritten.

The rows go in with one COPY in order of requested time, as a live system would have written
them, so `id` and the table's physical order follow time. For a large load the table's secondary
indexes and its unique and foreign-key constraints are dropped first and rebuilt from their own
definitions afterwards (faster than maintaining them row by row); then the requests are placed
in districts (place_new_requests, the rule of district_queries in one spatial join), their
work orders made, and the tables ANALYZEd.
Everything runs in the caller's transaction: COPY goes through the session's own connection.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from open311 import clock
from open311.db import bulk, catalogue_queries, district_queries
from open311.db.models import Jurisdiction, Service
from open311.demo import myla311
from open311.demo.myla311 import LOS_ANGELES
from open311.values import ActivityKind, CrewKind, CrewRole, ServiceType, Status, WorkOrderState

PREFIX = "SYN-"
# Rows per random block. Fixed forever: changing it changes every synthetic request.
BLOCK = 1 << 16
JITTER_M = 30.0
# Source points closer than this to the service area's edge are not used, so that no jittered
# point can leave it (0.0005 degrees is 46 m of longitude at Los Angeles' latitude, more than the
# 42 m of a 30 m x 30 m jitter's diagonal).
EDGE_MARGIN_DEG = 0.0005
METRES_PER_DEGREE = 111_320.0
# The extracts cover the New Year holidays only, so their weekday mix is not typical; these
# weights keep what they do show (weekends well below weekdays, Friday below the other days).
WEEKDAY_WEIGHTS = (1.0, 1.0, 0.95, 0.95, 0.85, 0.45, 0.4)  # Monday first
DESCRIBED_SHARE = 0.75  # the rest have no description, like the city's own records
OPEN_TOUCHED_SHARE = 0.5  # open requests updated since they were filed (a note, a reassignment)
# A load that adds more rows than this, and more than the table holds, rebuilds the indexes.
REBUILD_THRESHOLD = 50_000
COPY_CHUNK = 20_000  # rows per COPY write

JSON_POINTS_FILE = "myla311_open_requests_points_2020-07.json"
HISTORY_FILES = (
    "myla311_sample_2017-12.csv",
    "myla311_sample_2018-01.csv",
    "myla311_sample_2020-01.csv",
)

# Short texts a resident or an agent would type, per service, so that full-text search finds
# realistic words ("broken light", "mattress", "tents"); combined with a place phrase.
PHRASES: Mapping[str, tuple[str, ...]] = {
    "BULKY": (
        "Couch and mattress at the curb for pickup",
        "Old sofa and two chairs to collect",
        "Mattress and box spring pickup",
        "Furniture pickup: dresser and table",
        "Bulky items left out for collection",
    ),
    "GRAFFITI": (
        "Graffiti tag on the wall",
        "Spray paint on a garage door",
        "Tagging on a utility box",
        "Graffiti on the fence facing the street",
        "Fresh graffiti on the storefront",
    ),
    "ILLEGAL-DUMPING": (
        "Trash and debris dumped on the sidewalk",
        "Old tires dumped by the curb",
        "Construction debris left in the street",
        "Bags of garbage dumped overnight",
        "Illegal dumping of furniture and trash",
    ),
    "METAL-APPLIANCES": (
        "Old refrigerator to pick up",
        "Washer and dryer at the curb",
        "Broken stove for metal pickup",
        "Water heater left out for collection",
    ),
    "E-WASTE": (
        "Old television for e-waste pickup",
        "Computer monitor and printer to collect",
        "Broken microwave and TV at the curb",
        "Electronics to recycle",
    ),
    "HOMELESS-ENCAMPMENT": (
        "Tents blocking the sidewalk",
        "Encampment with debris near the underpass",
        "Tent and belongings on the sidewalk, needs outreach",
        "Large encampment by the freeway ramp",
    ),
    "DEAD-ANIMAL": (
        "Dead cat in the street",
        "Dead dog on the sidewalk",
        "Dead bird in the gutter",
        "Dead raccoon in the road",
        "Dead possum by the curb",
    ),
    "OTHER": (
        "Overgrown tree branches over the sidewalk",
        "Broken sidewalk, tripping hazard",
        "Question about a city service",
        "Shopping carts abandoned",
    ),
    "STREETLIGHT-SINGLE": (
        "Streetlight out",
        "Broken light on the pole",
        "Street light flickering at night",
        "Light pole knocked down",
        "Lamp stays on during the day",
    ),
    "STREETLIGHT-MULTIPLE": (
        "Several street lights out on the block",
        "Whole street dark, lights out",
        "Multiple broken lights along the avenue",
        "Circuit outage, street lights dark",
    ),
    "WATER-WASTE": (
        "Sprinklers running in the afternoon",
        "Water running down the street",
        "Broken sprinkler flooding the sidewalk",
        "Irrigation runoff in the gutter",
    ),
    "FEEDBACK": (
        "Thank you for the quick pickup",
        "The crew did a great job",
        "Request closed but nothing was done",
        "Complaint about a missed pickup",
    ),
    "ABANDONED-VEHICLE": (
        "Car parked for weeks without moving",
        "Abandoned van with flat tires",
        "Vehicle with no plates parked over 72 hours",
        "Abandoned car blocking the driveway",
    ),
}
PLACES = (
    "",
    " near the corner",
    " in the alley",
    " on the sidewalk",
    " next to the bus stop",
    " in front of the apartment building",
    " by the park entrance",
    " across from the school",
)


@dataclass(frozen=True)
class SyntheticSpec:
    """What `open311 seed --requests N` asks for.

    `until`: the window ends at midnight (Los Angeles) of this moment's day; None means today.
    `rebuild_indexes`: None decides by size (see REBUILD_THRESHOLD); True or False forces it.
    """

    requests: int
    years: int = 3
    seed: int = 311
    with_activity: bool = False
    until: datetime | None = None
    rebuild_indexes: bool | None = None


@dataclass(frozen=True)
class CityProfile:
    """The real data the generator draws from, as arrays indexed by request type (city text)."""

    request_types: tuple[str, ...]
    type_weights: np.ndarray  # frequencies in the extracts
    hour_weights: np.ndarray  # 24 local hours
    lat: np.ndarray  # every usable point
    long: np.ndarray
    address_of: np.ndarray  # point -> index into addresses
    addresses: tuple[str, ...]
    zipcodes: tuple[str | None, ...]
    points_of: tuple[np.ndarray, ...]  # type -> indexes into lat/long
    channels: tuple[str, ...]
    channel_weights: np.ndarray  # [type, channel]
    close_seconds: tuple[np.ndarray, ...]  # type -> observed times to close; inf: never closed
    notes: tuple[str | None, ...]
    closed_notes: tuple[np.ndarray, ...]  # type -> indexes into notes, one per closed record
    open_notes: np.ndarray  # indexes into notes, one per open record

    def keep_points(self, kept: np.ndarray) -> CityProfile:
        """The profile with only the points at the indexes `kept` (sorted)."""
        remap = np.full(len(self.lat), -1, dtype=np.int64)
        remap[kept] = np.arange(len(kept))
        points_of = tuple(remap[p][remap[p] >= 0] for p in self.points_of)
        return CityProfile(
            **{
                **self.__dict__,
                "lat": self.lat[kept],
                "long": self.long[kept],
                "address_of": self.address_of[kept],
                "points_of": points_of,
            }
        )


@dataclass(frozen=True)
class ServicePlan:
    """What each request type becomes in this database: its service, agency and descriptions."""

    service_ids: tuple[str, ...]
    agencies: tuple[str | None, ...]  # from the service's routing rule
    batch: np.ndarray  # bool per type: batch services hand out tokens
    descriptions: tuple[tuple[str, ...], ...]  # type -> phrase x place


@dataclass
class Draw:
    """Drawn requests as parallel arrays; `number` is k of SYN-k."""

    number: np.ndarray
    type_index: np.ndarray
    lat: np.ndarray
    long: np.ndarray
    address_index: np.ndarray
    requested: np.ndarray  # epoch seconds
    updated: np.ndarray
    closed: np.ndarray  # bool
    channel_index: np.ndarray
    description_index: np.ndarray  # -1: none
    notes_index: np.ndarray
    token_bits: np.ndarray

    def take(self, rows: np.ndarray) -> Draw:
        """The requests at positions `rows`, in that order."""
        return Draw(**{name: getattr(self, name)[rows] for name in self.__dataclass_fields__})

    @classmethod
    def concatenate(cls, parts: Sequence[Draw]) -> Draw:
        """One draw of all the parts' requests, in order."""
        return cls(
            **{
                name: np.concatenate([getattr(part, name) for part in parts])
                for name in cls.__dataclass_fields__
            }
        )

    def __len__(self) -> int:
        return len(self.number)


@dataclass
class LoadReport:
    """What a load did and how long each phase took, for the seed's report."""

    present: int = 0
    created: int = 0
    placements: int = 0
    work_orders: int = 0
    open_work_orders: int = 0
    activities: int = 0
    rebuilt_indexes: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())
        lines = [f"synthetic requests: {self.present + self.created:,} ({self.created:,} new)"]
        if self.created:
            lines.append(f"synthetic requests routed to districts: {self.placements:,} placements")
            lines.append(
                f"synthetic work orders: {self.work_orders:,} "
                f"({self.open_work_orders:,} open, the rest done)"
            )
            if self.activities:
                lines.append(f"synthetic activity entries: {self.activities:,}")
            rebuilt = "rebuilt after the load" if self.rebuilt_indexes else "kept during the load"
            lines.append(f"synthetic load: indexes {rebuilt}; {phases}")
        return lines


# --- the real data ----------------------------------------------------------------------------


def copy_escape(value: str) -> str:
    """A value as COPY's text format needs it (backslash, tab, newline, carriage return)."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


@functools.cache
def read_city_profile(city_dir: Path) -> CityProfile:
    """Read the extracts and the July 2020 points of `city_dir` into a profile (once per process:
    the files are read-only data; callers must not modify the arrays).

    Points come from both: the extracts' located records (with their address) and the open
    requests of July 2020 (which have none, so they borrow the nearest extract's address).
    """
    agencies = myla311.read_agencies(city_dir / "agencies.csv")
    records = myla311.read_records(city_dir / name for name in HISTORY_FILES)
    type_counts: Counter[str] = Counter()
    hours = np.zeros(24)
    lats: list[float] = []
    longs: list[float] = []
    point_types: list[str] = []
    point_addresses: list[int] = []
    address_index: dict[tuple[str, str | None], int] = {}
    channel_counts: Counter[tuple[str, str]] = Counter()
    closes: dict[str, list[float]] = {}
    notes_index: dict[str | None, int] = {None: 0}
    closed_notes: dict[str, list[int]] = {}
    open_notes: list[int] = []
    for record in records.values():
        request = myla311.to_city_request(record, agencies)
        kind = request.request_type
        type_counts[kind] += 1
        hours[request.requested_datetime.hour] += 1
        if request.channel:
            channel_counts[kind, request.channel] += 1
        closed_text = record.get("closeddate", "").strip()
        if closed_text:
            seconds = (
                myla311.parse_city_datetime(closed_text) - request.requested_datetime
            ).total_seconds()
            # A dozen records close before they were created: a data quirk not to reproduce.
            if seconds >= 0:
                closes.setdefault(kind, []).append(seconds)
        else:
            closes.setdefault(kind, []).append(math.inf)
        note = notes_index.setdefault(request.status_notes, len(notes_index))
        if request.status == Status.closed:
            closed_notes.setdefault(kind, []).append(note)
        else:
            open_notes.append(note)
        if request.location and request.address:
            key = (request.address, request.zipcode)
            lats.append(float(record["latitude"]))
            longs.append(float(record["longitude"]))
            point_types.append(kind)
            point_addresses.append(address_index.setdefault(key, len(address_index)))
    # The July 2020 open requests: citywide points with their type, no address.
    extra = json.loads((city_dir / JSON_POINTS_FILE).read_text(encoding="utf-8"))
    known = np.column_stack([longs, lats])
    tree = shapely.STRtree(shapely.points(known))
    extra_xy = np.array([(item["longitude"], item["latitude"]) for item in extra], dtype=float)
    nearest = tree.query_nearest(shapely.points(extra_xy), all_matches=False)[1]
    lats.extend(extra_xy[:, 1])
    longs.extend(extra_xy[:, 0])
    point_types.extend(item["requesttype"] for item in extra)
    point_addresses.extend(np.asarray(point_addresses)[nearest])

    request_types = tuple(kind for kind, _count in type_counts.most_common())
    channels = tuple(sorted({channel for _kind, channel in channel_counts}))
    channel_weights = np.array(
        [[channel_counts[kind, channel] for channel in channels] for kind in request_types],
        dtype=float,
    )
    types_of_points = np.array(point_types, dtype=object)
    addresses = sorted(address_index, key=address_index.__getitem__)
    return CityProfile(
        request_types=request_types,
        type_weights=_frozen(np.array([type_counts[kind] for kind in request_types], dtype=float)),
        hour_weights=_frozen(hours),
        lat=_frozen(np.array(lats, dtype=float)),
        long=_frozen(np.array(longs, dtype=float)),
        address_of=_frozen(np.array(point_addresses, dtype=np.int64)),
        addresses=tuple(address for address, _zipcode in addresses),
        zipcodes=tuple(zipcode for _address, zipcode in addresses),
        points_of=tuple(_frozen(np.flatnonzero(types_of_points == kind)) for kind in request_types),
        channels=channels,
        channel_weights=_frozen(channel_weights),
        close_seconds=tuple(
            _frozen(np.array(closes.get(kind, [math.inf]))) for kind in request_types
        ),
        notes=tuple(sorted(notes_index, key=notes_index.__getitem__)),
        closed_notes=tuple(
            _frozen(np.array(closed_notes.get(kind, [0]))) for kind in request_types
        ),
        open_notes=_frozen(np.array(open_notes or [0])),
    )


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def points_inside(
    session: Session, jurisdiction: Jurisdiction, lat: np.ndarray, long: np.ndarray
) -> np.ndarray:
    """Indexes of the points at least EDGE_MARGIN_DEG inside the service area (all of them when
    the jurisdiction has none): one round trip, the shrunk area built once."""
    sql = text(
        """
        WITH area AS MATERIALIZED (
            SELECT ST_Buffer(service_area, -:margin) AS inner_area
            FROM jurisdiction WHERE id = :jurisdiction)
        SELECT p.position - 1
        FROM area, unnest(CAST(:longs AS float8[]), CAST(:lats AS float8[]))
                   WITH ORDINALITY AS p(long, lat, position)
        WHERE area.inner_area IS NULL
           OR ST_Covers(area.inner_area, ST_SetSRID(ST_MakePoint(p.long, p.lat), 4326))
        ORDER BY p.position
        """
    )
    params = {
        "margin": EDGE_MARGIN_DEG,
        "jurisdiction": jurisdiction.id,
        "longs": long.tolist(),
        "lats": lat.tolist(),
    }
    return np.fromiter(session.scalars(sql, params), dtype=np.int64)


def plan_services(
    session: Session, profile: CityProfile, services_by_type: Mapping[str, Service]
) -> ServicePlan:
    """Each request type's service, agency (its routing rule's, else the service's) and the
    descriptions to choose from; ValueError when the catalogue lacks a type of the records."""
    missing = [kind for kind in profile.request_types if kind not in services_by_type]
    if missing:
        raise ValueError(f"no service in the catalogue for request types: {', '.join(missing)}")
    service_ids, agencies, batch, descriptions = [], [], [], []
    for kind in profile.request_types:
        service = services_by_type[kind]
        rule = catalogue_queries.get_routing_rule(session, service)
        agency = rule.agency.name if rule is not None else service.agency_responsible
        service_ids.append(str(service.id))
        agencies.append(agency)
        batch.append(service.type == ServiceType.batch)
        phrases = PHRASES.get(service.service_code, (service.service_name,))
        descriptions.append(tuple(phrase + place for phrase in phrases for place in PLACES))
    return ServicePlan(tuple(service_ids), tuple(agencies), np.array(batch), tuple(descriptions))


# --- drawing requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The local days requests are filed on: midnight of each (epoch seconds) and its weight."""

    midnights: np.ndarray
    day_weights: np.ndarray
    end: int  # epoch seconds: midnight after the last day

    @classmethod
    def before(cls, until: datetime, years: int) -> Window:
        """The `years` of local days before the day of `until` (an aware datetime)."""
        end_day = until.astimezone(LOS_ANGELES).date()
        try:
            first_day = end_day.replace(year=end_day.year - years)
        except ValueError:  # 29 February
            first_day = end_day.replace(year=end_day.year - years, day=28)
        days = [first_day + timedelta(days=i) for i in range((end_day - first_day).days)]
        return cls(
            midnights=np.array([_local_midnight(day) for day in days], dtype=np.int64),
            day_weights=np.array([WEEKDAY_WEIGHTS[day.weekday()] for day in days]),
            end=_local_midnight(end_day),
        )


def _local_midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=LOS_ANGELES).timestamp())


def draw_block(
    profile: CityProfile, plan: ServicePlan, window: Window, seed: int, block: int
) -> Draw:
    """The BLOCK requests numbered block*BLOCK+1 ... (block+1)*BLOCK, from their own generator.

    The order of the random calls is part of what makes SYN-k stable: append new draws at the
    end, never in between.
    """
    rng = np.random.default_rng([seed, block])
    size = BLOCK
    number = np.arange(block * BLOCK + 1, (block + 1) * BLOCK + 1, dtype=np.int64)
    type_index = rng.choice(len(profile.request_types), size, p=_norm(profile.type_weights))
    day = rng.choice(len(window.midnights), size, p=_norm(window.day_weights))
    hour = rng.choice(24, size, p=_norm(profile.hour_weights))
    second = rng.integers(0, 3600, size)
    requested = window.midnights[day] + hour * 3600 + second
    # Requests of a DST-change night could land past the window's last midnight: clamp them.
    requested = np.minimum(requested, window.end - 1)
    point = np.empty(size, dtype=np.int64)
    close_after = np.empty(size)
    notes_index = np.empty(size, dtype=np.int64)
    channel_index = np.empty(size, dtype=np.int64)
    description_index = np.empty(size, dtype=np.int64)
    for t in range(len(profile.request_types)):
        rows = np.flatnonzero(type_index == t)
        pool = profile.points_of[t] if len(profile.points_of[t]) else np.arange(len(profile.lat))
        point[rows] = pool[rng.integers(0, len(pool), len(rows))]
        closes = profile.close_seconds[t]
        close_after[rows] = closes[rng.integers(0, len(closes), len(rows))]
        notes = profile.closed_notes[t]
        notes_index[rows] = notes[rng.integers(0, len(notes), len(rows))]
        weights = profile.channel_weights[t]
        channel_index[rows] = rng.choice(len(weights), len(rows), p=_norm(weights + 1e-9))
        description_index[rows] = rng.integers(0, len(plan.descriptions[t]), len(rows))
    # Times to close vary around the observed ones, so closes do not repeat to the second.
    close_after = np.round(close_after * rng.uniform(0.9, 1.1, size))
    with np.errstate(invalid="ignore"):
        closes_at = requested + np.where(np.isfinite(close_after), close_after, 0).astype(np.int64)
    closed = np.isfinite(close_after) & (closes_at < window.end)
    touched = rng.random(size) < OPEN_TOUCHED_SHARE
    touched_at = requested + (rng.random(size) * (window.end - 1 - requested)).astype(np.int64)
    updated = np.where(closed, closes_at, np.where(touched, touched_at, requested))
    open_notes = profile.open_notes[rng.integers(0, len(profile.open_notes), size)]
    notes_index = np.where(closed, notes_index, open_notes)
    described = rng.random(size) < DESCRIBED_SHARE
    description_index = np.where(described, description_index, -1)
    lat = profile.lat[point]
    long = profile.long[point]
    north, east = rng.uniform(-JITTER_M, JITTER_M, (2, size))
    lat = lat + north / METRES_PER_DEGREE
    long = long + east / (METRES_PER_DEGREE * np.cos(np.radians(lat)))
    token_bits = rng.integers(0, 1 << 62, size, dtype=np.int64)
    return Draw(
        number=number,
        type_index=type_index,
        lat=lat,
        long=long,
        address_index=profile.address_of[point],
        requested=requested,
        updated=updated,
        closed=closed,
        channel_index=channel_index,
        description_index=description_index,
        notes_index=notes_index,
        token_bits=token_bits,
    )


def _norm(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


def draw(
    profile: CityProfile, plan: ServicePlan, window: Window, seed: int, numbers: np.ndarray
) -> Draw:
    """The requests SYN-k for k in `numbers` (sorted, from 1), in order of requested time."""
    parts = []
    blocks = (numbers - 1) // BLOCK
    for block in np.unique(blocks):
        drawn = draw_block(profile, plan, window, seed, int(block))
        parts.append(drawn.take(numbers[blocks == block] - 1 - int(block) * BLOCK))
    if not parts:
        return draw_block(profile, plan, window, seed, 0).take(np.array([], dtype=np.int64))
    drawn = Draw.concatenate(parts)
    return drawn.take(np.lexsort((drawn.number, drawn.requested)))


# --- COPY -------------------------------------------------------------------------------------

NULL = r"\N"  # COPY's text for NULL
COPY_COLUMNS = (
    "service_request_id",
    "jurisdiction_id",
    "service_id",
    "status",
    "status_notes",
    "description",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "address",
    "zipcode",
    "location",
    "channel",
    "token",
)

# A point as hex EWKB (little-endian, with SRID): PostGIS parses it faster than WKT.
_EWKB_POINT = np.dtype(
    [("order", "u1"), ("kind", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
)
_POINT_WITH_SRID = 0x20000001


def _hex_points(long: np.ndarray, lat: np.ndarray) -> list[str]:
    ewkb = np.empty(len(long), dtype=_EWKB_POINT)
    ewkb["order"], ewkb["kind"], ewkb["srid"] = 1, _POINT_WITH_SRID, 4326
    ewkb["x"], ewkb["y"] = long, lat
    text_ = ewkb.tobytes().hex()
    width = 2 * _EWKB_POINT.itemsize
    return [text_[i : i + width] for i in range(0, len(text_), width)]


def _timestamps(epoch: np.ndarray) -> list[str]:
    return np.datetime_as_string(epoch.astype("datetime64[s]"), timezone="UTC").tolist()


@dataclass(frozen=True)
class CopyTables:
    """COPY text of every value a row can take, looked up by the drawn indexes."""

    jurisdiction: str
    service_ids: np.ndarray  # by type
    agencies: np.ndarray  # by type
    batch: np.ndarray  # by type
    descriptions: tuple[np.ndarray, ...]  # by type, by description index
    notes: np.ndarray
    addresses: np.ndarray
    zipcodes: np.ndarray
    channels: np.ndarray

    @classmethod
    def of(cls, profile: CityProfile, plan: ServicePlan, jurisdiction_pk: int) -> CopyTables:
        def column(values: Sequence[str | None]) -> np.ndarray:
            return np.array([copy_escape(v) if v else NULL for v in values], dtype=object)

        return cls(
            jurisdiction=str(jurisdiction_pk),
            service_ids=np.array(plan.service_ids, dtype=object),
            agencies=column(plan.agencies),
            batch=plan.batch,
            descriptions=tuple(column(choices) for choices in plan.descriptions),
            notes=column(profile.notes),
            addresses=column(profile.addresses),
            zipcodes=column(profile.zipcodes),
            channels=column(profile.channels),
        )


def copy_text(drawn: Draw, tables: CopyTables) -> bytes:
    """COPY text lines (columns COPY_COLUMNS) for the drawn requests."""
    n = len(drawn)
    types = drawn.type_index
    descriptions = np.full(n, NULL, dtype=object)
    for t, choices in enumerate(tables.descriptions):
        rows = np.flatnonzero((types == t) & (drawn.description_index >= 0))
        descriptions[rows] = choices[drawn.description_index[rows]]
    tokens = [
        f"{bits:016x}{number:x}" if is_batch else NULL
        for bits, number, is_batch in zip(
            drawn.token_bits.tolist(),
            drawn.number.tolist(),
            tables.batch[types].tolist(),
            strict=True,
        )
    ]
    columns = (
        [f"{PREFIX}{number}" for number in drawn.number.tolist()],
        [tables.jurisdiction] * n,
        tables.service_ids[types].tolist(),
        np.where(drawn.closed, Status.closed.value, Status.open.value).tolist(),
        tables.notes[drawn.notes_index].tolist(),
        descriptions.tolist(),
        tables.agencies[types].tolist(),
        _timestamps(drawn.requested),
        _timestamps(drawn.updated),
        tables.addresses[drawn.address_index].tolist(),
        tables.zipcodes[drawn.address_index].tolist(),
        _hex_points(drawn.long, drawn.lat),
        tables.channels[drawn.channel_index].tolist(),
        tokens,
    )
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode()


class _ChunkReader:
    """A file for psycopg2's copy_expert whose chunks a thread makes while the previous one is
    being sent (psycopg2 releases the GIL while it writes), so that formatting rows here and
    parsing them in the server overlap."""

    def __init__(self, chunks: Iterator[tuple[int, bytes]], progress: Callable[[int], None]):
        self._queue: queue.Queue[tuple[int, bytes] | BaseException | None] = queue.Queue(2)
        self._progress = progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(chunks,), daemon=True)
        self._thread.start()

    def _produce(self, chunks: Iterator[tuple[int, bytes]]) -> None:
        try:
            for chunk in chunks:
                if self._stop.is_set():
                    return
                self._queue.put(chunk)
            self._queue.put(None)
        except BaseException as exc:  # handed to the reading side, which raises it
            self._queue.put(exc)

    def read(self, size: int = -1) -> bytes:
        item = self._queue.get()
        if item is None:
            return b""
        if isinstance(item, BaseException):
            raise item
        rows, data = item
        self._progress(rows)
        return data

    def close(self) -> None:
        """Stop the thread, also when COPY failed half-way and left chunks unread."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)


# --- the load ---------------------------------------------------------------------------------


def missing_numbers(session: Session, requests: int) -> tuple[int, np.ndarray]:
    """(synthetic requests present, the k <= `requests` whose SYN-k is not in the database)."""
    # Only ids of the exact form SYN-<digits> count (and can be cast).
    params = {"start": len(PREFIX) + 1, "pattern": f"^{PREFIX}[0-9]{{1,18}}$"}
    count, top = session.execute(
        text(
            "SELECT count(*), coalesce(max(substr(service_request_id, :start)::bigint), 0) "
            "FROM service_request WHERE service_request_id ~ :pattern"
        ),
        params,
    ).one()
    wanted = np.arange(1, requests + 1, dtype=np.int64)
    if count == top:  # 1..top, the usual case: no need to fetch them
        return count, wanted[top:]
    present = np.fromiter(
        session.scalars(
            text(
                "SELECT substr(service_request_id, :start)::bigint FROM service_request "
                "WHERE service_request_id ~ :pattern"
            ),
            params,
        ),
        dtype=np.int64,
    )
    return count, np.setdiff1d(wanted, present, assume_unique=True)


def load_synthetic_requests(
    session: Session,
    jurisdiction: Jurisdiction,
    services_by_type: Mapping[str, Service],
    city_dir: Path,
    spec: SyntheticSpec,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Add the missing SYN-k (k <= spec.requests) in the caller's transaction and report.

    `services_by_type`: the catalogue's service for each city request type. `progress` is
    called with row counts adding up to spec.requests: those present first, then each COPY
    chunk as it is sent. A load that rebuilds indexes holds service_request, request_district
    (and activity) exclusively until the caller commits.
    """
    report = LoadReport()
    lap = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        report.seconds[name] = report.seconds.get(name, 0.0) + now - lap
        lap = now

    report.present, numbers = missing_numbers(session, spec.requests)
    progress = progress or (lambda rows: None)
    progress(spec.requests - len(numbers))
    if len(numbers) == 0:
        return report
    profile = read_city_profile(city_dir)
    profile = profile.keep_points(points_inside(session, jurisdiction, profile.lat, profile.long))
    plan = plan_services(session, profile, services_by_type)
    window = Window.before(spec.until or clock.now(), spec.years)
    drawn = draw(profile, plan, window, spec.seed, numbers)
    tables = CopyTables.of(profile, plan, jurisdiction.id)
    phase("draw")

    bulk.tune_for_bulk(session)
    existing = session.scalar(text("SELECT count(*) FROM service_request")) or 0
    rebuild = spec.rebuild_indexes
    if rebuild is None:
        rebuild = len(numbers) > max(REBUILD_THRESHOLD, existing)
    report.rebuilt_indexes = rebuild
    restore = bulk.detach_indexes(session, "service_request") if rebuild else []
    # New rows take ids from the table's sequence, so they are the ones from here on.
    first_new_id = session.scalar(text("SELECT coalesce(max(id), 0) + 1 FROM service_request"))

    def chunks() -> Iterator[tuple[int, bytes]]:
        for start in range(0, len(drawn), COPY_CHUNK):
            part = drawn.take(np.arange(start, min(start + COPY_CHUNK, len(drawn))))
            yield len(part), copy_text(part, tables)

    reader = _ChunkReader(chunks(), progress)
    cursor = session.connection().connection.dbapi_connection.cursor()
    try:
        columns = ", ".join(COPY_COLUMNS)
        cursor.copy_expert(f"COPY service_request ({columns}) FROM STDIN", reader, size=1 << 20)
    finally:
        cursor.close()
        reader.close()
    report.created = len(numbers)
    phase("copy")
    bulk.run_statements(session, restore)
    if not rebuild:
        bulk.flush_gin_pending_lists(session, "service_request")
    phase("indexes")
    bulk.analyze_for_placement(session)
    phase("analyze")
    # Two rows per request: three foreign-key checks per row cost more than one join per key.
    restore = bulk.detach_indexes(session, "request_district") if rebuild else []
    report.placements = place_new_requests(session, jurisdiction, first_new_id)
    bulk.run_statements(session, restore)
    bulk.analyze(session, "request_district")
    phase("districts")
    restore = bulk.detach_indexes(session, "work_order") if rebuild else []
    report.work_orders, report.open_work_orders = _open_work_orders(session, first_new_id)
    bulk.run_statements(session, restore)
    bulk.analyze(session, "work_order")
    phase("work orders")
    if spec.with_activity:
        restore = bulk.detach_indexes(session, "activity") if rebuild else []
        report.activities = _log_activity(session, first_new_id)
        report.activities += _log_work_order_activity(session, first_new_id)
        bulk.run_statements(session, restore)
        bulk.analyze(session, "activity")
        phase("activity")
    return report


def place_new_requests(session: Session, jurisdiction: Jurisdiction, first_id: int) -> int:
    """Record the districts of the new requests (id >= `first_id`) by the rule of
    district_queries (covering district, smallest on overlaps, else the nearest within the
    layer's snap tolerance); returns the placements recorded.

    Driven from the districts: each polygon is prepared once by PostGIS and probes a GiST index
    of the new points. The points are first copied into a temporary table in geohash order, so
    that a district's points sit on a few pages: probing the requests' own index read nearly
    every page of the table once per district (the table is in time order, the points all over
    the city). The LATERAL with OFFSET 0 keeps the planner from turning the join around into
    one polygon search per point (30 us each; district_queries.route_located_requests' plan
    for a table this size: 27 s for 1,000,000 requests).
    """
    params = {"jurisdiction": jurisdiction.id, "first": first_id, "pattern": PREFIX + "%"}
    session.execute(text("SET LOCAL jit = off"))  # compiling costs more than it saves here
    session.execute(
        text(
            """
            CREATE TEMPORARY TABLE new_point ON COMMIT DROP AS
            SELECT r.id, r.location FROM service_request r
            WHERE r.id >= :first AND r.jurisdiction_id = :jurisdiction
              AND r.service_request_id LIKE :pattern AND r.location IS NOT NULL
            ORDER BY ST_GeoHash(r.location, 7)
            """
        ),
        params,
    )
    session.execute(text("CREATE INDEX ON new_point USING gist (location)"))
    session.execute(text("ANALYZE new_point"))
    placed = session.execute(
        text(
            """
            INSERT INTO request_district (service_request_pk, layer_id, district_id)
            SELECT DISTINCT ON (r.id, d.layer_id) r.id, d.layer_id, d.id
            FROM district d
            JOIN boundary_layer l ON l.id = d.layer_id
            CROSS JOIN LATERAL (
                SELECT p.id FROM new_point p WHERE ST_Covers(d.geom, p.location) OFFSET 0
            ) r
            WHERE l.jurisdiction_id = :jurisdiction
            ORDER BY r.id, d.layer_id, d.area_m2, d.id
            """
        ),
        params,
    ).rowcount
    # The rest: the nearest district within the layer's tolerance, as district_queries does it
    # for single points (the planar prefilter, then the exact distance on geography).
    degrees = district_queries._DEGREES.format(
        tolerance="l.snap_tolerance_m", lat="ST_Y(r.location)"
    )
    snapped = text(
        f"""
        INSERT INTO request_district (service_request_pk, layer_id, district_id)
        SELECT r.id, l.id, nearest.id
        FROM new_point r
        JOIN boundary_layer l ON l.jurisdiction_id = :jurisdiction
        CROSS JOIN LATERAL (
            SELECT d.id, ST_Distance(d.geom::geography, r.location::geography) AS metres
            FROM district d
            WHERE d.layer_id = l.id AND ST_DWithin(d.geom, r.location, {degrees})
            ORDER BY metres, d.id
            LIMIT 1
        ) nearest
        WHERE NOT EXISTS (SELECT 1 FROM request_district x
                          WHERE x.service_request_pk = r.id AND x.layer_id = l.id)
          AND nearest.metres <= l.snap_tolerance_m
        """
    )
    # The points left over are found by one hash anti-join, not a probe per point and layer.
    session.execute(text("SET LOCAL enable_nestloop = off"))
    placed += session.execute(snapped, params).rowcount
    session.execute(text("SET LOCAL enable_nestloop = on"))
    session.execute(text("DROP TABLE new_point"))
    return placed


# A business day of the catalogue's SLA targets (08:00-17:00), and business days to calendar
# days (five in seven): the backlog's due dates without a calendar walk per row.
BUSINESS_DAY_HOURS = 9.0
CALENDAR_PER_BUSINESS_DAY = 7.0 / 5.0


def _open_work_orders(session: Session, first_id: int) -> tuple[int, int]:
    """The work orders routing and the crews would have left on the new requests; returns
    (work orders, open ones). One statement, set-based.

    Requests whose rule decides by place (a layer) and whose district in that layer has a field
    crew of the step's agency get one work order for that crew (workflow.resolve_crew's first
    choice; the others are left without, as the city's records have none): an open request the
    first step of its workflow, `assigned`, or `in_progress` once it was touched after filing;
    a closed request the last step, `done` when the request closed. Due dates follow the step's
    target in business hours (as calendar time, five business days a week), counted from
    filing; open work orders filed long ago are overdue, recent ones not.
    """
    sql = text(
        """
        WITH service_step AS MATERIALIZED (
            SELECT rr.service_id, st.closed, s.id AS step_id, s.name AS title,
                   coalesce(s.agency_id, rr.agency_id) AS agency_id, rr.layer_id, s.target_hours
            FROM routing_rule rr
            CROSS JOIN (VALUES (false), (true)) AS st(closed)
            CROSS JOIN LATERAL (
                SELECT * FROM workflow_step s WHERE s.workflow_id = rr.workflow_id
                ORDER BY CASE WHEN st.closed THEN -s.position ELSE s.position END LIMIT 1
            ) s
            WHERE rr.layer_id IS NOT NULL AND s.crew_role = :district
        ),
        district_crew AS MATERIALIZED (
            SELECT cd.district_id, c.agency_id, min(c.id) AS crew_id
            FROM crew_district cd JOIN crew c ON c.id = cd.crew_id
            WHERE c.kind = :field
            GROUP BY cd.district_id, c.agency_id
        ),
        new_request AS MATERIALIZED (
            SELECT r.id, r.status, r.requested_datetime, r.updated_datetime, s.*
            FROM service_request r
            JOIN service_step s ON s.service_id = r.service_id AND s.closed = (r.status = :closed)
            WHERE r.id >= :first AND r.service_request_id LIKE :pattern
        )
        INSERT INTO work_order (service_request_pk, step_id, agency_id, crew_id, title, state,
                                priority, due_at, created_at, updated_at, closed_at)
        SELECT r.id, r.step_id, r.agency_id, dc.crew_id, r.title,
               CASE WHEN r.status = :closed THEN :done
                    WHEN r.updated_datetime > r.requested_datetime THEN :in_progress
                    ELSE :assigned END,
               0,
               date_trunc('second', r.requested_datetime + make_interval(
                   secs => r.target_hours / :day_hours * :calendar * 86400)),
               r.requested_datetime, r.updated_datetime,
               CASE WHEN r.status = :closed THEN r.updated_datetime END
        FROM new_request r
        JOIN request_district rd ON rd.service_request_pk = r.id AND rd.layer_id = r.layer_id
        JOIN district_crew dc ON dc.district_id = rd.district_id AND dc.agency_id = r.agency_id
        ORDER BY r.id
        """
    )
    params = {
        "first": first_id,
        "pattern": PREFIX + "%",
        "field": CrewKind.field,
        "district": CrewRole.district,
        "closed": Status.closed,
        "done": WorkOrderState.done,
        "in_progress": WorkOrderState.in_progress,
        "assigned": WorkOrderState.assigned,
        "day_hours": BUSINESS_DAY_HOURS,
        "calendar": CALENDAR_PER_BUSINESS_DAY,
    }
    # The MATERIALIZED steps fix the join order: each request meets its step first, then its
    # district row and crew, by hash joins in one pass (0.8 s for 200,000 requests). Left to
    # itself the planner joined the steps to every district row of the layer first (4,500,000
    # rows) and then probed requests one by one (9 s). Work order ids follow the requests'.
    session.execute(text("SET LOCAL enable_nestloop = off"))
    made = session.execute(sql, params).rowcount
    session.execute(text("SET LOCAL enable_nestloop = on"))
    still_open = session.scalar(
        text(
            "SELECT count(*) FROM work_order w JOIN service_request r "
            "ON r.id = w.service_request_pk "
            "WHERE r.id >= :first AND r.service_request_id LIKE :pattern AND r.status = :open"
        ),
        {"first": first_id, "pattern": PREFIX + "%", "open": Status.open},
    )
    return made, int(still_open or 0)


def _log_work_order_activity(session: Session, first_id: int) -> int:
    """The internal entries workflow.py writes for the new requests' work orders: created,
    and each state change (assigned -> in_progress when work started, in_progress -> done when
    it finished), with the summaries and details the app gives them; one statement."""
    sql = text(
        """
        INSERT INTO activity (service_request_pk, work_order_id, at, actor, kind, summary,
                              details, public)
        SELECT w.service_request_pk, w.id, e.at, 'system', e.kind, e.summary, e.details, false
        FROM work_order w
        JOIN service_request r ON r.id = w.service_request_pk
        JOIN agency a ON a.id = w.agency_id
        JOIN crew c ON c.id = w.crew_id
        LEFT JOIN workflow_step s ON s.id = w.step_id
        CROSS JOIN LATERAL (
            VALUES (w.created_at, :created,
                    'Work order ' || w.id || ' created: ' || w.title || ' for ' || a.name
                        || ', crew ' || c.name,
                    jsonb_build_object(
                        'work_order_id', w.id, 'step', s.code, 'agency', a.code,
                        'crew_id', c.id, 'crew', c.code, 'state', :assigned,
                        'parent_id', NULL, 'not_before', NULL,
                        'due_at', to_char(w.due_at AT TIME ZONE 'UTC',
                                          'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'))),
                   (CASE WHEN w.state IN (:in_progress, :done)
                         THEN CASE WHEN w.state = :done
                                   THEN w.created_at + (w.updated_at - w.created_at) / 2
                                   ELSE w.updated_at END END,
                    :state_kind,
                    'Work order ' || w.id || ' (' || w.title || '): assigned -> in_progress',
                    jsonb_build_object('from', :assigned, 'to', :in_progress, 'note', NULL,
                                       'follow_up_ids', '[]'::jsonb)),
                   (CASE WHEN w.state = :done THEN w.closed_at END,
                    :state_kind,
                    'Work order ' || w.id || ' (' || w.title || '): in_progress -> done',
                    jsonb_build_object('from', :in_progress, 'to', :done, 'note', NULL,
                                       'outcome', NULL, 'follow_up_ids', '[]'::jsonb))
        ) AS e(at, kind, summary, details)
        WHERE r.id >= :first AND r.service_request_id LIKE :pattern AND e.at IS NOT NULL
        """
    )
    params = {
        "first": first_id,
        "pattern": PREFIX + "%",
        "created": ActivityKind.work_order_created,
        "state_kind": ActivityKind.work_order_state,
        "assigned": WorkOrderState.assigned,
        "in_progress": WorkOrderState.in_progress,
        "done": WorkOrderState.done,
    }
    return session.execute(sql, params).rowcount


def _log_activity(session: Session, first_new_id: int) -> int:
    """The public entries intake and the workflow would have logged for each new synthetic
    request: 'submitted' when filed and, for closed ones, 'request_closed'; one statement."""
    sql = text(
        """
        INSERT INTO activity (service_request_pk, at, actor, kind, status, summary, details, public)
        SELECT r.id, e.at, 'system', e.kind, e.status, e.summary, e.details, true
        FROM service_request r
        CROSS JOIN LATERAL (
            VALUES (r.requested_datetime, :submitted, :open,
                    'Request received via ' || coalesce(r.channel, 'unknown'),
                    CAST('{}' AS jsonb)),
                   (CASE WHEN r.status = :closed THEN r.updated_datetime END,
                    :request_closed, :closed,
                    'Closed' || coalesce(': ' || r.status_notes, ''),
                    CAST(:closing_details AS jsonb))
        ) AS e(at, kind, status, summary, details)
        WHERE r.id >= :first AND r.service_request_id LIKE :pattern AND e.at IS NOT NULL
        """
    )
    params = {
        "first": first_new_id,
        "pattern": PREFIX + "%",
        "submitted": ActivityKind.submitted,
        "request_closed": ActivityKind.request_closed,
        "open": Status.open,
        "closed": Status.closed,
        "closing_details": json.dumps({"status": {"from": Status.open, "to": Status.closed}}),
    }
    return session.execute(sql, params).rowcount
