"""What the cluster tests look at behind nginx: each app node's metrics, each database node's
counts, which requests the primary holds, which process holds a connection."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterable
from contextlib import closing

import psycopg2
import requests

from open311.cluster.patroni import PatroniNode
from open311.cluster.topology import DATABASE, Topology


def reads_by_target(topology: Topology) -> dict[str, dict[str, float]]:
    """open311_database_reads_total of each app node (its own /metrics), by target."""
    token = topology.app_env()["OPEN311_METRICS_TOKEN"]
    counts: dict[str, dict[str, float]] = {}
    for name, port in zip(("app0", "app1"), topology.app_ports(), strict=False):
        text = requests.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).text
        counts[name] = {
            match[1]: float(match[2])
            for match in re.finditer(
                r'^open311_database_reads_total\{target="([^"]+)"\} ([0-9.e+]+)$', text, re.M
            )
        }
    return counts


def transactions(topology: Topology, node: PatroniNode) -> int:
    """Transactions ended in the app's database on `node`, as that node counts them (a read
    ends in a rollback: the app commits only what wrote)."""
    with closing(topology.superuser_connection(node)) as connection, connection.cursor() as cur:
        cur.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (DATABASE,),
        )
        return int(cur.fetchone()[0])


def on_node(topology: Topology, node: PatroniNode, sql: str, params: tuple = ()) -> list[tuple]:
    """`sql` run in the app's database on `node`, as the superuser."""
    connection = app_database(topology, node)
    with closing(connection):
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []


def stored(topology: Topology, request_ids: Iterable[str]) -> set[str]:
    """Which of `request_ids` the primary holds."""
    primary = topology.primary()
    assert primary is not None
    wanted = list(request_ids)
    rows = on_node(
        topology,
        primary,
        "SELECT service_request_id FROM service_request WHERE service_request_id = ANY(%s)",
        (wanted,),
    )
    return {row[0] for row in rows}


def app_database(topology: Topology, node: PatroniNode) -> psycopg2.extensions.connection:
    return psycopg2.connect(
        host="127.0.0.1",
        port=node.pg_port,
        user="postgres",
        password=topology.passwords().superuser,
        dbname=DATABASE,
        connect_timeout=3,
    )


def process_with_local_port(port: int) -> int | None:
    """The pid of the process whose TCP connection has local port `port` (ss -tnp)."""
    output = subprocess.run(
        ["ss", "-Htnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    found = re.search(r"pid=(\d+)", output)
    return int(found[1]) if found else None


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Poll `condition` until it holds; a test failure naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f} s: {what}"
        time.sleep(0.1)


def all_reads_on_the_replica(topology: Topology, reads: int = 10) -> bool:
    """Whether `reads` public GETs in a row through nginx were all read on the replica."""
    before = reads_by_target(topology)
    for _ in range(reads):
        requests.get(f"{topology.url}/open311/v2/services.json", timeout=10)
    after = reads_by_target(topology)
    on_replica = sum(after[n].get("replica0", 0) - before[n].get("replica0", 0) for n in after)
    return on_replica == reads
