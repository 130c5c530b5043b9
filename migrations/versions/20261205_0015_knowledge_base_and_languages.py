"""Languages and the knowledge base: a city's locales, translations of its public texts,
articles with a variant per language (full-text and trigram indexes), revisions, the calls
answered by an article, and the `editor` staff role.

pg_trgm (a contrib extension shipped with PostgreSQL) gives the similarity search that finds
an article from a misspelt word. `open311 db up` creates it with PostGIS, as the superuser;
here it is created only if missing (a DATABASE_URL role that may), and, like PostGIS, left
installed by the downgrade.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ROLES_BEFORE = ("administrator", "supervisor", "call_taker", "crew_member")
ROLES_AFTER = (*ROLES_BEFORE, "editor")

SEARCH_VECTOR = (
    "setweight(to_tsvector(search_config, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector(search_config, coalesce(keywords, '')), 'B') || "
    "setweight(to_tsvector(search_config, coalesce(summary, '') || ' ' || "
    "coalesce(answer_text, '') || ' ' || coalesce(body, '')), 'C')"
)


def _roles(names: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_staff_user_staff_role"), "staff_user", type_="check")
    listed = ", ".join(f"'{name}'" for name in names)
    op.create_check_constraint("staff_role", "staff_user", f"role IN ({listed})")


def _timestamp(name: str, **kw) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    _roles(ROLES_AFTER)
    op.add_column(
        "jurisdiction",
        sa.Column("default_locale", sa.String(35), server_default=sa.text("'en'"), nullable=False),
    )
    op.add_column(
        "jurisdiction",
        sa.Column(
            "locales",
            postgresql.ARRAY(sa.String(35)),
            server_default=sa.text("'{en}'"),
            nullable=False,
        ),
    )
    op.create_table(
        "translation",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("context", sa.String(64), server_default=sa.text("''"), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _timestamp("updated_at", server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=True),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_translation_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translation")),
    )
    op.create_index(
        "ux_translation_lookup",
        "translation",
        ["jurisdiction_id", "locale", "context", sa.text("md5(source)")],
        unique=True,
    )
    op.create_table(
        "article_topic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_article_topic_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["article_topic.id"],
            name=op.f("fk_article_topic_parent_id_article_topic"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_topic")),
        sa.UniqueConstraint(
            "jurisdiction_id", "code", name=op.f("uq_article_topic_jurisdiction_id_code")
        ),
    )
    op.create_index(op.f("ix_article_topic_parent_id"), "article_topic", ["parent_id"])
    op.create_table(
        "article",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.String(100), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column(
            "service_codes",
            postgresql.ARRAY(sa.String(64)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "published",
                "retired",
                name="article_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        _timestamp("created_at", server_default=sa.text("now()"), nullable=False),
        _timestamp("updated_at", server_default=sa.text("now()"), nullable=False),
        _timestamp("published_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_article_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["article_topic.id"],
            name=op.f("fk_article_topic_id_article_topic"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article")),
        sa.UniqueConstraint(
            "jurisdiction_id", "article_id", name=op.f("uq_article_jurisdiction_id_article_id")
        ),
    )
    op.create_index(op.f("ix_article_topic_id"), "article", ["topic_id"])
    op.create_table(
        "article_variant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_pk", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("body_format", sa.String(16), server_default=sa.text("'html'"), nullable=False),
        sa.Column("body_source", sa.Text(), nullable=True),
        sa.Column("steps", postgresql.JSONB(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=True),
        sa.Column("answer_text", sa.Text(), nullable=True),
        sa.Column(
            "search_config",
            postgresql.REGCONFIG(),
            server_default=sa.text("'simple'::regconfig"),
            nullable=False,
        ),
        sa.Column("match_text", sa.Text(), server_default=sa.text("''"), nullable=False),
        _timestamp("updated_at", server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(SEARCH_VECTOR, persisted=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["article_pk"],
            ["article.id"],
            name=op.f("fk_article_variant_article_pk_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_variant")),
        sa.UniqueConstraint(
            "article_pk", "locale", name=op.f("uq_article_variant_article_pk_locale")
        ),
    )
    op.create_index(
        "ix_article_variant_search_vector",
        "article_variant",
        ["search_vector"],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_article_variant_match_text",
        "article_variant",
        ["match_text"],
        postgresql_using="gin",
        postgresql_ops={"match_text": "gin_trgm_ops"},
    )
    op.create_table(
        "article_revision",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("article_pk", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        _timestamp("at", nullable=False),
        sa.Column("changes", postgresql.JSONB(), server_default=sa.text("'{}'"), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_pk"],
            ["article.id"],
            name=op.f("fk_article_revision_article_pk_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_revision")),
        sa.UniqueConstraint(
            "article_pk", "number", name=op.f("uq_article_revision_article_pk_number")
        ),
    )
    op.create_table(
        "article_answer",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("jurisdiction_id", sa.Integer(), nullable=False),
        sa.Column("article_pk", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=True),
        sa.Column("locale", sa.String(35), nullable=False),
        _timestamp("answered_at", nullable=False),
        sa.Column("service_request_pk", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_article_answer_jurisdiction_id_jurisdiction"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["article_pk"],
            ["article.id"],
            name=op.f("fk_article_answer_article_pk_article"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_user.id"],
            name=op.f("fk_article_answer_staff_user_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_request_pk"],
            ["service_request.id"],
            name=op.f("fk_article_answer_service_request_pk_service_request"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_answer")),
    )
    op.create_index(
        "ix_article_answer_jurisdiction_id_answered_at",
        "article_answer",
        ["jurisdiction_id", "answered_at"],
    )
    op.create_index(op.f("ix_article_answer_article_pk"), "article_answer", ["article_pk"])


def downgrade() -> None:
    op.drop_table("article_answer")
    op.drop_table("article_revision")
    op.drop_table("article_variant")
    op.drop_table("article")
    op.drop_table("article_topic")
    op.drop_table("translation")
    op.drop_column("jurisdiction", "locales")
    op.drop_column("jurisdiction", "default_locale")
    op.execute("DELETE FROM staff_user WHERE role = 'editor'")
    _roles(ROLES_BEFORE)
