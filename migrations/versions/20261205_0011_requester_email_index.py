"""The requesters with one e-mail address, found fast: `ix_requester_email_lower`.

The worker counts the e-mails an address had in the last 24 hours before sending it another
(OPEN311_EMAILS_PER_RECIPIENT_PER_DAY), under the e-mail lane, so every e-mail waits for that
count. Matched case-insensitively, it would read every requester row without this index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 19:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_requester_email_lower", "requester", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_requester_email_lower", table_name="requester")
