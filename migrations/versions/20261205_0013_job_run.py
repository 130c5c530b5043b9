"""`job_run`: the runs of the jobs `open311 worker` schedules (escalation, media sweep, retention).

Workers read a job's last start from it, under the job's advisory lock, so that a daily job runs
once a day across all nodes; /metrics counts runs and failures from it. No personal data: a job
name, times, ok and an error's class name.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("error", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
    )
    op.create_index("ix_job_run_job_started_at", "job_run", ["job", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_job_run_job_started_at", table_name="job_run")
    op.drop_table("job_run")
