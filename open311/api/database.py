"""One SQLAlchemy session per HTTP request, opened on first use and closed at teardown; a read
that meets a connection the database dropped is run once more."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from open311.config import Settings
from open311.db.session import FAILURES as FAILURES  # what the app's error handler catches
from open311.db.session import (
    SETTINGS,
    is_disconnect,
    make_engine,
    make_session_factory,
    set_local_timeouts,
)

# Requests that change nothing, and so may simply be run again.
READS = frozenset({"GET", "HEAD"})
# The environ key of a read's attempt: "first", "wanted" (the first met a dead connection),
# "last".
ATTEMPT = "open311.attempt"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def init_app(app: Flask) -> None:
    settings = Settings.from_config(app.config)
    engine = make_engine(
        app.config["DATABASE_URL"],
        statement_timeout_ms=settings.statement_timeout_ms,
        idle_in_transaction_timeout_ms=settings.idle_in_transaction_timeout_ms,
        pool_size=5,
        max_overflow=5,
    )
    app.extensions["open311.engine"] = engine
    app.extensions["open311.sessions"] = make_session_factory(engine)
    app.teardown_appcontext(_close)
    app.wsgi_app = RetryReads(app.wsgi_app)  # type: ignore[method-assign]


def settings() -> Settings:
    """The app's settings, read from its config at this moment (a test may change the config
    after the app is built)."""
    return Settings.from_config(current_app.config)


def session() -> Session:
    """This request's session; it carries the settings, for the work done when it commits."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["open311.sessions"]()
        g.db_session.info[SETTINGS] = settings()
    return g.db_session


def export_session() -> Session:
    """A session of its own for a streamed export (it outlives the request's, until the last
    row is sent; the caller closes it), under the export's longer time limits: its first
    statement opens the transaction they hold for."""
    export = current_app.extensions["open311.sessions"]()
    export.info[SETTINGS] = settings()  # what it shows depends on them (domain/publication.py)
    try:
        timeout_ms = settings().export_statement_timeout_ms
        set_local_timeouts(
            export, statement_timeout_ms=timeout_ms, idle_in_transaction_timeout_ms=timeout_ms
        )
    except BaseException:
        export.close()
        raise
    return export


def _close(_exc: BaseException | None) -> None:
    # An uncommitted session rolls back here: an error never leaves a partial write behind.
    db_session = g.pop("db_session", None)
    if db_session is None:
        return
    try:
        db_session.close()
    except Exception as error:
        if not is_disconnect(error, engine()):
            raise
        # The database went away after the request's last statement (a restart): the
        # transaction went with the connection, there is nothing left to roll back, and the
        # answer already made stands (a 500 here would only hide it). The pool's other
        # connections are dead too: opened afresh on next use.
        db_session.invalidate()
        engine().dispose()


def engine() -> Engine:
    return current_app.extensions["open311.engine"]


def drop_connections() -> None:
    """Discard this request's connection and close the pool's, to be opened afresh: after the
    database went away they are all dead, and each would fail one more request (closing the
    request's session would also try a rollback on its dead connection, and fail)."""
    db_session = g.get("db_session")
    if db_session is not None:
        db_session.invalidate()
    engine().dispose()


def retry_read(error: Exception) -> bool:
    """Whether this request will be run again from the start (RetryReads): a read's first
    attempt that met a connection the database dropped (a restart); call drop_connections
    first, so that the second attempt connects afresh. Whatever the caller answers then is
    thrown away."""
    if not is_disconnect(error, engine()) or request.environ.get(ATTEMPT) != "first":
        return False
    request.environ[ATTEMPT] = "wanted"
    return True


class RetryReads:
    """WSGI middleware: a GET or HEAD whose first attempt asked for another (retry_read) runs
    once more, on a copy of the environ as it came, and that answer is the client's.

    Pre-ping would find dead connections before use, at the cost of a round trip on every
    checkout (see db.session.make_engine); after a database restart each worker's pool meets
    its dead connections once instead, and a read can simply be repeated. Writes are not: a
    write that met a dead connection may or may not have been committed, so it answers 503
    with Retry-After (api.errors) and the client decides."""

    def __init__(self, wsgi_app: WSGIApp) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") not in READS:
            return self.wsgi_app(environ, start_response)
        pristine = dict(environ)
        environ[ATTEMPT] = "first"

        def start_first(status: str, headers: list, exc_info: Any = None) -> Callable:
            if environ.get(ATTEMPT) == "wanted":
                return _discard  # this answer is replaced by the second attempt's
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, start_first)
        if environ.get(ATTEMPT) != "wanted":
            return body
        if hasattr(body, "close"):
            body.close()
        return self.wsgi_app(pristine | {ATTEMPT: "last"}, start_response)


def _discard(_data: bytes) -> None:
    """The `write` of a start_response whose answer is not sent."""
