"""Every migration can be undone: each downgrade gives back exactly the schema before its upgrade.

On a fresh empty database the migrations are applied one by one, recording the schema after
each (tables, columns, constraints, indexes, triggers, functions, types, sequences, comments, as
pg_catalog describes them). Then, from head down to base, each revision is downgraded (the
schema must equal the one recorded before it), upgraded again (equal to the one recorded after
it) and downgraded for good; at the end a full downgrade to base and upgrade to head.
"""

from __future__ import annotations

from contextlib import closing

import psycopg2
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from open311.db.migrate import alembic_config, schema_drift
from open311.db.session import make_engine
from tests.helpers import empty_database

# The tables of this database that no extension owns (PostGIS brings spatial_ref_sys), and not
# Alembic's bookkeeping table, which a downgrade to base leaves behind empty.
OURS = """
    SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relname <> 'alembic_version'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
"""

NOT_EXTENSIONS = """
    NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass
                AND d.objid = {oid} AND d.deptype = 'e')
"""

CATALOG = {
    "relations": f"""
        WITH ours AS ({OURS})
        SELECT o.relname, c.relkind FROM ours o JOIN pg_class c ON c.oid = o.oid
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        ORDER BY 1
    """,
    # In column order: a downgrade followed by an upgrade must not reorder a table.
    "columns": f"""
        WITH ours AS ({OURS})
        SELECT o.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
               col_description(a.attrelid, a.attnum)
        FROM pg_attribute a JOIN ours o ON o.oid = a.attrelid
        JOIN pg_class c ON c.oid = o.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped
        ORDER BY o.relname, a.attnum
    """,
    "constraints": f"""
        WITH ours AS ({OURS})
        SELECT o.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN ours o ON o.oid = k.conrelid
        ORDER BY 1, 2
    """,
    "indexes": f"""
        WITH ours AS ({OURS})
        SELECT o.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN ours o ON o.oid = i.indrelid
        ORDER BY 1, 2
    """,
    "triggers": f"""
        WITH ours AS ({OURS})
        SELECT o.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
        FROM pg_trigger t JOIN ours o ON o.oid = t.tgrelid
        WHERE NOT t.tgisinternal
        ORDER BY 1, 2
    """,
    "functions": f"""
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
          AND {NOT_EXTENSIONS.format(catalog="pg_proc", oid="p.oid")}
        ORDER BY 1, 2
    """,
    "types": f"""
        SELECT t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod),
               array(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
                     ORDER BY e.enumsortorder)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')
          AND {NOT_EXTENSIONS.format(catalog="pg_type", oid="t.oid")}
        ORDER BY 1
    """,
    "sequences": """
        SELECT sequencename, data_type::text, start_value, increment_by, min_value, max_value,
               cycle
        FROM pg_sequences WHERE schemaname = 'public'
        ORDER BY 1
    """,
    "table_comments": f"""
        WITH ours AS ({OURS})
        SELECT o.relname, obj_description(o.oid, 'pg_class') FROM ours o
        WHERE obj_description(o.oid, 'pg_class') IS NOT NULL
        ORDER BY 1
    """,
    "extensions": "SELECT extname FROM pg_extension ORDER BY 1",
}


def schema(url: str) -> dict[str, list[tuple]]:
    """The database's schema as pg_catalog lists it, comparable with ==."""
    with closing(connect(url)) as conn, conn.cursor() as cur:
        listing = {}
        for name, sql in CATALOG.items():
            cur.execute(sql)
            listing[name] = cur.fetchall()
        return listing


def version(url: str) -> str | None:
    with closing(connect(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None
        cur.execute("SELECT version_num FROM alembic_version")
        rows = cur.fetchall()
        assert len(rows) <= 1, rows
        return rows[0][0] if rows else None


def connect(url: str):
    parsed = make_url(url)
    params = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    return psycopg2.connect(**{k: v for k, v in params.items() if v is not None})


@pytest.fixture(scope="module")
def revisions() -> list[str]:
    """The revisions from the first to head, read from migrations/ by Alembic."""
    script = ScriptDirectory.from_config(alembic_config(""))
    heads = script.get_heads()
    assert len(heads) == 1, f"the migrations must form one line, not branch: heads {heads}"
    newest_first = [rev.revision for rev in script.walk_revisions("base", "heads")]
    return newest_first[::-1]


def test_the_migrations_are_the_ones_in_the_repository(revisions):
    # A hand-written floor: if the walk found fewer, the loop below would prove less.
    assert revisions[:6] == ["0001", "0002", "0003", "0004", "0005", "0006"]


def test_each_downgrade_undoes_its_upgrade_exactly(database_url, revisions):
    with empty_database(database_url) as url:
        config = alembic_config(url)
        fresh = schema(url)
        assert fresh["relations"] == [] and fresh["functions"] == [] and fresh["types"] == []

        # The schema after each revision, applied one at a time from an empty database.
        after = {}
        for revision in revisions:
            command.upgrade(config, revision)
            assert version(url) == revision
            after[revision] = schema(url)
            assert after[revision] != fresh
        # No revision is empty: each one changes the schema it was given.
        before = [fresh, *(after[r] for r in revisions[:-1])]
        for revision, previous in zip(revisions, before, strict=True):
            assert after[revision] != previous, f"{revision} changes nothing"

        # 0001 creates PostGIS when missing; the extension may have been there before the
        # migrations, so downgrading 0001 leaves it installed. Everything else goes.
        at_base = fresh | {"extensions": sorted({*fresh["extensions"], ("postgis",)})}

        for index in range(len(revisions) - 1, -1, -1):
            revision = revisions[index]
            down_to = revisions[index - 1] if index else None
            expected_below = after[down_to] if down_to else at_base

            command.downgrade(config, "-1")
            assert version(url) == down_to
            assert schema(url) == expected_below, f"downgrade of {revision}"

            command.upgrade(config, "+1")
            assert version(url) == revision
            assert schema(url) == after[revision], f"upgrade of {revision} after its downgrade"

            command.downgrade(config, "-1")
            assert schema(url) == expected_below, f"second downgrade of {revision}"

        assert version(url) is None

        head = revisions[-1]
        command.upgrade(config, "head")
        assert version(url) == head
        assert schema(url) == after[head]

        command.downgrade(config, "base")
        assert version(url) is None
        assert schema(url) == at_base

        command.upgrade(config, "head")
        assert version(url) == head
        assert schema(url) == after[head]
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                assert schema_drift(conn) == []
        finally:
            engine.dispose()
