"""Work-order queue indexes (issue 16): the crews' queues walk open work in due order.

GET /api/v1/work-orders lists open work orders due soonest first, for one crew or for every
crew (then narrowed by district, bounding box or due date). With only (crew_id, state) the
query read every work order of the table to find the open ones and sorted them: with the
seeded backlog (one finished work order per closed request) that is a sequential scan of
hundreds of thousands of rows per page. Two partial indexes hold only the open work orders, in
due order, one per crew and one for all crews, so a page is the first hundred rows of a walk.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('new', 'assigned', 'in_progress')")


def upgrade() -> None:
    op.create_index(
        "ix_work_order_open_crew_due",
        "work_order",
        ["crew_id", "due_at", "id"],
        unique=False,
        postgresql_where=OPEN,
    )
    op.create_index(
        "ix_work_order_open_due",
        "work_order",
        ["due_at", "id"],
        unique=False,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_work_order_open_due", table_name="work_order")
    op.drop_index("ix_work_order_open_crew_due", table_name="work_order")
