"""Through nginx to two app nodes and two database nodes: reads land on the replica, a client
reads its own writes, and nothing a request needs lives on one node."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

import redis
import requests
from PIL import Image

from open311.cluster.patroni import set_parameters
from open311.cluster.topology import Topology
from tests.cluster.conftest import open311, record_figure
from tests.cluster.helpers import on_node, reads_by_target, transactions, wait_until
from tests.cluster.load import Client


def test_reads_land_on_the_replica_from_both_app_nodes(topology: Topology, client: Client):
    primary = topology.primary()
    (replica,) = topology.replicas()
    before_nodes = reads_by_target(topology)
    before_db = {node.name: transactions(topology, node) for node in (primary, replica)}

    paths = ["requests.json", "requests.xml", "services.json", "services.xml"]
    for n in range(200):
        assert client.get(paths[n % 4]).status_code == 200

    after_nodes = reads_by_target(topology)
    # A backend reports its counts to pg_stat_database once idle for a while (PostgreSQL 15
    # batches them): wait for the replica's to show.
    deadline = time.monotonic() + 20
    while transactions(topology, replica) - before_db[replica.name] < 200:
        assert time.monotonic() < deadline, "the replica counted fewer than 200 transactions"
        time.sleep(0.5)
    after_db = {node.name: transactions(topology, node) for node in (primary, replica)}
    by_node = {
        name: {
            target: after_nodes[name].get(target, 0) - before_nodes[name].get(target, 0)
            for target in after_nodes[name]
        }
        for name in after_nodes
    }
    replica_reads = sum(counts.get("replica0", 0) for counts in by_node.values())
    primary_reads = sum(counts.get("primary", 0) for counts in by_node.values())
    assert replica_reads == 200
    # The primary's: the first reading of each node's /metrics above (metrics are read from
    # the primary, and counted), none of the 200.
    assert primary_reads <= len(topology.app_ports())
    # nginx's round robin: both app nodes answered.
    assert all(sum(counts.values()) >= 50 for counts in by_node.values()), by_node
    db = {name: after_db[name] - before_db[name] for name in after_db}
    # The replica's own count of transactions saw the reads (and the app's checks of its
    # replay position); the primary saw only the workers' polls and Patroni's checks.
    assert db[replica.name] >= 200
    assert db[primary.name] < db[replica.name] / 2
    record_figure(
        "reads_per_node",
        {
            "reads": 200,
            "per_app_node": {name: sum(c.values()) for name, c in by_node.items()},
            "per_target": {"replica": replica_reads, "primary": primary_reads},
            "transactions_per_database_node": {
                f"{primary.name} (primary)": db[primary.name],
                f"{replica.name} (replica)": db[replica.name],
            },
        },
    )


def _fresh_replay(topology: Topology, client: Client) -> None:
    """A write, replayed on the replica: its last replayed commit is now (its lag reads 0 s
    until the next write it has not replayed), whatever the cluster did before."""
    answer = client.file("replay marker")
    assert answer.status_code == 200, answer.text
    (replica,) = topology.replicas()
    deadline = time.monotonic() + 10
    marker = answer.json()[0]["service_request_id"]
    while not on_node(
        topology,
        replica,
        "SELECT 1 FROM service_request WHERE service_request_id = %s",
        (marker,),
    ):
        assert time.monotonic() < deadline, "the replica did not replay a write within 10 s"
        time.sleep(0.05)


@contextmanager
def cluster_parameters(topology: Topology, **changed: str) -> Iterator[None]:
    """PostgreSQL parameters changed for the whole cluster for a while (Patroni's shared
    configuration), each waited for on every node, then put back."""
    nodes = topology.database_nodes()
    password = topology.passwords().rest

    def everywhere(values: dict[str, str]) -> bool:
        return all(
            on_node(topology, node, f"SHOW {name}") == [(value,)]
            for node in nodes
            for name, value in values.items()
        )

    primary = topology.primary()
    assert primary is not None
    before = {name: on_node(topology, primary, f"SHOW {name}")[0][0] for name in changed}
    set_parameters(primary, password, changed)
    try:
        wait_until(lambda: everywhere(changed), 20, f"{changed} on every node")
        yield
    finally:
        set_parameters(primary, password, before)
        wait_until(lambda: everywhere(before), 20, f"{before} on every node")


@contextmanager
def replica_applies_late(topology: Topology, delay: str) -> Iterator[None]:
    """The replica applies each transaction `delay` after its commit (recovery_min_apply_delay,
    set on the replica itself: Patroni leaves recovery settings to a restart)."""
    (replica,) = topology.replicas()
    on_node(topology, replica, f"ALTER SYSTEM SET recovery_min_apply_delay = '{delay}'")
    on_node(topology, replica, "SELECT pg_reload_conf()")
    try:
        wait_until(
            lambda: on_node(topology, replica, "SHOW recovery_min_apply_delay") == [(delay,)],
            10,
            "the delay",
        )
        yield
    finally:
        on_node(topology, replica, "ALTER SYSTEM RESET recovery_min_apply_delay")
        on_node(topology, replica, "SELECT pg_reload_conf()")


def test_a_client_reads_its_own_write_while_the_replica_lags(topology: Topology, api_key: str):
    (replica,) = topology.replicas()
    with (
        Client(topology.url, api_key) as writer,
        Client(topology.url, api_key) as stranger,
        # A commit no longer waits for the replica to apply it (remote_apply, the cluster's
        # own): the replica may lag as an asynchronous one would, or one whose replay is paused.
        cluster_parameters(topology, synchronous_commit="on"),
    ):
        _fresh_replay(topology, writer)
        on_node(topology, replica, "SELECT pg_wal_replay_pause()")
        try:
            filed = writer.file("read-your-writes")
            assert filed.status_code == 200
            lsn = filed.headers["Open311-Commit-LSN"]
            assert re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", lsn)
            request_id = filed.json()[0]["service_request_id"]

            # The writer carries the cookie: the primary answers, since the replica has not
            # replayed its write. Both formats.
            for fmt in ("json", "xml"):
                mine = writer.get(f"requests/{request_id}.{fmt}")
                assert mine.status_code == 200, mine.text
                assert request_id in mine.text
            # Another client reads from the replica, which does not have it yet.
            assert stranger.get(f"requests/{request_id}.json").status_code == 404
            # ... unless it brings the LSN itself, in the header.
            told = stranger.http.get(
                f"{stranger.base}/requests/{request_id}.json",
                headers={"Open311-Commit-LSN": lsn},
                timeout=10,
            )
            assert told.status_code == 200
        finally:
            on_node(topology, replica, "SELECT pg_wal_replay_resume()")

        before = reads_by_target(topology)
        deadline = time.monotonic() + 10
        while stranger.get(f"requests/{request_id}.json").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # Once replayed, the writer's reads go to the replica again, cookie and all.
        for _ in range(10):
            assert writer.get(f"requests/{request_id}.json").status_code == 200
        after = reads_by_target(topology)
        replica_reads = sum(
            after[n].get("replica0", 0) - before[n].get("replica0", 0) for n in after
        )
        assert replica_reads >= 10


def test_a_client_that_keeps_nothing_reads_its_own_write(topology: Topology, api_key: str):
    """No cookie, no header, as most GeoReport apps: a request is found by id the moment its
    POST was answered, even from a replica that applies WAL 300 ms late, since the commit
    returned only once the synchronous replica had applied it (remote_apply). With
    synchronous_commit=on the same reads are 404s (the second half)."""

    def found_at_once(count: int) -> int:
        found = 0
        for n in range(count):
            with Client(topology.url, api_key) as app:
                filed = app.file(f"no cookie #{n}")
                assert filed.status_code == 200
                request_id = filed.json()[0]["service_request_id"]
            with Client(topology.url, api_key) as other:
                found += other.get(f"requests/{request_id}.json").status_code == 200
        return found

    with replica_applies_late(topology, "300ms"):
        assert found_at_once(10) == 10
    # (In this order: Patroni's reload of a changed setting would undo the replica's delay.)
    with (
        cluster_parameters(topology, synchronous_commit="on"),
        replica_applies_late(topology, "300ms"),
    ):
        assert found_at_once(5) == 0


def test_app_nodes_share_photos_sessions_and_rate_limits(topology: Topology, client: Client):
    # A photo filed through one node is served by each (kept in the S3 store, not on a disk).
    image = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(image, "PNG")
    photo = image.getvalue()
    answer = client.http.post(
        f"{client.base}/requests.json",
        data={
            "service_code": "GRAFFITI",
            "lat": 34.1016,
            "long": -118.3267,
            "attribute[SURFACE]": "WALL",
        },
        files={"media": ("wall.png", photo, "image/png")},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    request_id = answer.json()[0]["service_request_id"]
    shown = client.get(f"requests/{request_id}.json").json()[0]
    media_path = "/" + shown["media_url"].split("/", 3)[3]
    for port in topology.app_ports():
        got = requests.get(f"http://127.0.0.1:{port}{media_path}", timeout=10)
        assert got.status_code == 200, (port, got.status_code)
        assert got.headers["Content-Type"].startswith("image/")

    # A staff member signed in on one node is signed in on the other (one shared secret).
    password = "cluster walk 2026 staff"
    name = f"cluster-sup-{int(time.time())}"
    open311(
        topology,
        "user",
        "create",
        name,
        "--role",
        "supervisor",
        "--jurisdiction",
        "lacity.org",
        "--password",
        password,
    )
    app0, app1 = (f"http://127.0.0.1:{port}" for port in topology.app_ports())
    with requests.Session() as browser:
        form = browser.get(f"{app0}/staff/sign-in", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)[1]
        signed_in = browser.post(
            f"{app0}/staff/sign-in",
            data={"csrf_token": token, "username": name, "password": password},
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.status_code == 303, signed_in.text[:500]
        queue = browser.get(f"{app1}/staff/queues", allow_redirects=False, timeout=10)
        assert queue.status_code == 200

    # The sign-in limit per address (10 a minute) counts across both nodes (Redis): were each
    # node counting on its own, the 14 attempts, 7 on each, would all get their 401.
    statuses = []
    with requests.Session() as guesser:
        for attempt in range(14):
            base = (app0, app1)[attempt % 2]
            statuses.append(
                guesser.post(
                    f"{base}/api/v1/login",
                    json={"username": f"nobody-{attempt}", "password": "wrong"},
                    timeout=10,
                ).status_code
            )
    refused = statuses.index(429)
    assert set(statuses[:refused]) == {401}
    assert refused <= 10  # the console sign-in above counted too
    assert set(statuses[refused:]) == {429}
    with closing(redis.Redis.from_url(topology.redis().url())) as counts:
        counts.flushdb()  # the next tests sign in from this address too
