"""Typed models: the public catalogue and requests, and the private data kept apart from them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from open311.db.base import Base

Timestamp = DateTime(timezone=True)

# Public ids of requests filed here; imported requests keep the ids their city gave them.
SERVICE_REQUEST_NUMBER = Sequence(
    "service_request_number_seq", start=100001, metadata=Base.metadata
)


class ServiceType(enum.StrEnum):
    realtime = "realtime"
    batch = "batch"
    blackbox = "blackbox"


class Datatype(enum.StrEnum):
    string = "string"
    number = "number"
    datetime = "datetime"
    text = "text"
    singlevaluelist = "singlevaluelist"
    multivaluelist = "multivaluelist"


class Status(enum.StrEnum):
    open = "open"
    closed = "closed"


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

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Bumped whenever services or definitions change, so discovery tells clients to refresh.
    catalogue_changed_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())

    services: Mapped[list[Service]] = relationship(back_populates="jurisdiction")


class Service(Base):
    """A request type offered to the public (GET services)."""

    __tablename__ = "service"
    __table_args__ = (UniqueConstraint("jurisdiction_id", "service_code"),)

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


class ServiceRequest(Base):
    """A request as the public sees it; the requester's personal data lives in `Requester`."""

    __tablename__ = "service_request"
    # RETURNING the server-made service_request_id on insert saves a second round trip.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_service_request_requested", "requested_datetime", "id"),
        Index("ix_service_request_service_requested", "service_id", "requested_datetime"),
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
    # Answers to the service definition: code -> value, or list of keys for multivaluelist.
    attribute_values: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    channel: Mapped[str | None] = mapped_column(String(32))
    api_client_id: Mapped[int | None] = mapped_column(ForeignKey("api_client.id"))
    # Batch services answer POST with this; GET tokens/{token} resolves it.
    token: Mapped[str | None] = mapped_column(String(64), unique=True)

    service: Mapped[Service] = relationship()
    requester: Mapped[Requester | None] = relationship(
        back_populates="service_request", cascade="all, delete-orphan", uselist=False
    )


class Requester(Base):
    """Who filed a request. Never serialised into any public response, export or log."""

    __tablename__ = "requester"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_pk: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("service_request.id", ondelete="CASCADE"), unique=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(255))
    account_id: Mapped[str | None] = mapped_column(String(255))

    service_request: Mapped[ServiceRequest] = relationship(back_populates="requester")
