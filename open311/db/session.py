"""Engine and session factory; every connection runs in UTC, without parallel query or JIT."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from open311.config import Settings

# The session.info key of the settings a session was made with.
SETTINGS = "open311.settings"


def make_engine(url: str, **kwargs) -> Engine:
    return create_engine(
        url,
        # No pre-ping: its extra round trip on every checkout cost 12-14% of a worker's time on
        # single-request lookups in the benchmark. Connections are recycled instead, and a
        # connection found dead (a database restart) is discarded by SQLAlchemy when it fails,
        # so only the request that meets it gets a 500.
        pool_recycle=1800,
        # No parallel workers: on the 2-core machines measured, parallel plans of list pages
        # were 2-3x slower than serial ones, and they starve concurrent requests.
        # No JIT: PostGIS declares its functions costly, so radius pages passed jit_above_cost
        # and LLVM compiled them anew on every call, 20-400 ms for a 15 ms query.
        connect_args={"options": "-c timezone=UTC -c max_parallel_workers_per_gather=0 -c jit=off"},
        **kwargs,
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
