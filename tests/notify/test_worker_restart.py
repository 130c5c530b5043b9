"""A database restart under a running worker loses nothing: on a cluster of its own (the shared
test cluster cannot be stopped), events committed before, during recovery and after the restart
all reach the receiver, each once."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from open311.db.cluster import LocalCluster, free_port
from open311.db.migrate import upgrade
from open311.db.models import Delivery
from open311.db.session import make_engine, make_session_factory
from open311.values import DeliveryState
from tests.helpers import Receiver, receiver
from tests.notify.helpers import (
    SECRET,
    City,
    file_request,
    make_city,
    subscribe,
    until,
    worker_process,
)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def own_cluster() -> Iterator[tuple[LocalCluster, str]]:
    root = Path(tempfile.mkdtemp(prefix="open311-restart-"))
    cluster = LocalCluster(root / "data", free_port(), durable=False)
    try:
        url = cluster.up("open311_restart")
        upgrade(url)
        yield cluster, url
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_database_restart_under_a_running_worker_loses_nothing(
    own_cluster, hook: Receiver, tmp_path
):
    cluster, url = own_cluster
    engine = make_engine(url)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    with sessions() as session:
        city = make_city(session)
        subscription = subscribe(session, city.app, hook.url)
        file_request(session, city)

    def deliveries() -> list[tuple[str, DeliveryState, int]]:
        with sessions() as session:
            rows = session.execute(
                select(Delivery.delivery_id, Delivery.state, Delivery.attempts)
                .where(Delivery.subscription_id == subscription.id)
                .order_by(Delivery.id)
            )
            return [tuple(row) for row in rows]

    def delivered(count: int) -> bool:
        states = [state for _, state, _ in deliveries()]
        return states == [DeliveryState.delivered] * count

    worker = worker_process(url, tmp_path / "worker.log", "--poll", "1")
    try:
        hook.wait_for(1)
        # Stopped once the first delivery is recorded: sent again after that would be a duplicate.
        until(lambda: delivered(1), "the first delivery is recorded")
        cluster.stop()  # the worker's connections (LISTEN included) break here
        cluster.start()
        engine.dispose()  # the pool's connections died with the server
        with sessions() as session:
            city = City(session.merge(city.jurisdiction), session.merge(city.app))
            file_request(session, city)
            file_request(session, city)
        hook.wait_for(3, timeout_s=30)
        until(lambda: delivered(3), "every delivery is recorded", timeout_s=30)
        # Each once: as many POSTs as deliveries, one per delivery, each in a single attempt.
        recorded = deliveries()
        assert sorted(hook.delivery_ids()) == sorted(delivery_id for delivery_id, _, _ in recorded)
        assert [attempts for _, _, attempts in recorded] == [1, 1, 1]
        assert all(item.verifies(SECRET) for item in hook.received)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        worker.terminate()
        worker.wait(10)
        engine.dispose()
