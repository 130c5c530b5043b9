"""Streaming standbys for reads: which one may answer now, by how far behind it is.

Each replica's status (how far it has replayed the primary's WAL, its lag, up or down) is read
with one cheap statement and kept per process for `refresh_s`; a caller that needs a replica to
have replayed up to a given LSN (a client's own last write) has a stale status read afresh
before the replica is given up on. Nothing here keeps session state on a connection (no SET, no
prepared statement, no temporary table): a replica may sit behind pgbouncer in transaction mode.

Judged as follows:
- lag is 0 while the replica has replayed all the WAL it has received, else the age of the last
  transaction it replayed (`now() - pg_last_xact_replay_timestamp()`): WAL received but not yet
  applied is what makes its answers old. A replica further behind than `max_lag_s` is skipped.
- a replica whose WAL receiver is not running (the primary is unreachable from it, or it
  restarts) cannot know how far behind it is: skipped until it streams again. A role without
  pg_read_all_stats (pg_monitor) sees whether the receiver runs but not its state, so a
  receiver waiting to reconnect counts as streaming for it; grant one of them to tell.
- the lag is read as PostgreSQL offers it: on a primary idle for long, the first WAL after
  the pause makes a replica look as far behind as that pause until it has replayed it (a few
  ms), and a read meeting that moment goes to the primary.
- a replica that is not in recovery was promoted: it no longer follows the primary the app
  writes to (after a failover DATABASE_URL names it, or it split off), its LSNs belong to
  another timeline, and what it shows drifts away from the writes. Skipped, with a warning.
- a replica that cannot be reached (or fails its status statement) is down for `down_s`, and
  not asked again before: a dead host must not cost every request a connection attempt.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker

from open311.db.session import (
    FAILURES,
    READ_ONLY_SQL_TRANSACTION,
    describe_failure,
    make_engine,
    make_session_factory,
)

log = logging.getLogger(__name__)


# One statement, nothing kept on the connection. pg_stat_wal_receiver shows its status only to
# roles with pg_read_all_stats (others see the row of a running receiver, with a NULL status).
STATUS = text(
    """
    SELECT pg_is_in_recovery(),
           pg_last_wal_replay_lsn()::text,
           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
                ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
           END,
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver
                   WHERE status IS NULL OR status = 'streaming')
    """
)
# Where the primary's WAL ends now: a commit made before this is replayed by a replica whose
# replay LSN has reached it.
CURRENT_LSN = text("SELECT pg_current_wal_insert_lsn()::text")
# Strict: int(x, 16) alone would also take "-1", "0x1f" and "1_0".
_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})", re.ASCII)


def parse_lsn(value: str | None) -> int | None:
    """An LSN as PostgreSQL writes it ('16/B374D848': two hex numbers of up to 8 digits) as one
    comparable number; None for anything else (a client's cookie may hold any text)."""
    if not value:
        return None
    match = _LSN.fullmatch(value.strip())
    if match is None:
        return None
    return (int(match[1], 16) << 32) | int(match[2], 16)


def format_lsn(lsn: int) -> str:
    """The text PostgreSQL writes for `lsn`."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def current_lsn(session: Session) -> int:
    """The primary's WAL insert position, through `session` (one statement in its own
    transaction; the session's caller ends that)."""
    value = session.execute(CURRENT_LSN).scalar_one()
    lsn = parse_lsn(value)
    if lsn is None:
        raise ValueError(f"not an LSN: {value!r}")
    return lsn


class WriteOnReplica(Exception):
    """A statement tried to write on a replica (SQLSTATE 25006): the request took itself for a
    read, and must run again on the primary."""


@dataclass(frozen=True)
class Status:
    """What a replica said when last asked (`checked_at`: time.monotonic())."""

    checked_at: float
    up: bool
    in_recovery: bool = False
    streaming: bool = False
    replay_lsn: int | None = None
    lag_s: float | None = None

    def eligible(self, max_lag_s: float) -> bool:
        """Whether it may answer a read that needs nothing particular replayed."""
        return (
            self.up
            and self.in_recovery
            and self.streaming
            and self.replay_lsn is not None
            and self.lag_s is not None
            and self.lag_s <= max_lag_s
        )

    def has_replayed(self, lsn: int | None) -> bool:
        return lsn is None or (self.replay_lsn is not None and self.replay_lsn >= lsn)


UNKNOWN = Status(checked_at=float("-inf"), up=True)


class Replica:
    """One standby: its engine and sessions, and its status as last read (thread-safe)."""

    def __init__(self, name: str, engine: Engine) -> None:
        self.name = name
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.status = UNKNOWN
        self._down_until = float("-inf")
        self._refreshing = threading.Lock()
        self._warned_promoted = False
        event.listen(engine, "handle_error", _refuse_writes)

    def current(self, *, refresh_s: float, down_s: float, now: float | None = None) -> Status:
        """The status, read afresh if it is older than `refresh_s` (and the replica is not
        resting as down). One thread reads it at a time; the others meanwhile take the one
        they find, never waiting for a slow replica."""
        now = time.monotonic() if now is None else now
        status = self.status
        if now < self._down_until or now - status.checked_at < refresh_s:
            return status
        return self.refresh(down_s=down_s)

    def refresh(self, *, down_s: float) -> Status:
        """Read the status now (unless another thread is already at it: then its last one)."""
        if not self._refreshing.acquire(blocking=False):
            return self.status
        try:
            self.status = self._read(down_s)
            return self.status
        finally:
            self._refreshing.release()

    def mark_down(self, down_s: float) -> None:
        """Take the replica out of use for `down_s` (it failed a read)."""
        self._down_until = time.monotonic() + down_s
        self.status = Status(checked_at=time.monotonic(), up=False)

    def _read(self, down_s: float) -> Status:
        try:
            with self.engine.connect() as connection:
                row = connection.execute(STATUS).one()
        except FAILURES as error:
            log.warning(
                "replica %s is down for %.0f s: %s", self.name, down_s, describe_failure(error)
            )
            self._down_until = time.monotonic() + down_s
            self.engine.dispose()  # its other connections are likely dead too
            return Status(checked_at=time.monotonic(), up=False)
        in_recovery, replay, lag_s, streaming = row
        if not in_recovery:
            if not self._warned_promoted:
                self._warned_promoted = True
                log.warning("replica %s is not in recovery (promoted?): not read from", self.name)
            # Its connections were made to the node that was a standby then. A URL naming
            # several hosts (target_session_attrs=prefer-standby) finds the standby of now on
            # fresh ones: after a failover the old primary comes back as one.
            self.engine.dispose()
        else:
            self._warned_promoted = False
        return Status(
            checked_at=time.monotonic(),
            up=True,
            in_recovery=bool(in_recovery),
            streaming=bool(streaming),
            replay_lsn=parse_lsn(replay),
            lag_s=None if lag_s is None else float(lag_s),
        )


def _refuse_writes(context: ExceptionContext) -> None:
    """A replica's 25006 raised as WriteOnReplica, which the web app knows to run again."""
    code = getattr(context.original_exception, "pgcode", None)
    if code == READ_ONLY_SQL_TRANSACTION:
        raise WriteOnReplica(str(context.statement or "")[:200]) from context.sqlalchemy_exception


class ReplicaSet:
    """The replicas of DATABASE_REPLICA_URLS, and the choice of one for a read."""

    def __init__(
        self,
        replicas: list[Replica],
        *,
        max_lag_s: float,
        refresh_s: float = 0.5,
        down_s: float = 5.0,
        recheck_s: float = 0.02,
    ) -> None:
        self.replicas = replicas
        self.max_lag_s = max_lag_s
        self.refresh_s = refresh_s
        self.down_s = down_s
        # A status read afresh for a client's LSN is not read again sooner than this: many
        # clients waiting for the same slow replay would otherwise each cost it a statement.
        self.recheck_s = recheck_s
        self._turns = itertools.count()

    @classmethod
    def from_urls(cls, urls: list[str], *, max_lag_s: float, **engine_options: Any) -> ReplicaSet:
        """One small pool per URL (made with make_engine, with `engine_options`: the primary's
        time limits), each connection attempt given up after a few seconds (connect_timeout,
        unless the URL sets one): a replica host that does not answer must not hold a request
        for the system's TCP timeout."""
        # A write refused there is a route's mistake (WriteOnReplica), not a demoted primary.
        engine_options = {"pool_size": 2, "max_overflow": 3, "writes_expected": False} | (
            engine_options
        )
        replicas = [
            Replica(f"replica{index}", make_engine(_with_connect_timeout(url), **engine_options))
            for index, url in enumerate(urls)
        ]
        return cls(replicas, max_lag_s=max_lag_s)

    def choose(self, required_lsn: int | None = None) -> Replica | None:
        """A replica to read from, in turn among those eligible (up, streaming, within the lag
        limit) that have replayed `required_lsn`; None: read from the primary."""
        now = time.monotonic()
        eligible: list[Replica] = []
        for replica in self.replicas:
            status = replica.current(refresh_s=self.refresh_s, down_s=self.down_s, now=now)
            if (
                status.eligible(self.max_lag_s)
                and not status.has_replayed(required_lsn)
                and now - status.checked_at >= self.recheck_s
            ):
                status = replica.refresh(down_s=self.down_s)  # it may have caught up since
            if status.eligible(self.max_lag_s) and status.has_replayed(required_lsn):
                eligible.append(replica)
        if not eligible:
            return None
        return eligible[next(self._turns) % len(eligible)]

    def any_answering(self) -> Replica | None:
        """A replica that answers, whatever its lag or its link to the primary: for a read the
        primary could not serve (it is down, a failover is under way), when stale beats none.
        With synchronous replication it holds every acknowledged write, if not yet replayed."""
        now = time.monotonic()
        start = next(self._turns)
        for offset in range(len(self.replicas)):
            replica = self.replicas[(start + offset) % len(self.replicas)]
            if replica.current(refresh_s=self.refresh_s, down_s=self.down_s, now=now).up:
                return replica
        return None

    def dispose(self) -> None:
        for replica in self.replicas:
            replica.engine.dispose()


def _with_connect_timeout(url: str, seconds: int = 3) -> str:
    parsed = make_url(url)
    if "connect_timeout" in parsed.query:
        return url
    return parsed.update_query_dict({"connect_timeout": str(seconds)}).render_as_string(
        hide_password=False
    )
