"""What a third-party client sends: every linked photo URL, and one service name per city.

`service_request.media_urls` keeps all the URLs of a request that linked several (FixMyStreet
repeats `media_url`; media_url stays the first). `ux_service_jurisdiction_id_name` refuses a
second service of one jurisdiction with the same name (any case, spaces around it), since
FixMyStreet matches categories by name. The demo catalogues have no such pair; an existing
database that has one fails this upgrade, naming the pair, until a service is renamed.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 20:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("service_request", sa.Column("media_urls", postgresql.JSONB(), nullable=True))
    op.create_index(
        "ux_service_jurisdiction_id_name",
        "service",
        ["jurisdiction_id", sa.text("lower(btrim(service_name))")],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_service_jurisdiction_id_name", table_name="service")
    op.drop_column("service_request", "media_urls")
