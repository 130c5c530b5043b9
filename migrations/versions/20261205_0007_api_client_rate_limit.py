"""Per-client rate limits: `api_client.rate_limit`.

A client's own limit on writes (and on reads made with its key), in the `limits` notation
("600/minute", "10/second;1000/hour"); NULL means the server's default
(OPEN311_RATE_LIMIT_WRITES).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_client", sa.Column("rate_limit", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("api_client", "rate_limit")
