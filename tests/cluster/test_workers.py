"""The workers of both nodes share the deliveries (each sent once) and the scheduled jobs (one
node at a time), and a worker killed mid-delivery leaves it to the other node."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from open311.cluster.topology import Topology
from tests.cluster.conftest import record_figure
from tests.cluster.helpers import on_node, process_with_local_port, wait_until
from tests.cluster.load import Client


class Receiver(ThreadingHTTPServer):
    """A webhook receiver that notes each attempt (the delivery, the sending process) and, when
    told, holds the next attempt without answering until released."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.attempts: list[tuple[str, int | None]] = []  # (delivery id, sender's pid)
        self.answered: list[str] = []
        self.hold_next = False
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        delivery = self.headers["X-Open311-Delivery"]
        sender = process_with_local_port(self.client_address[1])
        with self.server.lock:
            self.server.attempts.append((delivery, sender))
            hold = self.server.hold_next
            self.server.hold_next = False
        if hold:
            self.server.held.set()
            self.server.release.wait(60)
            return  # the sender is dead by now: no answer
        self.send_response(204)
        self.end_headers()
        with self.server.lock:
            self.server.answered.append(delivery)

    def log_message(self, *_args: object) -> None:
        pass


def _serve() -> Receiver:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    return receiver


def _subscribe(client: Client, receiver: Receiver, path: str) -> None:
    answer = client.http.post(
        f"{client.base}/webhooks.json",
        data={"url": f"{receiver.url}/{path}", "events": "request.created"},
        timeout=10,
    )
    assert answer.status_code in (200, 201), answer.text


def test_both_nodes_deliver_each_webhook_once(topology: Topology, client: Client):
    workers = {daemon.pid(): daemon.name for daemon in topology.workers()}
    receiver = _serve()
    try:
        # Three subscriptions: each one's deliveries go in order, one at a time, so three let
        # both nodes' workers send at once.
        for path in ("a", "b", "c"):
            _subscribe(client, receiver, path)
        for n in range(15):
            assert client.file(f"webhook fan-out #{n}").status_code == 200
        wait_until(lambda: len(receiver.answered) >= 45, 60, "45 deliveries")
        time.sleep(2)  # any second sending would have arrived by now
    finally:
        receiver.shutdown()
        receiver.server_close()
    ids = [delivery for delivery, _sender in receiver.attempts]
    senders = {workers.get(sender, str(sender)) for _delivery, sender in receiver.attempts}
    record_figure(
        "deliveries_across_nodes",
        {
            "deliveries": len(set(ids)),
            "attempts": len(ids),
            "by_node": {
                name: sum(1 for _d, s in receiver.attempts if workers.get(s) == name)
                for name in workers.values()
            },
        },
    )
    assert len(ids) == len(set(ids)) == 45  # each sent once
    assert senders == set(workers.values())  # by both nodes


def test_a_worker_killed_mid_delivery_leaves_it_to_the_other_node(
    topology: Topology, client: Client
):
    workers = {daemon.pid(): daemon for daemon in topology.workers()}
    receiver = _serve()
    try:
        _subscribe(client, receiver, "held")
        receiver.hold_next = True
        assert client.file("held delivery").status_code == 200
        wait_until(receiver.held.is_set, 30, "the first attempt")
        delivery, sender = receiver.attempts[0]
        assert sender in workers, (sender, workers)
        killed_at = time.monotonic()
        workers[sender].kill()
        receiver.release.set()
        wait_until(lambda: delivery in receiver.answered, 60, "the delivery sent again")
        taken_over_s = time.monotonic() - killed_at
        time.sleep(2)
    finally:
        receiver.shutdown()
        receiver.server_close()
    attempts = [(d, s) for d, s in receiver.attempts if d == delivery]
    (second_sender,) = {s for _d, s in attempts[1:]}
    primary = topology.primary()
    assert primary is not None
    ((state, tries),) = on_node(
        topology,
        primary,
        "SELECT state::text, attempts FROM delivery WHERE delivery_id = %s",
        (delivery,),
    )
    record_figure(
        "worker_killed_mid_delivery",
        {
            "attempts": len(attempts),
            "first_sender": workers[sender].name,
            "second_sender": workers[second_sender].name if second_sender in workers else None,
            "sent_again_after_s": round(taken_over_s, 1),
            "state": state,
        },
    )
    assert len(attempts) == 2  # the killed one's, then the other node's: once each
    assert second_sender in workers and second_sender != sender
    assert receiver.answered.count(delivery) == 1
    assert state == "delivered"


def _escalations(daemon) -> int:
    """Runs of the escalation job that `daemon`'s log reports."""
    return daemon.logfile.read_text(errors="replace").count('"job escalation: ok')


def test_each_scheduled_job_runs_on_one_node_at_a_time(topology: Topology):
    """The job's lock is taken by one node's worker at a time (never two runs of a job at
    once), and when that worker dies the other node's takes the job over."""
    first, second = topology.workers()
    before = _escalations(second)
    first.kill()
    wait_until(lambda: _escalations(second) > before, 30, "a run by the other node")
    primary = topology.primary()
    assert primary is not None
    runs = on_node(
        topology,
        primary,
        "SELECT job, started_at, finished_at FROM job_run WHERE finished_at IS NOT NULL"
        " ORDER BY job, started_at",
    )
    overlaps = [
        (a[0], a[1], b[1])
        for a, b in zip(runs, runs[1:], strict=False)
        if a[0] == b[0] and b[1] < a[2]
    ]
    assert overlaps == []
    record_figure(
        "scheduled_jobs_by_node",
        {
            "runs": len(runs),
            "escalation_by_node": {d.name: _escalations(d) for d in (first, second)},
        },
    )
