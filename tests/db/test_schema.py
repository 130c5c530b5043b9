"""The migrated schema is exactly what the models declare, with PostGIS and its spatial index."""

from __future__ import annotations

from sqlalchemy import text

from open311.db.migrate import schema_drift


def test_migrations_match_models(engine):
    with engine.connect() as conn:
        assert schema_drift(conn) == []


def test_drift_is_detected(engine):
    with engine.connect() as conn, conn.begin() as trans:
        conn.execute(text("ALTER TABLE service DROP COLUMN keywords"))
        drift = schema_drift(conn)
        trans.rollback()
    assert any("keywords" in str(change) for change in drift)


def test_postgis_and_spatial_index_present(engine):
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT extname FROM pg_extension WHERE extname = 'postgis'"))
        indexdef = conn.scalar(
            text(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'service_request' "
                "AND indexdef ILIKE '%gist%'"
            )
        )
        assert "(location)" in indexdef
