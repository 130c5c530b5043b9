"""One SQLAlchemy session per HTTP request, opened on first use and closed at teardown; a read
that meets a connection the database dropped is run once more.

With DATABASE_REPLICA_URLS, the public reads (GET and HEAD, but for the staff API and console
and /metrics) are answered by a streaming standby (db/replicas.py), the rest by the primary.
A client reads its own writes: a response to a request that committed carries the primary's
WAL position (header and cookie Open311-Commit-LSN / open311_lsn), and a read that brings one
back is given only a replica that has replayed that far, else the primary. A read that fails
on a replica (it went down, or the request tried to write there) runs again on the primary.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import Counter
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from open311.config import Settings
from open311.db.replicas import (
    Replica,
    ReplicaSet,
    WriteOnReplica,
    current_lsn,
    format_lsn,
    parse_lsn,
)
from open311.db.session import FAILURES as FAILURES  # what the app's error handler catches
from open311.db.session import (
    SETTINGS,
    is_disconnect,
    make_engine,
    make_session_factory,
    set_local_timeouts,
)

log = logging.getLogger(__name__)

# Requests that change nothing, and so may simply be run again.
READS = frozenset({"GET", "HEAD"})
# The environ key of a read's attempt: "first", "wanted" (the first met a dead connection),
# "last".
ATTEMPT = "open311.attempt"
# The environ key set when a read's first attempt failed on a replica: the next runs on the
# primary.
ON_PRIMARY = "open311.on_primary"
# The environ key set when a read's first attempt found the primary unavailable: the next runs
# on any replica that answers, however far behind or cut off (a failover is under way: a read
# a little stale beats a 503).
ON_ANY_REPLICA = "open311.on_any_replica"
REPLICAS = "open311.replicas"
# Where a client is told the position of its last write, and brings it back (either one).
LSN_HEADER = "Open311-Commit-LSN"
LSN_COOKIE = "open311_lsn"
# Reads that stay on the primary: the staff API and console (their GETs write audit entries,
# and staff expect to see at once what they just changed, from any client), and the metrics.
PRIMARY_PATHS = ("/api/", "/staff/", "/metrics")

READS_TOTAL = Counter(
    "open311_database_reads",
    "Read requests (GET, HEAD) that used the database, by the node that answered them "
    "(primary, replica0, replica1 ...).",
    ["target"],
)

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
    if urls := settings.replica_urls():
        app.extensions[REPLICAS] = ReplicaSet.from_urls(
            urls,
            max_lag_s=settings.replica_max_lag_s,
            statement_timeout_ms=settings.statement_timeout_ms,
            idle_in_transaction_timeout_ms=settings.idle_in_transaction_timeout_ms,
        )
        app.after_request(_send_commit_lsn)
        app.register_error_handler(WriteOnReplica, _write_on_replica)
    app.teardown_appcontext(_close)
    app.wsgi_app = RetryReads(app.wsgi_app)  # type: ignore[method-assign]


def settings() -> Settings:
    """The app's settings, read from its config at this moment (a test may change the config
    after the app is built)."""
    return Settings.from_config(current_app.config)


def session() -> Session:
    """This request's session; it carries the settings, for the work done when it commits.
    A read's is a replica's when one may answer it (see the module's docstring)."""
    if "db_session" not in g:
        g.db_session = _new_session()
        g.db_session.info[SETTINGS] = settings()
    return g.db_session


def replicas() -> ReplicaSet | None:
    """The app's replicas; None without DATABASE_REPLICA_URLS."""
    return current_app.extensions.get(REPLICAS)


def _new_session() -> Session:
    target = read_target()
    if target is not None:
        return target.sessions()
    made = current_app.extensions["open311.sessions"]()
    if replicas() is not None:
        event.listen(made, "after_commit", _note_commit)
    return made


def read_target() -> Replica | None:
    """The replica this request reads from, None: the primary; chosen once per request (its
    session and an export's session agree), and counted by node when it is a read."""
    if "db_target" in g:
        return g.db_target
    target = None
    chooser = replicas()
    if chooser is not None and _may_read_from_replica():
        if request.environ.get(ON_ANY_REPLICA):
            target = chooser.any_answering()
        else:
            target = chooser.choose(_required_lsn())
    if request.method in READS:
        READS_TOTAL.labels("primary" if target is None else target.name).inc()
    g.db_target = target
    return target


def _may_read_from_replica() -> bool:
    path = request.path
    return (
        request.method in READS
        and not request.environ.get(ON_PRIMARY)
        and path != "/staff"
        and not path.startswith(PRIMARY_PATHS)
    )


def _required_lsn() -> int | None:
    """The latest write position the client brought (header or cookie); anything that is no
    LSN is ignored, and never reaches SQL."""
    given = (parse_lsn(request.headers.get(LSN_HEADER)), parse_lsn(request.cookies.get(LSN_COOKIE)))
    return max((lsn for lsn in given if lsn is not None), default=None)


def _note_commit(_session: Session) -> None:
    g.db_committed = True


def _send_commit_lsn(response: Response) -> Response:
    """After a commit on the primary, its WAL position for the client to bring back: a read
    then waits for a replica that has replayed it (or goes to the primary). The cookie lives
    a little longer than a replica may lag (and its status be cached): by then any replica in
    use has replayed the write."""
    if not g.pop("db_committed", False) or "db_session" not in g:
        return response
    try:
        lsn = format_lsn(current_lsn(g.db_session))
    except FAILURES as error:  # the write stands; the client may just not see it for a moment
        log.warning("could not read the WAL position after a commit: %s", error)
        return response
    chooser = replicas()
    assert chooser is not None
    response.headers[LSN_HEADER] = lsn
    response.set_cookie(
        LSN_COOKIE,
        lsn,
        max_age=math.ceil(chooser.max_lag_s + chooser.refresh_s) + 5,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.is_secure or bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )
    return response


def _write_on_replica(error: WriteOnReplica) -> Response:
    """A read that wrote (a view that should be routed to the primary: see PRIMARY_PATHS) is
    run again there; warned about, since its first attempt was wasted."""
    log.warning(
        "%s %s tried to write on %s (SQLSTATE 25006): run again on the primary",
        request.method,
        request.path,
        getattr(g.get("db_target"), "name", "a replica"),
    )
    if request.environ.get(ATTEMPT) == "first":
        request.environ[ATTEMPT] = "wanted"
        request.environ[ON_PRIMARY] = True
        return Response(status=503)  # not sent: RetryReads answers with the second attempt
    raise error  # not a read's first attempt (none reads from a replica after it): a 500


def export_session() -> Session:
    """A session of its own for a streamed export (it outlives the request's, until the last
    row is sent; the caller closes it), under the export's longer time limits: its first
    statement opens the transaction they hold for. On the request's replica if it has one."""
    target = read_target()
    if target is not None:
        export = target.sessions()
    else:
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
        _request_engine().dispose()


def engine() -> Engine:
    return current_app.extensions["open311.engine"]


def _request_engine() -> Engine:
    """The engine of the node this request uses."""
    target = g.get("db_target")
    return engine() if target is None else target.engine


def drop_connections() -> None:
    """Discard this request's connection and close the pool's, to be opened afresh: after the
    database went away they are all dead, and each would fail one more request (closing the
    request's session would also try a rollback on its dead connection, and fail)."""
    db_session = g.get("db_session")
    if db_session is not None:
        db_session.invalidate()
    target = g.get("db_target")
    chooser = replicas()
    if target is not None and chooser is not None:
        target.mark_down(chooser.down_s)  # not asked again for a while; the primary answers
    _request_engine().dispose()


def retry_read(error: Exception) -> bool:
    """Whether this request will be run again from the start (RetryReads): a read's first
    attempt that met a connection the database dropped (a restart); call drop_connections
    first, so that the second attempt connects afresh. Whatever the caller answers then is
    thrown away. A read whose replica failed (refused, or dropped the connection) is run
    again on the primary; a read the primary could not serve (down, or in a failover), on any
    replica that answers."""
    if request.environ.get(ATTEMPT) != "first":
        return False
    if g.get("db_target") is not None:
        request.environ[ON_PRIMARY] = True
    elif replicas() is not None and _may_read_from_replica():
        request.environ[ON_ANY_REPLICA] = True
    elif not is_disconnect(error, engine()):
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
        retry = {
            ATTEMPT: "last",
            ON_PRIMARY: environ.get(ON_PRIMARY, False),
            ON_ANY_REPLICA: environ.get(ON_ANY_REPLICA, False),
        }
        return self.wsgi_app(pristine | retry, start_response)


def _discard(_data: bytes) -> None:
    """The `write` of a start_response whose answer is not sent."""
