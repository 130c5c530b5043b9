"""Idempotency keys of POST requests: a retried POST answers the first answer again.

One row per (API client, Idempotency-Key header): a fingerprint of what was sent, and the
answer given (status, content type, body), written in the transaction that files the request,
so two concurrent retries file one request (the second waits on the unique key, then replays).
Rows older than a day are purged.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 17:10:01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("api_client_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("service_request_pk", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_client_id"],
            ["api_client.id"],
            name=op.f("fk_idempotency_key_api_client_id_api_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_idempotency_key_service_request_pk_service_request"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
        sa.UniqueConstraint(
            "api_client_id", "key", name=op.f("uq_idempotency_key_api_client_id_key")
        ),
    )
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key")
    op.drop_table("idempotency_key")
