"""Engine and session factory; every connection runs in UTC, without parallel query or JIT,
and a web connection under time limits. What a driver error means for a caller is told here."""

from __future__ import annotations

import traceback
from typing import Any

import psycopg2
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from open311.config import Settings

# The session.info key of the settings a session was made with.
SETTINGS = "open311.settings"


def make_engine(
    url: str,
    *,
    statement_timeout_ms: int | None = None,
    idle_in_transaction_timeout_ms: int | None = None,
    writes_expected: bool = True,
    **kwargs: Any,
) -> Engine:
    """An engine whose connections run as the module says. The timeouts (0: none) are the web
    app's, so that one slow query or a stuck request cannot hold a connection and its locks
    for long; left None (the worker, the commands, migrations) the server's defaults stand,
    since a migration or a bulk seed may rightly take minutes."""
    settings = {"timezone": "UTC", "max_parallel_workers_per_gather": "0", "jit": "off"}
    if statement_timeout_ms is not None:
        settings["statement_timeout"] = str(int(statement_timeout_ms))
    if idle_in_transaction_timeout_ms is not None:
        settings["idle_in_transaction_session_timeout"] = str(int(idle_in_transaction_timeout_ms))
    options = " ".join(f"-c {name}={value}" for name, value in settings.items())
    engine = create_engine(
        url,
        # No pre-ping: its extra round trip on every checkout cost 12-14% of a worker's time on
        # single-request lookups in the benchmark. Connections are recycled instead, and a
        # connection found dead (a database restart) fails its first statement: the web app
        # then drops the pool's connections and runs a read again on a fresh one, or answers
        # a write 503 (api.database, api.errors).
        pool_recycle=1800,
        # No parallel workers: on the 2-core machines measured, parallel plans of list pages
        # were 2-3x slower than serial ones, and they starve concurrent requests.
        # No JIT: PostGIS declares its functions costly, so radius pages passed jit_above_cost
        # and LLVM compiled them anew on every call, 20-400 ms for a 15 ms query.
        connect_args={"options": options},
        # An error's message and the engine's logging never carry a statement's parameters:
        # an INSERT's are a requester's e-mail, phone and name, and the message reaches logs.
        hide_parameters=True,
        **kwargs,
    )
    _settings_per_transaction_when_dropped(engine, settings)
    if writes_expected:
        _read_only_server_is_a_lost_connection(engine)
    return engine


def _read_only_server_is_a_lost_connection(engine: Engine) -> None:
    """A write refused because the server is read-only (SQLSTATE 25006) on an engine meant for
    the primary: the primary was demoted (a switchover), and a pooler in front of it went on
    lending connections to it as it is now. Nothing was written. Every pooled connection leads
    there, so the error is taken as a lost connection: the pool is emptied, and the next
    connections, on a URL naming every node with target_session_attrs=read-write, find the new
    primary (the web app answers 503 meanwhile; the worker tries again)."""

    @event.listens_for(engine, "handle_error")
    def _demoted(context: Any) -> None:
        if getattr(context.original_exception, "pgcode", None) == READ_ONLY_SQL_TRANSACTION:
            context.is_disconnect = True


# The pooled connection's info key: its startup options did not reach the server.
OPTIONS_DROPPED = "open311.options_dropped"


def _settings_per_transaction_when_dropped(engine: Engine, settings: dict[str, str]) -> None:
    """Send `settings` with each transaction (SET LOCAL) on connections whose startup options
    never reached a server: pgbouncer in transaction mode drops them (it cannot give them to
    each server connection a client borrows: ignore_startup_parameters=options), and a session
    SET would stay behind on a server connection for its next client. Why this rather than
    ALTER ROLE ... SET or pgbouncer's connect_query: the web app's time limits differ from the
    worker's on the same role and the same pool, and stay the app's settings, not the
    pooler's. It costs one round trip a transaction, through a pooler only; directly, nothing.
    Whether the options arrived is read once a connection, from where the server says jit's
    value came from ('client': the startup packet)."""
    assignments = ", ".join("set_config(%s, %s, true)" for _ in settings)
    statement = f"SELECT {assignments}"
    parameters = [part for item in settings.items() for part in item]

    @event.listens_for(engine, "connect")
    def _check(dbapi_connection: Any, record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT source FROM pg_settings WHERE name = 'jit'")
            row = cursor.fetchone()
        dbapi_connection.rollback()
        record.info[OPTIONS_DROPPED] = row is None or row[0] != "client"

    @event.listens_for(engine, "begin")
    def _send(connection: Connection) -> None:
        pooled = connection.connection
        if not pooled.info.get(OPTIONS_DROPPED):
            return
        dbapi_connection = pooled.dbapi_connection
        if dbapi_connection is None or dbapi_connection.autocommit:
            return  # no transaction for SET LOCAL to last
        with dbapi_connection.cursor() as cursor:
            cursor.execute(statement, parameters)


def set_local_timeouts(
    session: Session, *, statement_timeout_ms: int, idle_in_transaction_timeout_ms: int
) -> None:
    """Other time limits for the rest of `session`'s transaction (SET LOCAL): an export's
    statements may take longer than a page's, and so may its pauses while the client reads."""
    session.execute(
        text(
            "SELECT set_config('statement_timeout', :statement, true),"
            " set_config('idle_in_transaction_session_timeout', :idle, true)"
        ),
        {
            "statement": str(int(statement_timeout_ms)),
            "idle": str(int(idle_in_transaction_timeout_ms)),
        },
    )


def make_session_factory(engine: Engine, settings: Settings | None = None) -> sessionmaker[Session]:
    """Sessions that carry `settings` (see settings_of): work done when one commits (the
    outbox writing its events) depends on them, and has no caller to be handed them by."""
    info = {} if settings is None else {SETTINGS: settings}
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


def settings_of(session: Session) -> Settings:
    """The settings `session` was made with; for one made without (a test's session joined to
    its outer transaction, a script's), those of the environment at this moment."""
    return session.info.get(SETTINGS) or Settings()


# What a failing statement raises: SQLAlchemy's wrapper of the driver's error, or the driver's
# own error from the plain DBAPI cursors that db.search_queries uses for speed.
FAILURES: tuple[type[Exception], ...] = (DBAPIError, psycopg2.Error)

# SQLSTATEs of a server that is going away or not yet there: admin_shutdown, crash_shutdown,
# cannot_connect_now (starting up or in recovery); class 08 is connection_exception.
_UNAVAILABLE = frozenset({"57P01", "57P02", "57P03"})
QUERY_CANCELED = "57014"  # statement_timeout, or pg_cancel_backend()
READ_ONLY_SQL_TRANSACTION = "25006"  # a write on a standby
UNIQUE_VIOLATION = "23505"


def _driver_error(error: Exception) -> Exception:
    return error.orig if isinstance(error, DBAPIError) else error  # type: ignore[return-value]


def is_disconnect(error: Exception, engine: Engine) -> bool:
    """A connection that was open died under a statement (the database restarted, or ended
    the session), so that trying again on a fresh connection may well work. SQLAlchemy tells
    it for the errors it wraps; the driver's own are judged by the dialect's same rules."""
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    return isinstance(error, psycopg2.Error) and engine.dialect.is_disconnect(error, None, None)


def is_unavailable(error: Exception, engine: Engine) -> bool:
    """The database cannot be reached or went away: nothing the statement did is worth
    reporting but 'try again shortly'."""
    if is_disconnect(error, engine):
        return True
    driver = _driver_error(error)
    if not isinstance(driver, psycopg2.OperationalError):
        return False
    code = driver.pgcode
    # psycopg2 gives no SQLSTATE for errors of the connection itself (refused, reset, closed).
    return code is None or code.startswith("08") or code in _UNAVAILABLE


def is_timeout(error: Exception) -> bool:
    """A statement cancelled by statement_timeout."""
    return getattr(_driver_error(error), "pgcode", None) == QUERY_CANCELED


def is_unique_violation(error: Exception) -> bool:
    """Another transaction stored the same key first: two creations of one code or name at
    the same moment, which each checked and found it free."""
    return getattr(_driver_error(error), "pgcode", None) == UNIQUE_VIOLATION


def describe_failure(error: BaseException) -> str:
    """A database error for a log, without the values it was about: its class and SQLSTATE,
    the constraint, table and column, the statement with its placeholders, and the server's
    message unless it quotes a value (data exceptions, class 22). The driver's DETAIL is left
    out: "Failing row contains (...)" and "Key (email)=(...)" hold a requester's data."""
    driver = _driver_error(error) if isinstance(error, Exception) else error
    if not isinstance(driver, psycopg2.Error):
        return type(error).__name__
    code = driver.pgcode or "none"
    diag = driver.diag
    parts = [f"{type(error).__name__} ({type(driver).__name__}, SQLSTATE {code})"]
    if not code.startswith("22") and diag.message_primary:
        parts.append(diag.message_primary)
    for name in ("constraint_name", "table_name", "column_name"):
        value = getattr(diag, name)
        if value:
            parts.append(f"{name.removesuffix('_name')} {value}")
    statement = getattr(error, "statement", None)
    if statement:
        parts.append(f"statement: {' '.join(str(statement).split())[:500]}")
    return "; ".join(parts)


def failure_text(error: BaseException) -> str:
    """describe_failure with the traceback of where the statement was run, for a log record
    instead of exc_info (whose text would carry the driver's DETAIL)."""
    frames = "".join(traceback.format_tb(error.__traceback__))
    return f"Traceback (most recent call last):\n{frames}{describe_failure(error)}"
