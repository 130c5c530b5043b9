"""Hotspots at size: a city-wide clustering over N seeded requests (domain/hotspots.find).

On a throwaway PostgreSQL (as the suite makes one) it migrates, seeds the Los Angeles demo
city with N synthetic requests (`open311 seed --requests N`: real points with jitter, the real
type mix, three years), then times `hotspots.find` for the last 90 days of one service and of
every service, city-wide, with the defaults (50 m, 5 requests), under the web's statement
timeout (OPEN311_STATEMENT_TIMEOUT_MS, 5 s), and prints each query's plan once.

    .venv/bin/python bench/hotspots.py                      # 1,000,000 requests (a few minutes)
    .venv/bin/python bench/hotspots.py --requests 200000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from open311.db import hotspot_queries  # noqa: E402
from open311.db.cluster import LocalCluster, free_port  # noqa: E402
from open311.db.migrate import upgrade  # noqa: E402
from open311.db.models import Jurisdiction, Service, ServiceRequest  # noqa: E402
from open311.db.session import make_engine, make_session_factory  # noqa: E402
from open311.demo.seed import seed_demo_city  # noqa: E402
from open311.demo.synthetic import SyntheticSpec  # noqa: E402
from open311.domain import hotspots  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="synthetic requests")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each query")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="open311-bench-hotspots-"))
    cluster = LocalCluster(root / "data", free_port(), durable=False)
    try:
        url = cluster.up("open311_bench")
        upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        started = time.perf_counter()
        with sessions() as session:
            seed_demo_city(session, synthetic=SyntheticSpec(requests=args.requests))
            session.commit()
        with engine.connect() as conn:
            conn.execute(text("COMMIT"))
            conn.execute(text("VACUUM ANALYZE service_request"))
        print(f"seeded in {time.perf_counter() - started:.0f} s")
        with sessions() as session:
            _measure(session, args.repeat)
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _measure(session, repeat: int) -> None:
    total = session.scalar(select(func.count()).select_from(ServiceRequest))
    newest = session.scalar(select(func.max(ServiceRequest.requested_datetime)))
    city = session.scalars(
        select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org")
    ).one()
    codes = session.execute(
        select(Service.service_code, func.count())
        .join(ServiceRequest, ServiceRequest.service_id == Service.id)
        .where(ServiceRequest.requested_datetime > newest - timedelta(days=90))
        .group_by(Service.service_code)
        .order_by(func.count().desc())
    ).all()
    print(f"{total:,} requests; newest {newest:%Y-%m-%d}; last 90 days by service: {codes[:4]}")
    # The data's own end, not the wall clock: the synthetic requests run up to the seed's day.
    now = newest + timedelta(seconds=1)
    session.execute(text("SET statement_timeout = 5000"))
    for label, service_codes in (
        (f"one service ({codes[0][0]})", (codes[0][0],)),
        (f"one service ({codes[3][0]})", (codes[3][0],)),
        ("every service", ()),
    ):
        times, found = [], None
        for _ in range(repeat):
            lap = time.perf_counter()
            try:
                found = hotspots.find(session, city, now=now, service_codes=service_codes)
            except Exception as exc:  # the bounds or the statement timeout: say so, go on
                print(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
                session.rollback()
                session.execute(text("SET statement_timeout = 5000"))
                break
            times.append(time.perf_counter() - lap)
        if found is None or not times:
            continue
        top = [h.count for h in found.hotspots[:5]]
        print(
            f"{label}, city-wide, 90 days, 50 m, 5: {found.requests_considered:,} requests,"
            f" {len(found.hotspots)} hotspots (largest {top}); median"
            f" {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms,"
            f" worst {max(times) * 1000:.0f} ms over {len(times)} runs"
        )
    _explain(session, city, codes[0][0], now)


def _explain(session, city, code: str, now) -> None:
    start, end = hotspots.window(None, None, now)
    spec = hotspot_queries.HotspotFilter(
        jurisdiction_pk=city.id, start=start, end=end, service_codes=(code,)
    )
    where, params = hotspot_queries._where(spec)
    sql = hotspot_queries._CLUSTERS.format(srid=32611, where=where, ids=100)
    params |= {"eps": 50.0, "min_points": 5, "limit": 100}
    plan = session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql), params).scalars().all()
    print("\n".join(plan))


if __name__ == "__main__":
    sys.exit(main())
