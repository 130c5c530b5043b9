"""A client of the cluster through nginx, and a steady load of reads and writes that records
every answer, so that a test can say which requests failed while it killed something."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

GRAFFITI = {"service_code": "GRAFFITI", "lat": 34.1016, "long": -118.3267}


class Client:
    """One app of the GeoReport API (its API key, its cookies: the read-your-writes cookie
    the app sets after a write comes back with the next read, as a browser's would)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base = f"{base_url}/open311/v2"
        self.api_key = api_key
        self.http = requests.Session()
        self.http.headers["X-API-Key"] = api_key

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    def file(self, description: str, *, fmt: str = "json", **extra: Any) -> requests.Response:
        """POST requests with an Idempotency-Key (a retry of it files nothing twice)."""
        key = extra.pop("idempotency_key", None) or str(uuid.uuid4())
        return self.http.post(
            f"{self.base}/requests.{fmt}",
            data=GRAFFITI | {"description": description, "attribute[SURFACE]": "WALL"} | extra,
            headers={"Idempotency-Key": key},
            timeout=30,
        )

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(f"{self.base}/{path}", params=params, timeout=30)


@dataclass
class Outcome:
    """One request of the load: its kind, when it started (monotonic seconds), its status
    (None: no answer at all) and, for a write answered 2xx, the id of the stored request."""

    kind: str
    started: float
    status: int | None
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Load:
    """`readers` threads reading and `writers` threads filing through nginx until stopped.

    Writes carry an Idempotency-Key, as a careful app sends them; a write that fails is not
    tried again here (the test counts it)."""

    def __init__(self, base_url: str, api_key: str, *, readers: int = 3, writers: int = 2):
        self.base_url = base_url
        self.api_key = api_key
        self.readers = readers
        self.writers = writers
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.tag = uuid.uuid4().hex[:8]

    def __enter__(self) -> Load:
        for i in range(self.readers):
            self._spawn(self._read, i)
        for i in range(self.writers):
            self._spawn(self._write, i)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _spawn(self, target, index: int) -> None:
        thread = threading.Thread(target=target, args=(index,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _read(self, index: int) -> None:
        paths = ["requests.json", "services.json", "requests.xml?status=open", "discovery.json"]
        with Client(self.base_url, self.api_key) as client:
            n = index
            while not self._stop.is_set():
                path = paths[n % len(paths)]
                n += 1
                started = time.monotonic()
                try:
                    status = client.http.get(f"{client.base}/{path}", timeout=30).status_code
                except requests.RequestException:
                    status = None
                self._record(Outcome("read", started, status))

    def _write(self, index: int) -> None:
        with Client(self.base_url, self.api_key) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                started = time.monotonic()
                try:
                    answer = client.file(f"cluster load {self.tag} writer {index} #{n}")
                    status = answer.status_code
                    request_id = answer.json()[0]["service_request_id"] if answer.ok else None
                except requests.RequestException:
                    status, request_id = None, None
                self._record(Outcome("write", started, status, request_id))
                time.sleep(0.05)

    def failed(self, kind: str | None = None) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok and (kind is None or o.kind == kind)]

    def stored_ids(self) -> list[str]:
        return [o.request_id for o in self.outcomes if o.kind == "write" and o.request_id]
