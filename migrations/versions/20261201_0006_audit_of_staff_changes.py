"""The audit of staff changes: who changed what through /api/v1, append-only.

Every staff change is to be logged with its actor. Changes to requests and work
orders already are, in `activity`; catalogue, users, API clients and webhooks have no request to
hang an entry on, so every write through the staff API gets an `audit_entry` (actor, method,
route, path, names of the fields sent), written in the transaction of the change. Like
`activity`, it refuses UPDATE and DELETE.

`staff_user` gets `failed_logins` and `locked_until`: after a run of wrong passwords, sign-in
is refused for a while (password guessing).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:58:01.228931
"""

from __future__ import annotations

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("route", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column(
            "fields",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    op.create_index("ix_audit_entry_at", "audit_entry", ["at", "id"], unique=False)
    op.add_column(
        "staff_user",
        sa.Column("failed_logins", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "staff_user", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        """
        CREATE FUNCTION audit_entry_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_entry is append-only (% refused)', TG_OP;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
        "FOR EACH ROW EXECUTE FUNCTION audit_entry_is_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_entry_append_only ON audit_entry")
    op.execute("DROP FUNCTION audit_entry_is_append_only()")
    op.drop_column("staff_user", "locked_until")
    op.drop_column("staff_user", "failed_logins")
    op.drop_index("ix_audit_entry_at", table_name="audit_entry")
    op.drop_table("audit_entry")
