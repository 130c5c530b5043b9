"""Retention and erasure of personal data: what makes them cheap, and where they report.

`ix_requester_personal` and `ix_update_author_personal` are partial indexes over the rows that
still hold someone's details (an e-mail, a name, a phone, an account or device id). The daily
retention run (`open311 privacy retain`) empties such rows of requests closed long ago; it reads
only this index, so once the history is emptied a run costs as much as the rows still held, not
the size of the tables.

`audit_entry.details` carries the counts a retention run or an erasure reports (rows emptied,
photos deleted, e-mails cancelled): one entry per run, never the person's address.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 19:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PERSONAL_PRESENT = (
    "email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL OR phone IS NOT NULL"
    " OR account_id IS NOT NULL"
)


def upgrade() -> None:
    op.create_index(
        "ix_requester_personal",
        "requester",
        ["id"],
        postgresql_where=sa.text(f"{PERSONAL_PRESENT} OR device_id IS NOT NULL"),
    )
    op.create_index(
        "ix_update_author_personal",
        "update_author",
        ["id"],
        postgresql_where=sa.text(PERSONAL_PRESENT),
    )
    op.add_column(
        "audit_entry",
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("audit_entry", "details")
    op.drop_index("ix_update_author_personal", table_name="update_author")
    op.drop_index("ix_requester_personal", table_name="requester")
