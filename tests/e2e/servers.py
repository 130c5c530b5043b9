"""Scratch databases and gunicorn processes for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import requests
from sqlalchemy.engine import make_url

from open311.db.cluster import free_port
from open311.db.migrate import upgrade


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A migrated database of its own: gunicorn commits there, rolled-back tests never see it."""
    parsed = make_url(server_url)
    admin = psycopg2.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname="postgres"
    )
    admin.autocommit = True
    name = f"open311_e2e_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = parsed.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


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
