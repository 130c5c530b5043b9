"""Districts in PostGIS, agencies and crews, routing rules, workflows, work orders, activity log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:16:01.306167
"""

from __future__ import annotations

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_agency_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
        sa.UniqueConstraint("jurisdiction_id", "code", name=op.f("uq_agency_jurisdiction_id_code")),
    )
    op.create_table(
        "boundary_layer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("snap_tolerance_m", sa.Float(), nullable=False),
        sa.Column(
            "imported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_boundary_layer_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boundary_layer")),
        sa.UniqueConstraint(
            "jurisdiction_id", "name", name=op.f("uq_boundary_layer_jurisdiction_id_name")
        ),
    )
    op.create_table(
        "city_holiday",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_city_holiday_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_city_holiday")),
        sa.UniqueConstraint(
            "jurisdiction_id", "day", name=op.f("uq_city_holiday_jurisdiction_id_day")
        ),
    )
    op.create_table(
        "workflow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_workflow_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow")),
        sa.UniqueConstraint(
            "jurisdiction_id", "code", name=op.f("uq_workflow_jurisdiction_id_code")
        ),
    )
    op.create_table(
        "crew",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "field",
                "triage",
                "supervisor",
                name="crew_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_crew_agency_id_agency"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crew")),
        sa.UniqueConstraint("agency_id", "code", name=op.f("uq_crew_agency_id_code")),
    )
    op.create_geospatial_table(
        "district",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["layer_id"],
            ["boundary_layer.id"],
            name=op.f("fk_district_layer_id_boundary_layer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district")),
        sa.UniqueConstraint("layer_id", "name", name=op.f("uq_district_layer_id_name")),
    )
    op.create_geospatial_index(
        "idx_district_geom",
        "district",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "crew_district",
        sa.Column("crew_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["crew_id"], ["crew.id"], name=op.f("fk_crew_district_crew_id_crew"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
            name=op.f("fk_crew_district_district_id_district"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("crew_id", "district_id", name=op.f("pk_crew_district")),
    )
    op.create_index("ix_crew_district_district_id", "crew_district", ["district_id"], unique=False)
    op.create_table(
        "request_district",
        sa.Column("service_request_pk", sa.BigInteger(), nullable=False),
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["district.id"],
            name=op.f("fk_request_district_district_id_district"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["layer_id"],
            ["boundary_layer.id"],
            name=op.f("fk_request_district_layer_id_boundary_layer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_request_district_service_request_pk_service_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_request_pk", "layer_id", name=op.f("pk_request_district")),
    )
    op.create_index(
        "ix_request_district_district_id", "request_district", ["district_id"], unique=False
    )
    op.create_table(
        "routing_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("layer_id", sa.Integer(), nullable=True),
        sa.Column("fallback_crew_id", sa.Integer(), nullable=True),
        sa.Column("workflow_id", sa.Integer(), nullable=True),
        sa.Column("sla_days", sa.Float(), nullable=True),
        sa.Column(
            "sla_clock",
            sa.Enum(
                "business",
                "calendar",
                name="sla_clock",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_routing_rule_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["fallback_crew_id"], ["crew.id"], name=op.f("fk_routing_rule_fallback_crew_id_crew")
        ),
        sa.ForeignKeyConstraint(
            ["layer_id"],
            ["boundary_layer.id"],
            name=op.f("fk_routing_rule_layer_id_boundary_layer"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_routing_rule_service_id_service"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflow.id"], name=op.f("fk_routing_rule_workflow_id_workflow")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rule")),
        sa.UniqueConstraint("service_id", name=op.f("uq_routing_rule_service_id")),
    )
    op.create_table(
        "workflow_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column(
            "crew_role",
            sa.Enum(
                "district",
                "triage",
                "supervisor",
                "fixed",
                name="crew_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("crew_id", sa.Integer(), nullable=True),
        sa.Column("target_hours", sa.Float(), nullable=False),
        sa.Column("wait_hours", sa.Float(), nullable=False),
        sa.Column("next_step", sa.String(length=64), nullable=True),
        sa.Column(
            "outcomes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("public_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_workflow_step_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["crew_id"], ["crew.id"], name=op.f("fk_workflow_step_crew_id_crew")
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_workflow_step_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_step")),
        sa.UniqueConstraint("workflow_id", "code", name=op.f("uq_workflow_step_workflow_id_code")),
        sa.UniqueConstraint("workflow_id", "position", name="uq_workflow_step_position"),
    )
    op.create_table(
        "work_order",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("service_request_pk", sa.BigInteger(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("crew_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "new",
                "assigned",
                "in_progress",
                "done",
                "cancelled",
                name="work_order_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_work_order_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(["crew_id"], ["crew.id"], name=op.f("fk_work_order_crew_id_crew")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["work_order.id"], name=op.f("fk_work_order_parent_id_work_order")
        ),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_work_order_service_request_pk_service_request"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_id"], ["workflow_step.id"], name=op.f("fk_work_order_step_id_workflow_step")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order")),
    )
    op.create_index("ix_work_order_crew_state", "work_order", ["crew_id", "state"], unique=False)
    op.create_index(
        "ix_work_order_escalation_due",
        "work_order",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text(
            "state IN ('new', 'assigned', 'in_progress') AND escalated_at IS NULL"
        ),
    )
    op.create_index(
        "ix_work_order_service_request_pk", "work_order", ["service_request_pk"], unique=False
    )
    op.create_table(
        "activity",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("service_request_pk", sa.BigInteger(), nullable=False),
        sa.Column("work_order_id", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("public", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_activity_service_request_pk_service_request"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"], ["work_order.id"], name=op.f("fk_activity_work_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
    )
    op.create_index(
        "ix_activity_request_at", "activity", ["service_request_pk", "at"], unique=False
    )
    op.add_geospatial_column(
        "jurisdiction",
        sa.Column(
            "service_area",
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
    )
    op.add_column(
        "jurisdiction",
        sa.Column(
            "business_day_start", sa.Time(), server_default=sa.text("'08:00'"), nullable=False
        ),
    )
    op.add_column(
        "jurisdiction",
        sa.Column("business_day_end", sa.Time(), server_default=sa.text("'17:00'"), nullable=False),
    )
    op.add_column(
        "jurisdiction",
        sa.Column(
            "business_weekdays",
            sa.String(length=7),
            server_default=sa.text("'12345'"),
            nullable=False,
        ),
    )
    op.add_column("jurisdiction", sa.Column("holiday_country", sa.String(length=2), nullable=True))
    op.add_column(
        "jurisdiction", sa.Column("holiday_subdivision", sa.String(length=8), nullable=True)
    )
    op.create_geospatial_index(
        "idx_jurisdiction_service_area",
        "jurisdiction",
        ["service_area"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.add_column(
        "service_request",
        sa.Column("needs_location", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    # The activity log is append-only: history is never rewritten, only added to.
    op.execute(
        """
        CREATE FUNCTION activity_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'activity is append-only (% refused)', TG_OP;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER activity_append_only BEFORE UPDATE OR DELETE ON activity "
        "FOR EACH ROW EXECUTE FUNCTION activity_is_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER activity_append_only ON activity")
    op.execute("DROP FUNCTION activity_is_append_only()")
    op.drop_column("service_request", "needs_location")
    op.drop_geospatial_index(
        "idx_jurisdiction_service_area",
        table_name="jurisdiction",
        postgresql_using="gist",
        column_name="service_area",
    )
    op.drop_column("jurisdiction", "holiday_subdivision")
    op.drop_column("jurisdiction", "holiday_country")
    op.drop_column("jurisdiction", "business_weekdays")
    op.drop_column("jurisdiction", "business_day_end")
    op.drop_column("jurisdiction", "business_day_start")
    op.drop_geospatial_column("jurisdiction", "service_area")
    op.drop_index("ix_activity_request_at", table_name="activity")
    op.drop_table("activity")
    op.drop_index("ix_work_order_service_request_pk", table_name="work_order")
    op.drop_index(
        "ix_work_order_escalation_due",
        table_name="work_order",
        postgresql_where=sa.text(
            "state IN ('new', 'assigned', 'in_progress') AND escalated_at IS NULL"
        ),
    )
    op.drop_index("ix_work_order_crew_state", table_name="work_order")
    op.drop_table("work_order")
    op.drop_table("workflow_step")
    op.drop_table("routing_rule")
    op.drop_index("ix_request_district_district_id", table_name="request_district")
    op.drop_table("request_district")
    op.drop_index("ix_crew_district_district_id", table_name="crew_district")
    op.drop_table("crew_district")
    op.drop_geospatial_index(
        "idx_district_geom", table_name="district", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("district")
    op.drop_table("crew")
    op.drop_table("workflow")
    op.drop_table("city_holiday")
    op.drop_table("boundary_layer")
    op.drop_table("agency")
