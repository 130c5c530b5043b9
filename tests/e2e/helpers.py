"""gunicorn processes for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from open311.db.cluster import free_port


@contextmanager
def gunicorn(database_url: str, log_dir: Path, **env: str) -> Iterator[str]:
    """`open311 serve` on a free port; yields the GeoReport base URL."""
    port = free_port()
    log_path = log_dir / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "open311.cli", "serve", "--port", str(port), "--workers", "2"],
            env=os.environ | {"DATABASE_URL": database_url} | env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}/open311/v2"
        try:
            _wait_until_up(base, process, log_path)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_until_up(base: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{base}/discovery.json", timeout=5)
            return
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log = log_path.read_text()[-2000:]
                raise RuntimeError(f"gunicorn did not start: {log}") from None
            time.sleep(0.2)
