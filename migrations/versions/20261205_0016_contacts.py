"""Contacts: every call, chat, TTY call, walk-in and e-mail the 311 centre takes, for the
call statistics a director runs the centre by (issue 15): when each was offered, answered and
ended, hold time, abandoned or not, channel, language and interpreter, the call-taker, the
outcome and the requests it led to; `article_answer.contact_id` ties a knowledge-base answer
to the call it was given in. `external_id` (the phone system's call id) is unique per city, so
importing the same call-detail records twice stores each call once.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "contact",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            _enum("contact_channel", "phone", "tty", "walk_in", "email", "chat", "web", "app"),
            nullable=False,
        ),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("interpreter", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_seconds", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("abandoned", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "outcome",
            _enum(
                "contact_outcome",
                "information",
                "request",
                "transfer",
                "complaint",
                "feedback",
                "other",
            ),
            nullable=True,
        ),
        sa.Column("transfer_agency", sa.String(255), nullable=True),
        sa.Column("external_id", sa.String(100), nullable=True),
        sa.Column("caller_number", sa.String(32), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("hold_seconds >= 0", name=op.f("ck_contact_hold_not_negative")),
        sa.CheckConstraint(
            "answered_at IS NULL OR answered_at >= queued_at",
            name=op.f("ck_contact_answered_after_queued"),
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= queued_at",
            name=op.f("ck_contact_ended_after_queued"),
        ),
        sa.CheckConstraint(
            "NOT (abandoned AND answered_at IS NOT NULL)",
            name=op.f("ck_contact_abandoned_unanswered"),
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_contact_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_user.id"],
            name=op.f("fk_contact_staff_user_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
    )
    op.create_index(
        "ix_contact_jurisdiction_id_queued_at", "contact", ["jurisdiction_id", "queued_at"]
    )
    op.create_index(op.f("ix_contact_staff_user_id"), "contact", ["staff_user_id"])
    op.create_index(
        "ux_contact_jurisdiction_id_external_id",
        "contact",
        ["jurisdiction_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_table(
        "contact_request",
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("service_request_pk", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_contact_request_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_contact_request_service_request_pk_service_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "contact_id", "service_request_pk", name=op.f("pk_contact_request")
        ),
    )
    op.create_index(
        "ix_contact_request_service_request_pk", "contact_request", ["service_request_pk"]
    )
    op.add_column("article_answer", sa.Column("contact_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_article_answer_contact_id_contact"),
        "article_answer",
        "contact",
        ["contact_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_article_answer_contact_id"), "article_answer", ["contact_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_article_answer_contact_id"), table_name="article_answer")
    op.drop_constraint(
        op.f("fk_article_answer_contact_id_contact"), "article_answer", type_="foreignkey"
    )
    op.drop_column("article_answer", "contact_id")
    op.drop_table("contact_request")
    op.drop_table("contact")
