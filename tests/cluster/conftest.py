"""The cluster's acceptance tests run against `make cluster` (var/cluster, nginx on :15400):
`make test-cluster` starts it and runs them, one at a time, since some kill its nodes. After
each test every part is started again (`open311 cluster up`), so each starts from a whole
cluster whatever the one before it killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from open311.cluster.topology import Topology, up
from tests.cluster.helpers import all_reads_on_the_replica, wait_until
from tests.cluster.load import Client

# What the tests measured (failover time, failed requests, reads per node): one JSON file per
# figure, for docs/scaling.md and the closing note.
FIGURES = Path(__file__).resolve().parents[2] / "var" / "cluster" / "figures"


@pytest.fixture(scope="session")
def topology() -> Topology:
    topology = Topology()
    if topology.primary() is None or not topology.nginx().running():
        pytest.fail("the cluster is not running: `make test-cluster` starts it (make cluster)")
    return topology


def open311(topology: Topology, *args: str) -> str:
    """An `open311` command run with the app nodes' settings; its standard output."""
    program = Path(sys.executable).with_name("open311")
    result = subprocess.run(
        [str(program), *args],
        env=os.environ | topology.app_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@pytest.fixture(scope="session")
def api_key(topology: Topology) -> str:
    """An API client of the tests, whose own rate limit the load never reaches."""
    name = f"cluster-tests-{int(time.time())}"
    return open311(topology, "apikey", "create", name, "--rate-limit", "100000/minute").strip()


@pytest.fixture
def client(topology: Topology, api_key: str) -> Iterator[Client]:
    with Client(topology.url, api_key) as made:
        yield made


@pytest.fixture(autouse=True)
def whole_cluster(topology: Topology) -> Iterator[None]:
    """Every part running before and after the test (what a test killed is started again),
    and, before it, the app nodes reading from the replica again: after a test that changed
    the primary each finds the replica of now within seconds (a promoted one's connections
    are dropped, one that failed is left alone for 5 s)."""
    up(topology, seed=False, echo=lambda _text: None)
    _wait_until_serving(topology)
    wait_until(lambda: all_reads_on_the_replica(topology), 30, "reads on the replica again")
    yield
    up(topology, seed=False, echo=lambda _text: None)
    _wait_until_serving(topology)


def _wait_until_serving(topology: Topology, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(f"{topology.url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the cluster does not answer /readyz within {timeout_s:.0f} s")
        time.sleep(0.5)


def record_figure(name: str, figure: dict) -> None:
    """Keep a measurement (var/cluster/figures/NAME.json) and show it in the test's output."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / f"{name}.json").write_text(json.dumps(figure, indent=2, default=str) + "\n")
    print(f"\n{name}: {json.dumps(figure, default=str)}")
