"""Bulk loads' database upkeep: detaching and restoring a table's indexes and constraints,
flushing GIN pending lists, ANALYZE and VACUUM, and per-transaction memory for index builds."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session


def detach_indexes(session: Session, table: str) -> list[str]:
    """Drop `table`'s secondary indexes and its unique and foreign-key constraints; return the
    statements that put them back exactly (their own definitions, as the catalogue holds them).

    The primary key stays: other tables' foreign keys point at it.
    """
    rows = session.execute(
        text(
            """
            SELECT c.conname, c.contype, pg_get_constraintdef(c.oid), NULL
            FROM pg_constraint c
            WHERE c.conrelid = CAST(:table AS regclass) AND c.contype IN ('u', 'f')
            UNION ALL
            SELECT i.relname, 'i', NULL, pg_get_indexdef(x.indexrelid)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = CAST(:table AS regclass) AND NOT x.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            """
        ),
        {"table": table},
    ).all()
    restore_constraints, restore_indexes, restore_keys = [], [], []
    for name, kind, constraint, index in rows:
        if kind == "i":
            session.execute(text(f'DROP INDEX "{name}"'))
            restore_indexes.append(index)
        else:
            session.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
            statement = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {constraint}'
            (restore_constraints if kind == "u" else restore_keys).append(statement)
    # Unique constraints first (they check the load), foreign keys last (one join each).
    return restore_constraints + restore_indexes + restore_keys


def flush_gin_pending_lists(session: Session, table: str) -> None:
    """Move what inserts left in the pending lists of `table`'s GIN indexes into the indexes.

    Inserts into a GIN index go to an unsorted pending list first (up to 4 MB), which every
    search reads in full and which the planner counts: after a load it can make full-text search
    look costlier than a sequential scan until VACUUM flushes it. Runs inside a transaction.
    """
    session.execute(
        text(
            "SELECT gin_clean_pending_list(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam "
            "WHERE x.indrelid = CAST(:table AS regclass) AND a.amname = 'gin'"
        ),
        {"table": table},
    )


def run_statements(session: Session, statements: Sequence[str]) -> None:
    for statement in statements:
        session.execute(text(statement))


def vacuum(bind: Engine | Connection) -> float | None:
    """VACUUM (ANALYZE) the tables a load writes, after the caller committed; returns seconds.

    It sets the visibility map now, so index-only scans (a district's requests) skip the heap
    from the first query on, and autovacuum does not wake up on a million fresh rows in the
    middle of a benchmark. VACUUM needs a connection outside any transaction: given a
    Connection (a test's transaction) it does nothing and returns None.
    """
    if not isinstance(bind, Engine):
        return None
    started = time.perf_counter()
    with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) service_request, request_district, activity"))
    return time.perf_counter() - started


def analyze_for_placement(session: Session) -> None:
    """Fresh statistics for what district_queries.route_located_requests joins, before it runs.

    Without them its nearest-district search skips the districts' spatial index (25 s instead
    of 1 s for the 30,000 history rows). request_district is left alone while it is empty: its
    statistics would then say "no rows", and the placement's second statement, planned after the
    first one has inserted two rows per request, would scan the table once per request.
    """
    tables = ["service_request", "district", "boundary_layer"]
    if session.scalar(text("SELECT EXISTS (SELECT 1 FROM request_district)")):
        tables.append("request_district")
    analyze(session, *tables)


def analyze(session: Session, *tables: str) -> None:
    """ANALYZE the tables inside the caller's transaction (it sees the rows the transaction
    wrote): the planner then knows what a bulk load just added, long before autovacuum would."""
    session.execute(text(f"ANALYZE {', '.join(tables)}"))


def tune_for_bulk(session: Session) -> None:
    # For this transaction only: index builds (GIN above all) and the placement's sort of two
    # rows per request stay in memory instead of spilling to disk in 4 MB runs.
    session.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    session.execute(text("SET LOCAL work_mem = '256MB'"))
