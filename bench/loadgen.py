"""Closed-loop load from separate processes: each client does one call after another for a while.

A client is anything with `call() -> Outcome`, built inside its own process (after fork), so an
HTTP connection or a psycopg2 connection is never shared between processes. The API clients and
the floor clients go through the same loop and the same statistics, so their numbers compare.
"""

from __future__ import annotations

import http.client
import multiprocessing as mp
import time
import traceback
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass
class Outcome:
    """One call: whether it succeeded, how many bytes it produced, and the rows when known."""

    ok: bool
    nbytes: int = 0
    rows: int | None = None
    error: str | None = None


class Client(Protocol):
    def call(self) -> Outcome: ...


@dataclass
class Measurement:
    """What `concurrency` clients did in one timed run."""

    concurrency: int
    completed: int
    errors: int
    seconds: float  # from the common start to the last completion
    latencies_ms: list[float]
    rows: int | None  # rows in a response, as the first successful call of client 0 saw
    mean_bytes: float
    error_examples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        # Nearest rank: p99 of 100 samples is the 99th, never an interpolated value.
        rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
        return ordered[rank - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)


def _client_process(
    make_client: Callable[[int], Client],
    index: int,
    duration: float,
    ready: Any,
    start_at: Any,
    results: Any,
) -> None:
    try:
        client = make_client(index)
    except Exception:
        ready.wait()
        results.put((index, None, traceback.format_exc(limit=3)))
        return
    ready.wait()  # everybody connected; the parent then publishes the start time
    while start_at.value == 0.0:
        time.sleep(0.001)
    start = start_at.value
    while time.perf_counter() < start:
        pass
    deadline = start + duration
    latencies = array("d")
    errors = 0
    examples: list[str] = []
    rows: int | None = None
    nbytes = 0
    last_end = start
    while True:
        t0 = time.perf_counter()
        if t0 >= deadline:
            break
        try:
            outcome = client.call()
        except Exception as exc:  # a reset connection, a timeout: count it and go on
            outcome = Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
        t1 = time.perf_counter()
        last_end = t1
        if outcome.ok:
            latencies.append(t1 - t0)
            nbytes += outcome.nbytes
            if rows is None:
                rows = outcome.rows
        else:
            errors += 1
            if len(examples) < 3:
                examples.append(outcome.error or "error")
    closer = getattr(client, "close", None)
    if closer is not None:
        closer()
    results.put((index, (latencies.tobytes(), errors, examples, rows, nbytes, last_end), None))


def measure(make_client: Callable[[int], Client], concurrency: int, duration: float) -> Measurement:
    """Run `concurrency` client processes for `duration` seconds from a common start.

    Calls still in flight at the deadline finish and count; the rate is divided by the time to
    the last completion, so slow calls (a whole export) are measured fairly too.
    """
    ctx = mp.get_context("fork")
    ready = ctx.Barrier(concurrency + 1)
    start_at = ctx.Value("d", 0.0)
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=_client_process,
            args=(make_client, i, duration, ready, start_at, results),
            daemon=True,
        )
        for i in range(concurrency)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    start = time.perf_counter() + 0.05
    start_at.value = start
    collected: dict[int, Any] = {}
    failures: list[str] = []
    for _ in processes:
        index, payload, failure = results.get(timeout=duration + 600)
        if failure:
            failures.append(failure)
        else:
            collected[index] = payload
    for process in processes:
        process.join(timeout=30)
    if failures:
        raise RuntimeError("a client could not start:\n" + failures[0])
    latencies: list[float] = []
    errors = 0
    examples: list[str] = []
    total_bytes = 0
    end = start
    for index in sorted(collected):
        raw, errs, exs, _rows, nbytes, last_end = collected[index]
        lat = array("d")
        lat.frombytes(raw)
        latencies.extend(x * 1000.0 for x in lat)
        errors += errs
        examples.extend(exs)
        total_bytes += nbytes
        end = max(end, last_end)
    rows = next((collected[i][3] for i in sorted(collected) if collected[i][3] is not None), None)
    completed = len(latencies)
    return Measurement(
        concurrency=concurrency,
        completed=completed,
        errors=errors,
        seconds=end - start,
        latencies_ms=latencies,
        rows=rows,
        mean_bytes=total_bytes / completed if completed else 0.0,
        error_examples=examples[:3],
    )


# --- HTTP clients ---------------------------------------------------------------------------


class HttpClient:
    """One HTTP/1.1 connection, reused while the server keeps it open (gunicorn's sync workers
    close it after every response; http.client then reconnects for the next call).

    `next_request()` gives (method, path, body, headers); `observe(response, body)` may steer
    the next one (the change feed follows its `Link: rel="next"`); `count_rows(body)` tells how
    many items a response held, asked once per client.
    """

    def __init__(self, base_url: str, timeout: float = 120.0):
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.counted = False

    def next_request(self) -> tuple[str, str, bytes | None, dict[str, str]]:
        raise NotImplementedError

    def observe(self, response: http.client.HTTPResponse, body: bytes) -> None:
        """Called after each successful response."""

    def count_rows(self, body: bytes) -> int | None:
        return None

    def call(self) -> Outcome:
        method, path, body, headers = self.next_request()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        if response.status != 200 or not data:
            return Outcome(
                ok=False, error=f"{method} {path[:120]} -> {response.status}: {data[:200]!r}"
            )
        self.observe(response, data)
        rows = None
        if not self.counted:
            self.counted = True
            rows = self.count_rows(data)
        return Outcome(ok=True, nbytes=len(data), rows=rows)

    def close(self) -> None:
        self.connection.close()
