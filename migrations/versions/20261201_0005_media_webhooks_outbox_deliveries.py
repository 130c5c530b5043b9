"""Photos, webhook subscriptions, the transactional outbox and its deliveries.

`media` (photos of requests and updates, stored without metadata, with thumbnails),
`webhook_subscription` (an API client's URL, HMAC secret, events and scope: its own requests or
an area, GiST-indexed), `outbox_event` (written in the transaction of the change it announces)
and `delivery` (one event to one receiver: webhook or e-mail; pending rows indexed by their next
attempt for the workers' FOR UPDATE SKIP LOCKED claim; parked rows for administrators).
`requester.language` says which language to write to the requester in.

A statement trigger on `delivery` sends NOTIFY open311_delivery when rows are inserted, so idle
`open311 worker` processes (LISTEN) wake at once instead of at their next poll.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:12:31.081915
"""

from __future__ import annotations

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table(
        "webhook_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_client_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("events", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "own",
                "area",
                name="subscription_scope",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "area",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.CheckConstraint(
            "(scope = 'area') = (area IS NOT NULL)",
            name=op.f("ck_webhook_subscription_area_when_scoped"),
        ),
        sa.ForeignKeyConstraint(
            ["api_client_id"],
            ["api_client.id"],
            name=op.f("fk_webhook_subscription_api_client_id_api_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    op.create_geospatial_index(
        "idx_webhook_subscription_area",
        "webhook_subscription",
        ["area"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "media",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("service_request_pk", sa.BigInteger(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("thumbnail_name", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
            name=op.f("fk_media_activity_id_activity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_media_service_request_pk_service_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("name", name=op.f("uq_media_name")),
        sa.UniqueConstraint("thumbnail_name", name=op.f("uq_media_thumbnail_name")),
    )
    op.create_index(op.f("ix_media_activity_id"), "media", ["activity_id"], unique=False)
    op.create_index(
        "ix_media_service_request_pk", "media", ["service_request_pk", "position"], unique=False
    )
    op.create_table(
        "outbox_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("service_request_pk", sa.BigInteger(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activity.id"], name=op.f("fk_outbox_event_activity_id_activity")
        ),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_outbox_event_service_request_pk_service_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_event")),
    )
    op.create_index(
        op.f("ix_outbox_event_service_request_pk"),
        "outbox_event",
        ["service_request_pk"],
        unique=False,
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "webhook",
                "email",
                name="delivery_channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("template", sa.String(length=32), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "delivered",
                "parked",
                name="delivery_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(channel = 'webhook') = (subscription_id IS NOT NULL)",
            name=op.f("ck_delivery_webhook_has_subscription"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_event.id"],
            name=op.f("fk_delivery_event_id_outbox_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("fk_delivery_subscription_id_webhook_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_delivery_delivery_id")),
    )
    op.create_index(
        "ix_delivery_due",
        "delivery",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(op.f("ix_delivery_event_id"), "delivery", ["event_id"], unique=False)
    op.create_index(
        "ix_delivery_parked",
        "delivery",
        ["parked_at"],
        unique=False,
        postgresql_where=sa.text("state = 'parked'"),
    )
    op.create_index(
        op.f("ix_delivery_subscription_id"), "delivery", ["subscription_id"], unique=False
    )
    op.add_column("requester", sa.Column("language", sa.String(length=16), nullable=True))
    op.execute(
        """
        CREATE FUNCTION delivery_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('open311_delivery', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER delivery_inserted AFTER INSERT ON delivery "
        "FOR EACH STATEMENT EXECUTE FUNCTION delivery_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER delivery_inserted ON delivery")
    op.execute("DROP FUNCTION delivery_notify()")
    op.drop_column("requester", "language")
    op.drop_index(op.f("ix_delivery_subscription_id"), table_name="delivery")
    op.drop_index(
        "ix_delivery_parked", table_name="delivery", postgresql_where=sa.text("state = 'parked'")
    )
    op.drop_index(op.f("ix_delivery_event_id"), table_name="delivery")
    op.drop_index(
        "ix_delivery_due", table_name="delivery", postgresql_where=sa.text("state = 'pending'")
    )
    op.drop_table("delivery")
    op.drop_index(op.f("ix_outbox_event_service_request_pk"), table_name="outbox_event")
    op.drop_table("outbox_event")
    op.drop_index("ix_media_service_request_pk", table_name="media")
    op.drop_index(op.f("ix_media_activity_id"), table_name="media")
    op.drop_table("media")
    op.drop_geospatial_index(
        "idx_webhook_subscription_area",
        table_name="webhook_subscription",
        postgresql_using="gist",
        column_name="area",
    )
    op.drop_geospatial_table("webhook_subscription")
