"""Several jurisdictions: a default one, per-city discovery texts, staff users' cities.

`jurisdiction.is_default` flags the city a GeoReport call without jurisdiction_id means (at most
one, a partial unique index); `public_url` and `contact` override the server's settings in that
city's discovery. `staff_user_jurisdiction` says which cities a staff user works for; existing
users get every existing jurisdiction, so a single-city install behaves as before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "jurisdiction",
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("jurisdiction", sa.Column("public_url", sa.String(length=255), nullable=True))
    op.add_column("jurisdiction", sa.Column("contact", sa.Text(), nullable=True))
    op.create_index(
        "uq_jurisdiction_is_default",
        "jurisdiction",
        ["is_default"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "staff_user_jurisdiction",
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_user.id"],
            name=op.f("fk_staff_user_jurisdiction_staff_user_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_staff_user_jurisdiction_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "staff_user_id", "jurisdiction_id", name=op.f("pk_staff_user_jurisdiction")
        ),
    )
    op.create_index(
        "ix_staff_user_jurisdiction_jurisdiction_id",
        "staff_user_jurisdiction",
        ["jurisdiction_id"],
    )
    op.execute(
        "INSERT INTO staff_user_jurisdiction (staff_user_id, jurisdiction_id) "
        "SELECT staff_user.id, jurisdiction.id FROM staff_user CROSS JOIN jurisdiction"
    )


def downgrade() -> None:
    op.drop_index(
        "ix_staff_user_jurisdiction_jurisdiction_id", table_name="staff_user_jurisdiction"
    )
    op.drop_table("staff_user_jurisdiction")
    op.drop_index("uq_jurisdiction_is_default", table_name="jurisdiction")
    op.drop_column("jurisdiction", "contact")
    op.drop_column("jurisdiction", "public_url")
    op.drop_column("jurisdiction", "is_default")
