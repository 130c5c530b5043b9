"""Staff users and bearer tokens, duplicate links, and the public updates feed.

`staff_user` (role, slow password hash), `staff_user_crew` (which crews a crew member
works for), `staff_token` (SHA-256 of bearer tokens, expiring and revocable). On
`service_request`, a duplicate link (`duplicate_of_pk`, `duplicate_state`: suspected at intake,
confirmed when a supervisor merges). On `activity`, the extended status of each public entry
(servicerequestupdates), the posting app and its own update id (unique together, which makes
POST servicerequestupdates idempotent), and a partial (at, id) index over public entries for
the feed; `update_author` keeps the personal data of whoever posted an update, apart.
The jurisdiction gets the distance and time window of duplicate detection.

Public entries logged before this revision get the status their kind implies: a closing entry
`closed`, any other `open`. The append-only trigger is lifted for that one UPDATE only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:41:24.340703
"""

from __future__ import annotations

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "administrator",
                "supervisor",
                "call_taker",
                "crew_member",
                name="staff_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_user_username")),
    )
    op.create_table(
        "staff_token",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_user.id"],
            name=op.f("fk_staff_token_staff_user_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_token_token_hash")),
    )
    op.create_index(
        op.f("ix_staff_token_staff_user_id"), "staff_token", ["staff_user_id"], unique=False
    )
    op.create_table(
        "staff_user_crew",
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("crew_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["crew_id"],
            ["crew.id"],
            name=op.f("fk_staff_user_crew_crew_id_crew"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_user.id"],
            name=op.f("fk_staff_user_crew_staff_user_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_user_id", "crew_id", name=op.f("pk_staff_user_crew")),
    )
    op.create_index("ix_staff_user_crew_crew_id", "staff_user_crew", ["crew_id"], unique=False)
    op.create_table(
        "update_author",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
            name=op.f("fk_update_author_activity_id_activity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_update_author")),
        sa.UniqueConstraint("activity_id", name=op.f("uq_update_author_activity_id")),
    )
    op.add_column("activity", sa.Column("status", sa.String(length=32), nullable=True))
    op.add_column("activity", sa.Column("api_client_id", sa.Integer(), nullable=True))
    op.add_column("activity", sa.Column("client_update_id", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_activity_public_at",
        "activity",
        ["at", "id"],
        unique=False,
        postgresql_where=sa.text("public"),
    )
    op.create_unique_constraint(
        op.f("uq_activity_api_client_id_client_update_id"),
        "activity",
        ["api_client_id", "client_update_id"],
    )
    op.create_foreign_key(
        op.f("fk_activity_api_client_id_api_client"),
        "activity",
        "api_client",
        ["api_client_id"],
        ["id"],
    )
    op.add_column(
        "jurisdiction",
        sa.Column("duplicate_radius_m", sa.Float(), server_default=sa.text("40"), nullable=False),
    )
    op.add_column(
        "jurisdiction",
        sa.Column(
            "duplicate_window_hours", sa.Float(), server_default=sa.text("168"), nullable=False
        ),
    )
    op.add_column("service_request", sa.Column("duplicate_of_pk", sa.BigInteger(), nullable=True))
    op.add_column(
        "service_request",
        sa.Column(
            "duplicate_state",
            sa.Enum(
                "suspected",
                "confirmed",
                name="duplicate_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
    )
    op.create_index(
        op.f("ix_service_request_duplicate_of_pk"),
        "service_request",
        ["duplicate_of_pk"],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_service_request_duplicate_of_pk_service_request"),
        "service_request",
        "service_request",
        ["duplicate_of_pk"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_check_constraint(
        "duplicate_link_whole",
        "service_request",
        "(duplicate_of_pk IS NULL) = (duplicate_state IS NULL)",
    )
    op.create_check_constraint("not_own_duplicate", "service_request", "duplicate_of_pk <> id")
    op.execute("ALTER TABLE activity DISABLE TRIGGER activity_append_only")
    op.execute(
        "UPDATE activity SET status = "
        "CASE kind WHEN 'request_closed' THEN 'closed' ELSE 'open' END WHERE public"
    )
    op.execute("ALTER TABLE activity ENABLE TRIGGER activity_append_only")
    op.create_check_constraint("status_only_public", "activity", "public OR status IS NULL")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_activity_status_only_public"), "activity", type_="check")
    op.drop_constraint(
        op.f("ck_service_request_not_own_duplicate"), "service_request", type_="check"
    )
    op.drop_constraint(
        op.f("ck_service_request_duplicate_link_whole"), "service_request", type_="check"
    )
    op.drop_constraint(
        op.f("fk_service_request_duplicate_of_pk_service_request"),
        "service_request",
        type_="foreignkey",
    )
    op.drop_index(op.f("ix_service_request_duplicate_of_pk"), table_name="service_request")
    op.drop_column("service_request", "duplicate_state")
    op.drop_column("service_request", "duplicate_of_pk")
    op.drop_column("jurisdiction", "duplicate_window_hours")
    op.drop_column("jurisdiction", "duplicate_radius_m")
    op.drop_constraint(op.f("fk_activity_api_client_id_api_client"), "activity", type_="foreignkey")
    op.drop_constraint(
        op.f("uq_activity_api_client_id_client_update_id"), "activity", type_="unique"
    )
    op.drop_index(
        "ix_activity_public_at", table_name="activity", postgresql_where=sa.text("public")
    )
    op.drop_column("activity", "client_update_id")
    op.drop_column("activity", "api_client_id")
    op.drop_column("activity", "status")
    op.drop_table("update_author")
    op.drop_index("ix_staff_user_crew_crew_id", table_name="staff_user_crew")
    op.drop_table("staff_user_crew")
    op.drop_index(op.f("ix_staff_token_staff_user_id"), table_name="staff_token")
    op.drop_table("staff_token")
    op.drop_table("staff_user")
