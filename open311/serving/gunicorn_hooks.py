"""gunicorn's server hooks (its `-c python:open311.serving.gunicorn_hooks`): each worker logs JSON
lines, and a dead worker's live gauges leave /metrics (prometheus-client's multiprocess mode)."""

from __future__ import annotations

from typing import Any

from open311.config import Settings
from open311.serving import logs


def post_fork(server: Any, worker: Any) -> None:
    # Before the worker imports the app: everything it logs is a JSON line.
    logs.configure()


def child_exit(server: Any, worker: Any) -> None:
    if Settings().prometheus_multiproc_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
