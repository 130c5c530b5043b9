"""Initial schema: PostGIS, the catalogue, requests and the private requester data.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 18:44:34.495028
"""

from __future__ import annotations

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE SEQUENCE service_request_number_seq START WITH 100001")
    op.create_table(
        "api_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_client")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_client_key_hash")),
    )
    op.create_table(
        "jurisdiction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column(
            "catalogue_changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jurisdiction")),
        sa.UniqueConstraint("jurisdiction_id", name=op.f("uq_jurisdiction_jurisdiction_id")),
    )
    op.create_table(
        "service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("service_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("service_group", sa.String(length=255), nullable=True),
        sa.Column("keywords", sa.Text(), nullable=True),
        sa.Column(
            "type",
            sa.Enum(
                "realtime",
                "batch",
                "blackbox",
                name="service_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("agency_responsible", sa.String(length=255), nullable=True),
        sa.Column("service_notice", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_service_jurisdiction_id_jurisdiction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service")),
        sa.UniqueConstraint(
            "jurisdiction_id", "service_code", name=op.f("uq_service_jurisdiction_id_service_code")
        ),
    )
    op.create_index(
        op.f("ix_service_jurisdiction_id"), "service", ["jurisdiction_id"], unique=False
    )
    op.create_table(
        "service_attribute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("variable", sa.Boolean(), nullable=False),
        sa.Column(
            "datatype",
            sa.Enum(
                "string",
                "number",
                "datetime",
                "text",
                "singlevaluelist",
                "multivaluelist",
                name="attribute_datatype",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("datatype_description", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint("position > 0", name=op.f("ck_service_attribute_position_positive")),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_service_attribute_service_id_service"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_attribute")),
        sa.UniqueConstraint(
            "service_id", "code", name=op.f("uq_service_attribute_service_id_code")
        ),
        sa.UniqueConstraint("service_id", "position", name="uq_service_attribute_position"),
    )
    op.create_geospatial_table(
        "service_request",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "service_request_id",
            sa.String(length=64),
            server_default=sa.text("nextval('service_request_number_seq')::text"),
            nullable=False,
        ),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "closed",
                name="request_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("status_notes", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("agency_responsible", sa.String(length=255), nullable=True),
        sa.Column("service_notice", sa.Text(), nullable=True),
        sa.Column("requested_datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_datetime", sa.DateTime(timezone=True), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("address_id", sa.String(length=255), nullable=True),
        sa.Column("zipcode", sa.String(length=32), nullable=True),
        sa.Column(
            "location",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column(
            "attribute_values",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("api_client_id", sa.Integer(), nullable=True),
        sa.Column("token", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_client_id"],
            ["api_client.id"],
            name=op.f("fk_service_request_api_client_id_api_client"),
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_service_request_jurisdiction_id_jurisdiction"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_service_request_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_request")),
        sa.UniqueConstraint(
            "service_request_id", name=op.f("uq_service_request_service_request_id")
        ),
        sa.UniqueConstraint("token", name=op.f("uq_service_request_token")),
    )
    op.create_geospatial_index(
        "idx_service_request_location",
        "service_request",
        ["location"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_service_request_requested",
        "service_request",
        ["requested_datetime", "id"],
        unique=False,
    )
    op.create_index(
        "ix_service_request_service_requested",
        "service_request",
        ["service_id", "requested_datetime"],
        unique=False,
    )
    op.create_table(
        "attribute_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attribute_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attribute_id"],
            ["service_attribute.id"],
            name=op.f("fk_attribute_value_attribute_id_service_attribute"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute_value")),
        sa.UniqueConstraint(
            "attribute_id", "key", name=op.f("uq_attribute_value_attribute_id_key")
        ),
    )
    op.create_table(
        "requester",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_request_pk", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=255), nullable=True),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_requester_service_request_pk_service_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requester")),
        sa.UniqueConstraint("service_request_pk", name=op.f("uq_requester_service_request_pk")),
    )


def downgrade() -> None:
    op.drop_table("requester")
    op.drop_table("attribute_value")
    op.drop_index("ix_service_request_service_requested", table_name="service_request")
    op.drop_index("ix_service_request_requested", table_name="service_request")
    op.drop_geospatial_index(
        "idx_service_request_location",
        table_name="service_request",
        postgresql_using="gist",
        column_name="location",
    )
    op.drop_geospatial_table("service_request")
    op.drop_table("service_attribute")
    op.drop_index(op.f("ix_service_jurisdiction_id"), table_name="service")
    op.drop_table("service")
    op.drop_table("jurisdiction")
    op.drop_table("api_client")
    op.execute("DROP SEQUENCE service_request_number_seq")
