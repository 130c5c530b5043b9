"""A database restart under a running worker loses nothing: on a cluster of its own (the shared
test cluster cannot be stopped), events committed before, during recovery and after the restart
all reach the receiver, each once."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from open311.db.cluster import LocalCluster, free_port
from open311.db.migrate import upgrade
from open311.db.session import make_engine, make_session_factory
from tests.notify.receiver import Receiver, receiver
from tests.notify.test_worker import (
    SECRET,
    City,
    _worker_process,
    file_request,
    make_city,
    subscribe,
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
        subscribe(session, city.app, hook.url)
        file_request(session, city)
    worker = _worker_process(url, tmp_path / "worker.log", "--poll", "1")
    try:
        hook.wait_for(1)
        cluster.stop()  # the worker's connections (LISTEN included) break here
        cluster.start()
        engine.dispose()  # the pool's connections died with the server
        with sessions() as session:
            city = City(session.merge(city.jurisdiction), session.merge(city.app))
            file_request(session, city)
            file_request(session, city)
        received = hook.wait_for(3, timeout_s=30)
        assert len({item.delivery_id for item in received}) == 3
        assert all(item.verifies(SECRET) for item in received)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        worker.terminate()
        worker.wait(10)
        engine.dispose()
