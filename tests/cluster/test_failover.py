"""Killing parts of the cluster under load: an app node, then the primary database node.

Each kill is SIGKILL to the whole process group at once, as a machine losing power: nothing is
finished or flushed. The load writes with Idempotency-Keys, as a careful app does."""

from __future__ import annotations

import os
import signal
import time

from open311.cluster.patroni import PatroniNode, switchover
from open311.cluster.topology import Topology
from tests.cluster.conftest import record_figure
from tests.cluster.helpers import on_node, stored, wait_until
from tests.cluster.load import Load


def _filed_by(topology: Topology, load: Load) -> int:
    """How many requests the load's writes stored (each write stored once, or not at all)."""
    primary = topology.primary()
    assert primary is not None
    rows = on_node(
        topology,
        primary,
        "SELECT count(*) FROM service_request WHERE description LIKE %s",
        (f"cluster load {load.tag} %",),
    )
    return int(rows[0][0])


def test_an_app_node_killed_mid_load_fails_no_request(topology: Topology, api_key: str):
    victim = topology.app_nodes()[0]
    with Load(topology.url, api_key, readers=4, writers=3) as load:
        time.sleep(3)
        assert victim.kill() is not None
        time.sleep(6)

    reads = [o for o in load.outcomes if o.kind == "read"]
    writes = [o for o in load.outcomes if o.kind == "write"]
    failed = load.failed()
    record_figure(
        "app_node_killed",
        {
            "reads": len(reads),
            "writes": len(writes),
            "failed": [(o.kind, o.status) for o in failed],
        },
    )
    assert len(reads) > 100 and len(writes) > 20
    # nginx passed each request the dead node dropped to the other one: GETs always, POSTs
    # because they carry an Idempotency-Key.
    assert failed == []
    ids = load.stored_ids()
    assert stored(topology, ids) == set(ids)
    # ... and no POST was stored twice by that second try.
    assert _filed_by(topology, load) == len(ids)


def _failures_since(load: Load, since: float) -> tuple[list, list, dict]:
    """The reads and writes that failed after `since`, and the load's counts for a figure."""
    failed_reads = [o for o in load.failed("read") if o.started > since]
    failed_writes = [o for o in load.failed("write") if o.started > since]
    counts = {
        "reads": len([o for o in load.outcomes if o.kind == "read"]),
        "writes": len([o for o in load.outcomes if o.kind == "write"]),
        "writes_acknowledged": len(load.stored_ids()),
        "failed_reads": len(failed_reads),
        "failed_writes": len(failed_writes),
        "failed_statuses": sorted({str(o.status) for o in load.failed()}),
        # When writes failed: seconds after `since`, and how many in that second.
        "failed_writes_by_second": _by_second(failed_writes, since),
    }
    return failed_reads, failed_writes, counts


def _by_second(outcomes: list, since: float) -> dict[int, int]:
    counts: dict[int, int] = {}
    for outcome in outcomes:
        second = int(outcome.started - since)
        counts[second] = counts.get(second, 0) + 1
    return dict(sorted(counts.items()))


def _kill_database_node(topology: Topology, node: PatroniNode) -> None:
    """The database machine gone: its Patroni, its PostgreSQL and its pgbouncer, at once."""
    index = topology.database_nodes().index(node)
    postmaster = node.postmaster_pid()
    pooler = topology.poolers()[index]
    pooler_pid = pooler.pid()
    node.daemon().kill()
    for pid in (postmaster, pooler_pid):
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def test_the_primary_killed_mid_load_loses_no_acknowledged_write(topology: Topology, api_key: str):
    old = topology.primary()
    (replica,) = topology.replicas()
    assert old is not None
    with Load(topology.url, api_key, readers=3, writers=3) as load:
        time.sleep(4)
        killed_at = time.monotonic()
        _kill_database_node(topology, old)
        while replica.role() != "primary":
            assert time.monotonic() - killed_at < 90, "no replica was promoted within 90 s"
            time.sleep(0.1)
        promoted_s = time.monotonic() - killed_at
        # Writing again: the first write started after the kill that was answered 2xx.
        while not any(o.ok for o in load.outcomes if o.kind == "write" and o.started > killed_at):
            assert time.monotonic() - killed_at < 120, "no write succeeded within 120 s"
            time.sleep(0.1)
        time.sleep(5)

    after = [o for o in load.outcomes if o.started > killed_at]
    first_write_ok = min(o.started for o in after if o.kind == "write" and o.ok)
    failed_reads, failed_writes, counts = _failures_since(load, killed_at)
    ids = load.stored_ids()
    record_figure(
        "primary_killed",
        {
            "promoted_after_s": round(promoted_s, 1),
            "writing_again_after_s": round(first_write_ok - killed_at, 1),
            **counts,
        },
    )
    assert topology.primary() == replica
    # Synchronous replication: every write the API acknowledged, before, during or after the
    # failover, is on the new primary.
    assert stored(topology, ids) == set(ids)
    # Reads go on: from the replica, then from the node it became (a read the primary cannot
    # serve runs again on any replica that answers).
    assert failed_reads == []
    # A write refused meanwhile is a 503 (try again), never a 500.
    assert {o.status for o in failed_writes} <= {503, 502, None}
    assert first_write_ok - killed_at < 60


def test_a_planned_switchover_mid_load_loses_nothing(topology: Topology, api_key: str):
    """Maintenance: the primary handed over to the replica on purpose (Patroni's switchover),
    no ttl to wait for. Reads go on; writes pause for the hand-over (503s, a few seconds);
    every acknowledged write is on the new primary; the old primary follows it as replica."""
    old = topology.primary()
    (replica,) = topology.replicas()
    assert old is not None
    with Load(topology.url, api_key, readers=3, writers=3) as load:
        time.sleep(4)
        asked_at = time.monotonic()
        switchover(old, topology.passwords().rest, old.name, replica.name)
        wait_until(lambda: replica.role() == "primary", 60, "the switchover")
        switched_s = time.monotonic() - asked_at
        wait_until(lambda: old.role() == "replica", 60, "the old primary following it")
        time.sleep(4)

    failed_reads, failed_writes, counts = _failures_since(load, asked_at)
    refused = [round(o.started - asked_at, 1) for o in failed_writes]
    ids = load.stored_ids()
    record_figure(
        "switchover",
        {
            "switched_after_s": round(switched_s, 1),
            # From the first refused write to the last, seconds after the switchover was asked.
            "writes_refused_from_to_s": [min(refused), max(refused)] if refused else None,
            **counts,
        },
    )
    assert topology.primary() == replica
    assert stored(topology, ids) == set(ids)
    # Reads go on but for the odd one caught at the hand-over itself, when the old primary
    # restarts as a standby while the new one is being promoted: a 503 with Retry-After.
    reads_after = [o for o in load.outcomes if o.kind == "read" and o.started > asked_at]
    assert len(failed_reads) <= len(reads_after) // 100
    assert {o.status for o in failed_reads + failed_writes} <= {503}
