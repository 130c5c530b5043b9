"""Typed models: the public catalogue and requests, and the private data kept apart from them."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, Point
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REGCONFIG, TSVECTOR
from sqlalchemy.orm import Mapped, Unmapped, mapped_column, relationship, unmapped_column

from open311.db.base import Base
from open311.values import (
    OPEN_WORK_ORDER_STATES,
    ArticleState,
    ContactChannel,
    ContactOutcome,
    CrewKind,
    CrewRole,
    Datatype,
    DeliveryChannel,
    DeliveryState,
    DuplicateState,
    ServiceType,
    SlaClock,
    StaffRole,
    Status,
    SubscriptionScope,
    WorkOrderState,
)

Timestamp = DateTime(timezone=True)

# Public ids of requests filed here; imported requests keep the ids their city gave them.
SERVICE_REQUEST_NUMBER = Sequence(
    "service_request_number_seq", start=100001, metadata=Base.metadata
)


def _sql_list(values: tuple[enum.StrEnum, ...]) -> str:
    """Enum values as an SQL list of literals, for index predicates (which need constants)."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # VARCHAR + CHECK rather than a native PG enum: adding a value later is a one-line migration.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Jurisdiction(Base):
    """A city served by this endpoint; `jurisdiction_id` is its web domain, as the spec suggests."""

    __tablename__ = "jurisdiction"
    __table_args__ = (
        Index(
            "uq_jurisdiction_is_default",
            "is_default",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Bumped whenever services or definitions change, so discovery tells clients to refresh.
    catalogue_changed_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    # Where the city takes requests; a point outside it is refused. NULL: no check. Deferred:
    # the check runs in SQL, and loading it shipped tens of KB of polygon with every jurisdiction.
    service_area: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), deferred=True
    )
    # The SLA clock: business hours in the city's time zone, ISO weekdays (1 = Monday),
    # the public holidays the `holidays` package knows for country/subdivision, plus CityHoliday.
    business_day_start: Mapped[time] = mapped_column(
        Time, default=time(8, 0), server_default=text("'08:00'")
    )
    business_day_end: Mapped[time] = mapped_column(
        Time, default=time(17, 0), server_default=text("'17:00'")
    )
    business_weekdays: Mapped[str] = mapped_column(
        String(7), default="12345", server_default=text("'12345'")
    )
    holiday_country: Mapped[str | None] = mapped_column(String(2), default="US")
    holiday_subdivision: Mapped[str | None] = mapped_column(String(8))
    # An open request of the same service filed within this distance and time before a new one
    # makes the new one a suspected duplicate of it. A radius of 0 turns detection off.
    duplicate_radius_m: Mapped[float] = mapped_column(
        Float, default=40.0, server_default=text("40")
    )
    duplicate_window_hours: Mapped[float] = mapped_column(
        Float, default=168.0, server_default=text("168")
    )
    # The city a GeoReport call without jurisdiction_id means when the server has several
    # (domain/jurisdictions.py `resolve`); at most one row is flagged.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # What discovery advertises for this city; NULL: the server's OPEN311_PUBLIC_URL / _CONTACT.
    public_url: Mapped[str | None] = mapped_column(String(255))
    contact: Mapped[str | None] = mapped_column(Text)
    # The languages the city serves (BCP 47 tags, the default first or anywhere) and the one
    # its catalogue and notes are written in: what an unknown or absent locale falls back to.
    default_locale: Mapped[str] = mapped_column(
        String(35), default="en", server_default=text("'en'")
    )
    locales: Mapped[list[str]] = mapped_column(
        ARRAY(String(35)), default=lambda: ["en"], server_default=text("'{en}'")
    )

    services: Mapped[list[Service]] = relationship(back_populates="jurisdiction")


class Service(Base):
    """A request type offered to the public (GET services)."""

    __tablename__ = "service"
    __table_args__ = (
        UniqueConstraint("jurisdiction_id", "service_code"),
        # FixMyStreet matches categories by name: two services of one city named alike (any
        # case, spaces around) would make one take the other's reports.
        Index(
            "ux_service_jurisdiction_id_name",
            "jurisdiction_id",
            text("lower(btrim(service_name))"),
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id"), index=True)
    service_code: Mapped[str] = mapped_column(String(64))
    service_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    group: Mapped[str | None] = mapped_column("service_group", String(255))
    keywords: Mapped[str | None] = mapped_column(Text)
    type: Mapped[ServiceType] = mapped_column(
        _enum(ServiceType, "service_type"), default=ServiceType.realtime
    )
    agency_responsible: Mapped[str | None] = mapped_column(String(255))
    service_notice: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))

    jurisdiction: Mapped[Jurisdiction] = relationship(back_populates="services")
    attributes: Mapped[list[ServiceAttribute]] = relationship(
        back_populates="service",
        order_by="ServiceAttribute.position",
        cascade="all, delete-orphan",
    )

    @property
    def metadata_(self) -> bool:
        """The spec's `metadata` flag: true exactly when the service has a definition to fetch."""
        return bool(self.attributes)


class ServiceAttribute(Base):
    """One question of a service definition."""

    __tablename__ = "service_attribute"
    __table_args__ = (
        UniqueConstraint("service_id", "code"),
        UniqueConstraint("service_id", "position", name="uq_service_attribute_position"),
        CheckConstraint("position > 0", name="position_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    variable: Mapped[bool] = mapped_column(Boolean, default=True)
    datatype: Mapped[Datatype] = mapped_column(_enum(Datatype, "attribute_datatype"))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    datatype_description: Mapped[str | None] = mapped_column(Text)
    # The spec calls it `order`; a reserved word in SQL, so the column is `position`.
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)

    service: Mapped[Service] = relationship(back_populates="attributes")
    values: Mapped[list[AttributeValue]] = relationship(
        back_populates="attribute",
        order_by="AttributeValue.position",
        cascade="all, delete-orphan",
    )


class AttributeValue(Base):
    """An allowed answer of a single- or multi-value list attribute."""

    __tablename__ = "attribute_value"
    __table_args__ = (UniqueConstraint("attribute_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attribute_id: Mapped[int] = mapped_column(
        ForeignKey("service_attribute.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer)

    attribute: Mapped[ServiceAttribute] = relationship(back_populates="values")


class CityHoliday(Base):
    """A day the city is closed beyond the public holidays the `holidays` package knows."""

    __tablename__ = "city_holiday"
    __table_args__ = (UniqueConstraint("jurisdiction_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(255))


class BoundaryLayer(Base):
    """A set of districts of one kind (council districts, sanitation areas, ...)."""

    __tablename__ = "boundary_layer"
    __table_args__ = (UniqueConstraint("jurisdiction_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(Text)
    # A point in no district of the layer (a gap, a sliver, a street centre-line) goes to the
    # nearest district within this distance; beyond it, to no district.
    snap_tolerance_m: Mapped[float] = mapped_column(Float, default=50.0)
    imported_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())

    districts: Mapped[list[District]] = relationship(
        back_populates="layer", cascade="all, delete-orphan", order_by="District.name"
    )


class District(Base):
    """One named MultiPolygon of a layer."""

    __tablename__ = "district"
    __table_args__ = (UniqueConstraint("layer_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("boundary_layer.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    # Kept so overlapping candidates are ordered without computing areas per request.
    area_m2: Mapped[float] = mapped_column(Float)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True)
    )

    layer: Mapped[BoundaryLayer] = relationship(back_populates="districts")


class Agency(Base):
    """A department responsible for services (Sanitation Bureau, Street Lighting Bureau, ...)."""

    __tablename__ = "agency"
    __table_args__ = (UniqueConstraint("jurisdiction_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))

    crews: Mapped[list[Crew]] = relationship(back_populates="agency", order_by="Crew.id")


crew_district = Table(
    "crew_district",
    Base.metadata,
    Column("crew_id", ForeignKey("crew.id", ondelete="CASCADE"), primary_key=True),
    Column("district_id", ForeignKey("district.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_crew_district_district_id", "district_id"),
)


class Crew(Base):
    """A team of an agency; field crews cover districts, triage and supervisor crews are queues."""

    __tablename__ = "crew"
    __table_args__ = (UniqueConstraint("agency_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[CrewKind] = mapped_column(_enum(CrewKind, "crew_kind"), default=CrewKind.field)

    agency: Mapped[Agency] = relationship(back_populates="crews")
    districts: Mapped[list[District]] = relationship(secondary=crew_district)


class Workflow(Base):
    """The steps a request of a service goes through, each a work order for some crew."""

    __tablename__ = "workflow"
    __table_args__ = (UniqueConstraint("jurisdiction_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))

    steps: Mapped[list[WorkflowStep]] = relationship(
        back_populates="workflow", order_by="WorkflowStep.position", cascade="all, delete-orphan"
    )


class WorkflowStep(Base):
    """One step: who does it, how long it may take, and what follows it.

    After a work order of this step is done, the next step is `outcomes[outcome]` when the crew
    reported an outcome listed there (a code, or null to finish), else `next_step` (a code),
    else the step at the next position; no next step finishes the workflow.
    """

    __tablename__ = "workflow_step"
    __table_args__ = (
        UniqueConstraint("workflow_id", "code"),
        UniqueConstraint("workflow_id", "position", name="uq_workflow_step_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    # NULL: the agency of the service's routing rule.
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    crew_role: Mapped[CrewRole] = mapped_column(
        _enum(CrewRole, "crew_role"), default=CrewRole.district
    )
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crew.id"))
    # Business hours the crew has for the step, counted from when it may start.
    target_hours: Mapped[float] = mapped_column(Float)
    # Calendar hours before the step may start (e.g. the legal waiting period before a tow).
    wait_hours: Mapped[float] = mapped_column(Float, default=0.0)
    next_step: Mapped[str | None] = mapped_column(String(64))
    outcomes: Mapped[dict[str, str | None]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    # Shown to the public as status_notes while this step is open.
    public_note: Mapped[str | None] = mapped_column(Text)

    workflow: Mapped[Workflow] = relationship(back_populates="steps")
    agency: Mapped[Agency | None] = relationship()
    crew: Mapped[Crew | None] = relationship()


class RoutingRule(Base):
    """How requests of a service are routed: agency, deciding layer, fallback, workflow, SLA."""

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), unique=True
    )
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    # The layer whose district decides the crew; NULL: always the fallback crew.
    layer_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_layer.id"))
    fallback_crew_id: Mapped[int | None] = mapped_column(ForeignKey("crew.id"))
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflow.id"))
    sla_days: Mapped[float | None] = mapped_column(Float)
    sla_clock: Mapped[SlaClock] = mapped_column(
        _enum(SlaClock, "sla_clock"), default=SlaClock.business
    )

    service: Mapped[Service] = relationship()
    agency: Mapped[Agency] = relationship()
    layer: Mapped[BoundaryLayer | None] = relationship()
    fallback_crew: Mapped[Crew | None] = relationship()
    workflow: Mapped[Workflow | None] = relationship()


class ApiClient(Base):
    """An application allowed to POST; only a SHA-256 of its key is stored."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, so an administrator can tell keys apart.
    key_prefix: Mapped[str] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    # The client's own rate limit ("600/minute", `limits` notation); None: the server's default.
    rate_limit: Mapped[str | None] = mapped_column(String(64))


class ServiceRequest(Base):
    """A request as the public sees it; the requester's personal data lives in `Requester`."""

    __tablename__ = "service_request"
    # RETURNING the server-made service_request_id on insert saves a second round trip. The
    # search_vector column is in the table but not mapped: the ORM never reads it (queries use
    # it in SQL), and mapped, being generated, it was fetched back (RETURNING a tsvector) after
    # every UPDATE of a request.
    __mapper_args__ = {"eager_defaults": True}
    # One index per query shape of GET requests and the back office; the EXPLAIN tests
    # in tests/db/test_indexes.py hold each shape to its index.
    __table_args__ = (
        # Date windows, newest first, and their keyset cursor.
        Index("ix_service_request_requested", "requested_datetime", "id"),
        Index("ix_service_request_service_requested", "service_id", "requested_datetime"),
        # The change feed: updated since T, in (updated_datetime, id) keyset order.
        Index("ix_service_request_updated", "updated_datetime", "id"),
        # status=open (or closed) in a window, newest first, without scanning the other status.
        Index("ix_service_request_status_requested", "status", "requested_datetime", "id"),
        # An agency's queue in a window, newest first.
        Index(
            "ix_service_request_agency_requested", "agency_responsible", "requested_datetime", "id"
        ),
        # Open requests in a bounding box: the planner combined the full GiST index with a status
        # index badly; a GiST index over the open rows only (a few percent of them) doubled the
        # throughput of that query in the benchmark (bench/). Queries must say status = 'open'.
        Index(
            "ix_service_request_location_open",
            "location",
            postgresql_using="gist",
            postgresql_where=text(f"status = '{Status.open}'"),
        ),
        # Full-text search over description and address.
        Index("ix_service_request_search_vector", "search_vector", postgresql_using="gin"),
        # Newest first in a bbox or circle at any size: a 3-D GiST index over longitude,
        # latitude and days (migration 0019; search_queries reads it window by window).
        Index(
            "ix_service_request_spacetime",
            literal_column("open311_spacetime(location, requested_datetime)").label("spacetime"),
            postgresql_using="gist",
            postgresql_ops={"spacetime": "gist_geometry_ops_nd"},
            postgresql_where=text("location IS NOT NULL"),
        ),
        # The map's tiles: a tile's requests are one range of tile keys (Z-order codes;
        # migration 0020), read index-only (db/tile_queries.py).
        Index(
            "ix_service_request_tile",
            "jurisdiction_id",
            literal_column("open311_tile_key(location)").label("tile_key"),
            postgresql_include=[
                "location",
                "status",
                "service_id",
                "requested_datetime",
                "service_request_id",
            ],
            postgresql_where=text("location IS NOT NULL"),
        ),
        CheckConstraint(
            "(duplicate_of_pk IS NULL) = (duplicate_state IS NULL)", name="duplicate_link_whole"
        ),
        CheckConstraint("duplicate_of_pk <> id", name="not_own_duplicate"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service_request_id: Mapped[str] = mapped_column(
        String(64),
        unique=True,
        server_default=text("nextval('service_request_number_seq')::text"),
    )
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    status: Mapped[Status] = mapped_column(_enum(Status, "request_status"), default=Status.open)
    status_notes: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    agency_responsible: Mapped[str | None] = mapped_column(String(255))
    service_notice: Mapped[str | None] = mapped_column(Text)
    requested_datetime: Mapped[datetime] = mapped_column(Timestamp)
    updated_datetime: Mapped[datetime] = mapped_column(Timestamp)
    expected_datetime: Mapped[datetime | None] = mapped_column(Timestamp)
    address: Mapped[str | None] = mapped_column(Text)
    address_id: Mapped[str | None] = mapped_column(String(255))
    zipcode: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True)
    )
    media_url: Mapped[str | None] = mapped_column(Text)
    # Every URL a client linked when it sent several (FixMyStreet repeats media_url); media_url
    # is the first. NULL for none or one.
    media_urls: Mapped[list[str] | None] = mapped_column(JSONB(none_as_null=True))
    # Answers to the service definition: code -> value, or list of keys for multivaluelist.
    attribute_values: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    channel: Mapped[str | None] = mapped_column(String(32))
    api_client_id: Mapped[int | None] = mapped_column(ForeignKey("api_client.id"))
    # Batch services answer POST with this; GET tokens/{token} resolves it.
    token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Filed with an address only: routed to triage until staff give it a point.
    needs_location: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # The request this one repeats (same problem, same place), and whether that is suspected
    # (found at intake) or confirmed (merged by a supervisor). Both NULL, or both set.
    duplicate_of_pk: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="SET NULL"), index=True
    )
    duplicate_state: Mapped[DuplicateState | None] = mapped_column(
        _enum(DuplicateState, "duplicate_state")
    )
    # What full-text search matches: English stems of the description and the address. A STORED
    # generated column, so every writer (the ORM, COPY, imports) keeps it in step without code;
    # unmapped, so the ORM never loads or returns it. Queries must use the same
    # configuration: search_vector @@ websearch_to_tsquery('english', ...).
    search_vector: Unmapped[Any] = unmapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('english', coalesce(description, '') || ' ' || coalesce(address, ''))",
            persisted=True,
        ),
        nullable=False,
    )

    service: Mapped[Service] = relationship()
    duplicate_of: Mapped[ServiceRequest | None] = relationship(remote_side=[id])
    districts: Mapped[list[RequestDistrict]] = relationship(
        cascade="all, delete-orphan", order_by="RequestDistrict.layer_id"
    )
    work_orders: Mapped[list[WorkOrder]] = relationship(
        back_populates="service_request", order_by="WorkOrder.id"
    )
    requester: Mapped[Requester | None] = relationship(
        back_populates="service_request", cascade="all, delete-orphan", uselist=False
    )

    @property
    def point(self) -> Point | None:
        """The location as a shapely Point (x longitude, y latitude), None without one: the
        plain value the wire formats take."""
        return to_shape(self.location) if self.location is not None else None  # type: ignore[return-value]


# Rows still holding someone's details (retention and erasure empty them; domain/privacy.py):
# what the partial indexes below cover, so a retention run reads only rows left to empty.
_PERSONAL_PRESENT = (
    "email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL OR phone IS NOT NULL"
    " OR account_id IS NOT NULL"
)


class PersonalDetails:
    """What a person may give of themselves with a request or an update: kept in a table of its
    own, never published, exported or logged."""

    email: Mapped[str | None] = mapped_column(String(254))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(255))


class Requester(PersonalDetails, Base):
    """Who filed a request. Never serialised into any public response, export or log."""

    __tablename__ = "requester"
    __table_args__ = (
        Index(
            "ix_requester_personal",
            "id",
            postgresql_where=text(f"{_PERSONAL_PRESENT} OR device_id IS NOT NULL"),
        ),
        # The e-mails one address had today (notify/email.py's daily limit), found by address.
        Index("ix_requester_email_lower", text("lower(email)")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_pk: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="CASCADE"), unique=True
    )
    device_id: Mapped[str | None] = mapped_column(String(255))
    # The language to write to the requester in (BCP 47, e.g. "es"), when the app told us.
    language: Mapped[str | None] = mapped_column(String(16))

    service_request: Mapped[ServiceRequest] = relationship(back_populates="requester")


class RequestDistrict(Base):
    """The district of each layer a request's point was routed to (one per layer)."""

    __tablename__ = "request_district"
    # A district's requests as an index-only scan: (district_id, service_request_pk) answers
    # "requests of district X" without visiting this table's heap (5-10x faster than the former
    # (district_id) index on 1M requests, when most of the district's rows are filtered out).
    # The primary key serves the other direction, request -> districts.
    __table_args__ = (
        Index("ix_request_district_district_request", "district_id", "service_request_pk"),
    )

    service_request_pk: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="CASCADE"), primary_key=True
    )
    layer_id: Mapped[int] = mapped_column(
        ForeignKey("boundary_layer.id", ondelete="CASCADE"), primary_key=True
    )
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id", ondelete="CASCADE"))

    district: Mapped[District] = relationship()


class WorkOrder(Base):
    """One step of a request's workflow, assigned to a crew."""

    __tablename__ = "work_order"
    __table_args__ = (
        Index("ix_work_order_service_request_pk", "service_request_pk"),
        Index("ix_work_order_crew_state", "crew_id", "state"),
        # The crews' queues (work_queries.find_queue): open work in due order, of one crew or
        # of all (then narrowed by district, box or date); a page is the first rows of a walk.
        Index(
            "ix_work_order_open_crew_due",
            "crew_id",
            "due_at",
            "id",
            postgresql_where=text(f"state IN {_sql_list(OPEN_WORK_ORDER_STATES)}"),
        ),
        Index(
            "ix_work_order_open_due",
            "due_at",
            "id",
            postgresql_where=text(f"state IN {_sql_list(OPEN_WORK_ORDER_STATES)}"),
        ),
        # What `open311 escalate` scans: open, overdue, not yet escalated.
        Index(
            "ix_work_order_escalation_due",
            "due_at",
            postgresql_where=text(
                f"state IN {_sql_list(OPEN_WORK_ORDER_STATES)} AND escalated_at IS NULL"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service_request_pk: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="CASCADE")
    )
    step_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_step.id"))
    # The work order whose completion created this one (follow-up work orders).
    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("work_order.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crew.id"))
    title: Mapped[str] = mapped_column(String(255))
    state: Mapped[WorkOrderState] = mapped_column(
        _enum(WorkOrderState, "work_order_state"), default=WorkOrderState.new
    )
    priority: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    outcome: Mapped[str | None] = mapped_column(String(64))
    not_before: Mapped[datetime | None] = mapped_column(Timestamp)
    due_at: Mapped[datetime | None] = mapped_column(Timestamp)
    escalated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp)

    service_request: Mapped[ServiceRequest] = relationship(back_populates="work_orders")
    step: Mapped[WorkflowStep | None] = relationship()
    agency: Mapped[Agency] = relationship()
    crew: Mapped[Crew | None] = relationship()


class Activity(Base):
    """Append-only log of everything that happened to a request: who, when, what and why.

    A trigger (migration 0002) refuses UPDATE and DELETE, so history cannot be rewritten.
    """

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_request_at", "service_request_pk", "at"),
        # The public updates feed (servicerequestupdates) in (at, id) keyset order.
        Index("ix_activity_public_at", "at", "id", postgresql_where=text("public")),
        # POST servicerequestupdates is idempotent on the client's own update_id.
        UniqueConstraint("api_client_id", "client_update_id"),
        CheckConstraint("public OR status IS NULL", name="status_only_public"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service_request_pk: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="CASCADE")
    )
    work_order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("work_order.id"))
    at: Mapped[datetime] = mapped_column(Timestamp)
    actor: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    # Only public entries are ever published (as notes and updates); the default is internal.
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # A public entry's status in the extended set of servicerequestupdates (digest §8.4):
    # open, in_progress, action_scheduled, fixed, duplicate, ... (values.UpdateStatus).
    status: Mapped[str | None] = mapped_column(String(32))
    # Set on updates posted by an app: which client, and the client's own id for the update.
    api_client_id: Mapped[int | None] = mapped_column(ForeignKey("api_client.id"))
    client_update_id: Mapped[str | None] = mapped_column(String(64))


class UpdateAuthor(PersonalDetails, Base):
    """Who posted an update through an app. Personal data: never published, exported or logged."""

    __tablename__ = "update_author"
    __table_args__ = (
        Index("ix_update_author_personal", "id", postgresql_where=text(_PERSONAL_PRESENT)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("activity.id", ondelete="CASCADE"), unique=True
    )


staff_user_crew = Table(
    "staff_user_crew",
    Base.metadata,
    Column("staff_user_id", ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True),
    Column("crew_id", ForeignKey("crew.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_staff_user_crew_crew_id", "crew_id"),
)


# The cities a staff user works for; the staff API shows and changes only theirs.
staff_user_jurisdiction = Table(
    "staff_user_jurisdiction",
    Base.metadata,
    Column("staff_user_id", ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True),
    Column("jurisdiction_id", ForeignKey("jurisdiction.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_staff_user_jurisdiction_jurisdiction_id", "jurisdiction_id"),
)


class StaffUser(Base):
    """Someone inside the city who works requests; the password is stored as a slow hash."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(255))
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    # Password guessing: wrong passwords in a row, and until when sign-in is refused after too
    # many (domain/staff.py).
    failed_logins: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(Timestamp)

    crews: Mapped[list[Crew]] = relationship(secondary=staff_user_crew, order_by="Crew.id")
    jurisdictions: Mapped[list[Jurisdiction]] = relationship(
        secondary=staff_user_jurisdiction, order_by="Jurisdiction.id"
    )


class StaffToken(Base):
    """A bearer token of a staff user; only its SHA-256 is stored. Expires, can be revoked."""

    __tablename__ = "staff_token"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so a user's tokens can be told apart in a list.
    token_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)

    user: Mapped[StaffUser] = relationship()


class Media(Base):
    """A photo sent with a request or an app's update: stored re-encoded without metadata,
    with a thumbnail; served under /media/<name>."""

    __tablename__ = "media"
    __table_args__ = (Index("ix_media_service_request_pk", "service_request_pk", "position"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service_request_pk: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="CASCADE")
    )
    # Set when the photo came with an update rather than with the request itself.
    activity_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("activity.id", ondelete="CASCADE"), index=True
    )
    # Random file names: they cannot be guessed from a request id.
    name: Mapped[str] = mapped_column(String(64), unique=True)
    thumbnail_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class WebhookSubscription(Base):
    """An API client's wish to be told of events, by HTTP POST to `url`, signed with `secret`."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (
        CheckConstraint("(scope = 'area') = (area IS NOT NULL)", name="area_when_scoped"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    # The HMAC-SHA256 key of the signatures; shown once, kept because signing needs it.
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[str]] = mapped_column(JSONB)
    scope: Mapped[SubscriptionScope] = mapped_column(_enum(SubscriptionScope, "subscription_scope"))
    area: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True)
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    created_by: Mapped[str] = mapped_column(String(255))

    api_client: Mapped[ApiClient] = relationship()

    @property
    def area_shape(self) -> MultiPolygon | None:
        """The area as a shapely MultiPolygon, None for an `own` subscription."""
        return to_shape(self.area) if self.area is not None else None  # type: ignore[return-value]


class OutboxEvent(Base):
    """Something citizens' apps may be told of, written in the transaction that made it happen
    (the transactional outbox); its deliveries are written with it."""

    __tablename__ = "outbox_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    service_request_pk: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="CASCADE"), index=True
    )
    activity_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("activity.id"))
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)
    # The public body sent to webhooks: no personal data, ever.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Delivery(Base):
    """One event to one receiver (a webhook subscription, or the requester by e-mail), with its
    attempts. A worker claims a due row by leasing it (`leased_until`) and sends it with no row
    lock held; a subscription's deliveries, and all e-mails, go one at a time."""

    __tablename__ = "delivery"
    __table_args__ = (
        # Due order with a tie-break: one commit's deliveries share next_attempt_at and go out
        # in the order they were made.
        Index(
            "ix_delivery_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_delivery_parked", "parked_at", postgresql_where=text("state = 'parked'")),
        CheckConstraint(
            "(channel = 'webhook') = (subscription_id IS NOT NULL)", name="webhook_has_subscription"
        ),
        Index(
            "ix_delivery_leased",
            "subscription_id",
            "leased_until",
            postgresql_where=text("leased_until IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Sent with every attempt, so a receiver can drop a delivery it has already processed.
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("outbox_event.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[DeliveryChannel] = mapped_column(_enum(DeliveryChannel, "delivery_channel"))
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE"), index=True
    )
    # E-mail: which message (received, closed); the address is read from Requester when sent.
    template: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[DeliveryState] = mapped_column(
        _enum(DeliveryState, "delivery_state"), default=DeliveryState.pending
    )
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(Timestamp)
    last_status: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    parked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Claimed by a worker until then (no row lock is held while it sends); None: not claimed.
    leased_until: Mapped[datetime | None] = mapped_column(Timestamp)

    event: Mapped[OutboxEvent] = relationship()
    subscription: Mapped[WebhookSubscription | None] = relationship()


class IdempotencyKey(Base):
    """A POST requests' Idempotency-Key and the answer it got, so a retry gets that answer again
    (the request filed once). Written in the transaction that files the request; kept a day."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("api_client_id", "key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of what was sent: the same key with another body is refused (422).
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    service_request_pk: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class AuditEntry(Base):
    """One change made through the staff API: who, when, which endpoint, which fields. Written
    in the transaction of the change; append-only (a trigger refuses UPDATE and DELETE). Field
    values are not kept: bodies may carry passwords or a caller's contact details."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_at", "at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp)
    actor: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    # The endpoint as routed (/api/v1/services/<service_code>) and the path as called.
    route: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1000))
    fields: Mapped[list[str]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    # Counts a privacy job or erasure reports (what it emptied or deleted); never whose.
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )


class JobRun(Base):
    """One run of a scheduled job by a worker (db/job_queries.py): when, and whether it worked.
    Counted by /metrics across nodes; never anything about a person (the error is a class name)."""

    __tablename__ = "job_run"
    __table_args__ = (Index("ix_job_run_job_started_at", "job", "started_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # A values.ScheduledJob, kept as text so that a new job needs no migration.
    job: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    # NULL while it runs (or when its worker died during it).
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(100))


# --- languages and the knowledge base ----------------------------------------------------------


class Translation(Base):
    """One public text of a city in another language, gettext style: `source` is the text as
    the city wrote it (a service name, an attribute's description, a value's name, a workflow
    step's public note, a topic's name), `context` tells apart one source meant two ways
    (msgctxt; '' for most). A renamed source loses its translation, as in a PO file; the PO
    and XLIFF exchange (domain/translations) reads and writes these rows."""

    __tablename__ = "translation"
    __table_args__ = (
        Index(
            "ux_translation_lookup",
            "jurisdiction_id",
            "locale",
            "context",
            text("md5(source)"),
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(35))
    context: Mapped[str] = mapped_column(String(64), default="", server_default=text("''"))
    source: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(100))


class ArticleTopic(Base):
    """A heading of a city's knowledge base: a theme (no parent) or a topic under one. The
    name is in the city's default language; other languages through Translation."""

    __tablename__ = "article_topic"
    __table_args__ = (UniqueConstraint("jurisdiction_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("article_topic.id", ondelete="SET NULL"), index=True
    )

    parent: Mapped[ArticleTopic | None] = relationship(remote_side="ArticleTopic.id")


class Article(Base):
    """A knowledge-base article: the standard answer to an information call ("when is my
    trash picked up?"), public once published. What is said lives in its variants, one per
    language; `article_id` is its public id (a slug such as bulk-item-pickup)."""

    __tablename__ = "article"
    __table_args__ = (UniqueConstraint("jurisdiction_id", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    article_id: Mapped[str] = mapped_column(String(100))
    topic_id: Mapped[int | None] = mapped_column(
        ForeignKey("article_topic.id", ondelete="SET NULL"), index=True
    )
    # Codes of the city's services an answer may end in ("file a request for X").
    service_codes: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), default=list, server_default=text("'{}'")
    )
    # A rule that starts or ends: outside these dates the article is not offered.
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    contact: Mapped[str | None] = mapped_column(Text)
    state: Mapped[ArticleState] = mapped_column(
        _enum(ArticleState, "article_state"), default=ArticleState.draft
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)

    topic: Mapped[ArticleTopic | None] = relationship()
    variants: Mapped[list[ArticleVariant]] = relationship(
        back_populates="article", order_by="ArticleVariant.locale", cascade="all, delete-orphan"
    )


class ArticleVariant(Base):
    """An article in one language. Texts are stored NFC-normalised, the body as sanitised
    HTML (rendered from Markdown when written so). `search_config` is the PostgreSQL text
    search configuration of the language ('simple' where PostgreSQL has none), so the
    generated `search_vector` stems each language as its own: title (A) > keywords (B) >
    summary, answer and body (C). `match_text` is title and keywords folded (lower case, no
    accents) for pg_trgm's similarity, so a misspelt word still finds the article."""

    __tablename__ = "article_variant"
    __table_args__ = (
        UniqueConstraint("article_pk", "locale"),
        Index("ix_article_variant_search_vector", "search_vector", postgresql_using="gin"),
        Index(
            "ix_article_variant_match_text",
            "match_text",
            postgresql_using="gin",
            postgresql_ops={"match_text": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_pk: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(35))
    title: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    # What the body was written in ('html' or 'markdown') and as; `body` is what is served.
    body_format: Mapped[str] = mapped_column(
        String(16), default="html", server_default=text("'html'")
    )
    body_source: Mapped[str | None] = mapped_column(Text)
    # The steps a caller follows, in order, each a sanitised HTML fragment.
    steps: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'"))
    keywords: Mapped[str | None] = mapped_column(Text)
    # The standard answer a call-taker reads out, plain text.
    answer_text: Mapped[str | None] = mapped_column(Text)
    search_config: Mapped[str] = mapped_column(
        REGCONFIG, default="simple", server_default=text("'simple'::regconfig")
    )
    match_text: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    search_vector: Unmapped[Any] = unmapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector(search_config, coalesce(title, '')), 'A') || "
            "setweight(to_tsvector(search_config, coalesce(keywords, '')), 'B') || "
            "setweight(to_tsvector(search_config, coalesce(summary, '') || ' ' || "
            "coalesce(answer_text, '') || ' ' || coalesce(body, '')), 'C')",
            persisted=True,
        ),
    )

    article: Mapped[Article] = relationship(back_populates="variants")


class ArticleRevision(Base):
    """Who changed an article, when, and what (field -> {from, to}); kept for ever, as the
    record of what the city told callers when."""

    __tablename__ = "article_revision"
    __table_args__ = (UniqueConstraint("article_pk", "number"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_pk: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    # NULL: the article's own fields (topic, dates, state); else the variant of that language.
    locale: Mapped[str | None] = mapped_column(String(35))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(Timestamp)
    changes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'")
    )


class ArticleAnswer(Base):
    """A call (or chat, or walk-in) answered with an article: what the statistics count as
    information calls answered, and by which article. No caller data here."""

    __tablename__ = "article_answer"
    __table_args__ = (
        Index("ix_article_answer_jurisdiction_id_answered_at", "jurisdiction_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    article_pk: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), index=True
    )
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    locale: Mapped[str] = mapped_column(String(35))
    answered_at: Mapped[datetime] = mapped_column(Timestamp)
    # The request the call also ended in, if any.
    service_request_pk: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="SET NULL")
    )
    # The contact (call, chat, walk-in) this answer was given in, when one was recorded.
    contact_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("contact.id", ondelete="SET NULL"), index=True
    )


# --- contacts: every call, chat, TTY call, walk-in and e-mail the 311 centre takes ---------------

contact_request = Table(
    "contact_request",
    Base.metadata,
    Column(
        "contact_id", BigInteger, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "service_request_pk",
        BigInteger,
        ForeignKey("service_request.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Index("ix_contact_request_service_request_pk", "service_request_pk"),
)


class Contact(Base):
    """One interaction with the centre, as its statistics count it: when it was offered
    (queued), answered and ended, how long it was held, whether the caller gave up
    (abandoned), who took it, in which language (and whether an interpreter joined), and what
    it ended in. `external_id` is the phone system's call id, so importing its call-detail
    records again changes nothing. `caller_number` is personal data, kept under the same
    retention and erasure rules as requesters' (domain/privacy)."""

    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_jurisdiction_id_queued_at", "jurisdiction_id", "queued_at"),
        Index(
            "ux_contact_jurisdiction_id_external_id",
            "jurisdiction_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        CheckConstraint("hold_seconds >= 0", name="hold_not_negative"),
        CheckConstraint(
            "answered_at IS NULL OR answered_at >= queued_at", name="answered_after_queued"
        ),
        CheckConstraint("ended_at IS NULL OR ended_at >= queued_at", name="ended_after_queued"),
        CheckConstraint("NOT (abandoned AND answered_at IS NOT NULL)", name="abandoned_unanswered"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    channel: Mapped[ContactChannel] = mapped_column(_enum(ContactChannel, "contact_channel"))
    language: Mapped[str | None] = mapped_column(String(35))
    interpreter: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    queued_at: Mapped[datetime] = mapped_column(Timestamp)
    answered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp)
    hold_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[ContactOutcome | None] = mapped_column(_enum(ContactOutcome, "contact_outcome"))
    transfer_agency: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(100))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())

    requests: Mapped[list[ServiceRequest]] = relationship(secondary=contact_request)


# --- request statistics' rollups (db/request_stats_queries.py) ----------------------------------


class StatsRequest(Base):
    """A published request as the statistics' rollup last read it: a refresh compares it with
    the request now to know which days a change touched (a reopening moves a closing away)."""

    __tablename__ = "stats_request"
    __table_args__ = (
        # The requests open at some moment of a window: closed_at NULL counts as never closed.
        Index(
            "ix_stats_request_open_until",
            "jurisdiction_id",
            text("coalesce(closed_at, 'infinity'::timestamptz)"),
        ),
    )

    service_request_pk: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="CASCADE"), primary_key=True
    )
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    requested_at: Mapped[datetime] = mapped_column(Timestamp)
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    expected_at: Mapped[datetime | None] = mapped_column(Timestamp)
    service_code: Mapped[str] = mapped_column(String(64))
    agency: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str | None] = mapped_column(String(32))
    district_ids: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), default=list, server_default=text("'{}'")
    )


class StatsRequestDay(Base):
    """One local day of one group's request figures (README: Request statistics, open data)."""

    __tablename__ = "stats_request_day"

    jurisdiction_id: Mapped[int] = mapped_column(
        ForeignKey("jurisdiction.id", ondelete="CASCADE"), primary_key=True
    )
    # "service_code", "agency", "channel" or "district/<boundary_layer.id>".
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # "" for requests without one (no agency, channel or district).
    group_value: Mapped[str] = mapped_column(String(255), primary_key=True)
    opened: Mapped[int] = mapped_column(Integer)
    closed: Mapped[int] = mapped_column(Integer)
    closed_with_expected: Mapped[int] = mapped_column(Integer)
    closed_on_time: Mapped[int] = mapped_column(Integer)
    # The hours from request to closing of the day's closings: sorted float64, little-endian.
    close_hours: Mapped[bytes] = mapped_column(LargeBinary)
    # Requests open at the day's end (or at the refresh, for the current day), and the median
    # of their requested times (epoch seconds): their median age at any later moment while
    # nothing opens or closes is that moment less this. A day without an opening or a closing
    # has no row: the group's last row before it holds.
    backlog: Mapped[int] = mapped_column(Integer)
    backlog_median_requested_s: Mapped[float | None] = mapped_column(Float)


class StatsRefresh(Base):
    """When a jurisdiction's rollup was refreshed, and the updated_datetime it has read up to."""

    __tablename__ = "stats_refresh"

    jurisdiction_id: Mapped[int] = mapped_column(
        ForeignKey("jurisdiction.id", ondelete="CASCADE"), primary_key=True
    )
    refreshed_at: Mapped[datetime] = mapped_column(Timestamp)
    watermark: Mapped[datetime | None] = mapped_column(Timestamp)
