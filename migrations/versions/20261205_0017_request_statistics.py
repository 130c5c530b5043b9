"""Request statistics' rollups (issue 15): what GET /open311/v2/stats/requests reads.

`stats_request` is each published request as the rollup last saw it (requested, closed and
expected times, service code, agency, channel, districts): comparing it with the request now
tells a refresh which days a change touched, even when a request was reopened or moved.
`stats_request_day` holds per jurisdiction, dimension ("service_code", "agency", "channel",
"district/<layer id>"), group value and local day: the counts opened, closed, closed with an
expected time and closed by it, the durations (hours, sorted float64 bytes) of the day's
closings, and the open backlog at the day's end with the median of its requested times (its
exact median age at any later moment until the next opening or closing; a day without either has
no row). `stats_refresh`
records per jurisdiction when the rollup was last refreshed and the updated_datetime up to
which it has read. No personal data in any of them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_request",
        sa.Column("service_request_pk", sa.BigInteger(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("agency", sa.String(255), nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column(
            "district_ids",
            postgresql.ARRAY(sa.Integer()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_stats_request_service_request_pk_service_request"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_stats_request_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_request_pk", name=op.f("pk_stats_request")),
    )
    op.create_index(
        "ix_stats_request_open_until",
        "stats_request",
        ["jurisdiction_id", sa.text("coalesce(closed_at, 'infinity'::timestamptz)")],
    )
    op.create_table(
        "stats_request_day",
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(40), nullable=False),
        sa.Column("group_value", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.Column("closed_with_expected", sa.Integer(), nullable=False),
        sa.Column("closed_on_time", sa.Integer(), nullable=False),
        sa.Column("close_hours", sa.LargeBinary(), nullable=False),
        sa.Column("backlog", sa.Integer(), nullable=False),
        sa.Column("backlog_median_requested_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_stats_request_day_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "jurisdiction_id", "dimension", "day", "group_value", name=op.f("pk_stats_request_day")
        ),
    )
    op.create_table(
        "stats_refresh",
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_stats_refresh_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jurisdiction_id", name=op.f("pk_stats_refresh")),
    )


def downgrade() -> None:
    op.drop_table("stats_refresh")
    op.drop_table("stats_request_day")
    op.drop_index("ix_stats_request_open_until", table_name="stats_request")
    op.drop_table("stats_request")
