"""Indexes for every query shape of GET requests and the back office; a full-text search_vector.

On service_request: the full-text `search_vector` (a STORED generated column) with its GIN
index; a GiST index over the open requests only, for open-in-a-bounding-box; btree indexes for
the change feed (updated_datetime, id), status and agency windows newest first. On
request_district: (district_id, service_request_pk) replaces (district_id), so a district's
requests come from an index-only scan.

Adding a STORED generated column rewrites service_request under an exclusive lock (every row's
vector is computed), and the indexes are built without CONCURRENTLY: about 20 s for a million
requests on the 2-core development machine, during which the table takes no reads or writes.
Plan a maintenance window for a large live table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 19:44:12.029457
"""

from __future__ import annotations

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN_ONLY = sa.text("status = 'open'")


def upgrade() -> None:
    op.add_column(
        "service_request",
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(
                "to_tsvector('english', coalesce(description, '') || ' ' || coalesce(address, ''))",
                persisted=True,
            ),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_service_request_search_vector",
        "service_request",
        ["search_vector"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_geospatial_index(
        "ix_service_request_location_open",
        "service_request",
        ["location"],
        unique=False,
        postgresql_using="gist",
        postgresql_where=OPEN_ONLY,
        postgresql_ops={},
    )
    op.create_index(
        "ix_service_request_updated",
        "service_request",
        ["updated_datetime", "id"],
        unique=False,
    )
    op.create_index(
        "ix_service_request_status_requested",
        "service_request",
        ["status", "requested_datetime", "id"],
        unique=False,
    )
    op.create_index(
        "ix_service_request_agency_requested",
        "service_request",
        ["agency_responsible", "requested_datetime", "id"],
        unique=False,
    )
    op.create_index(
        "ix_request_district_district_request",
        "request_district",
        ["district_id", "service_request_pk"],
        unique=False,
    )
    op.drop_index("ix_request_district_district_id", table_name="request_district")


def downgrade() -> None:
    op.create_index(
        "ix_request_district_district_id", "request_district", ["district_id"], unique=False
    )
    op.drop_index("ix_request_district_district_request", table_name="request_district")
    op.drop_index("ix_service_request_agency_requested", table_name="service_request")
    op.drop_index("ix_service_request_status_requested", table_name="service_request")
    op.drop_index("ix_service_request_updated", table_name="service_request")
    op.drop_geospatial_index(
        "ix_service_request_location_open",
        table_name="service_request",
        postgresql_using="gist",
        postgresql_where=OPEN_ONLY,
        column_name="location",
    )
    op.drop_index(
        "ix_service_request_search_vector", table_name="service_request", postgresql_using="gin"
    )
    op.drop_column("service_request", "search_vector")
