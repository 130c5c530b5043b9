"""Deliveries are leased, not locked, while they are sent: `delivery.leased_until`.

A worker claims a due delivery by setting `leased_until` (the attempt's deadline plus a margin)
and commits before the HTTP call, so no transaction or row lock is held while a receiver is
slow; another worker may take the delivery once the lease has run out (the worker died). A
subscription with a delivery under lease gets no other delivery sent meanwhile, so one slow
receiver delays only its own deliveries; ix_delivery_leased finds those leases (a lease is
cleared when its attempt is recorded, so the index holds only deliveries in flight).

ix_delivery_due gains `id` as a tie-break: the deliveries one commit makes share their
next_attempt_at, and a subscription's deliveries now go one at a time in the index's order.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 17:10:02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.add_column("delivery", sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_delivery_leased",
        "delivery",
        ["subscription_id", "leased_until"],
        postgresql_where=sa.text("leased_until IS NOT NULL"),
    )
    op.drop_index("ix_delivery_due", table_name="delivery", postgresql_where=PENDING)
    op.create_index(
        "ix_delivery_due", "delivery", ["next_attempt_at", "id"], postgresql_where=PENDING
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_due", table_name="delivery", postgresql_where=PENDING)
    op.create_index("ix_delivery_due", "delivery", ["next_attempt_at"], postgresql_where=PENDING)
    op.drop_index("ix_delivery_leased", table_name="delivery")
    op.drop_column("delivery", "leased_until")
