"""Engine and session factory; every connection runs in UTC, without parallel query or JIT."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs) -> Engine:
    return create_engine(
        url,
        # No pre-ping: its extra round trip on every checkout cost 12-14% of a worker's time on
        # single-request lookups (issue 4's benchmark). Connections are recycled instead, and a
        # connection found dead (a database restart) is discarded by SQLAlchemy when it fails,
        # so only the request that meets it gets a 500.
        pool_recycle=1800,
        # No parallel workers: on the 2-core machines measured for issue 4, parallel plans of
        # list pages were 2-3x slower than serial ones, and they starve concurrent requests.
        # No JIT: PostGIS declares its functions costly, so radius pages passed jit_above_cost
        # and LLVM compiled them anew on every call, 20-400 ms for a 15 ms query.
        connect_args={"options": "-c timezone=UTC -c max_parallel_workers_per_gather=0 -c jit=off"},
        **kwargs,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
