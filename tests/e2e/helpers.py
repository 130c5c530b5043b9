"""`open311 serve` for the end-to-end tests: nginx in front of gunicorn, or gunicorn alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from open311.db.cluster import free_port
from open311.serving import nginx


@dataclass(frozen=True)
class Served:
    """A running `open311 serve`: its public port and what a test may look behind it."""

    port: int
    # gunicorn's access log (the command's standard output): every request that reached the app.
    access_log: Path
    # gunicorn's unix socket behind nginx; None when gunicorn listens on the port itself.
    socket: Path | None

    @property
    def base(self) -> str:
        """The GeoReport base URL."""
        return f"http://127.0.0.1:{self.port}/open311/v2"


# The group of the modules that use `readme_demo`: one worker runs them all, so it seeds once.
README_DEMO_GROUP = pytest.mark.xdist_group("readme_demo")


@dataclass(frozen=True)
class ReadmeDemo:
    """The shared demo server: its GeoReport base URL, a working directory holding
    var/demo-api-key (as `make run` leaves it), the database URL and a call-taker's token."""

    base: str
    workdir: Path
    url: str
    # lee, a call-taker of Austin (README "During a call"), signed in.
    call_taker_token: str


@contextmanager
def served(
    database_url: str,
    log_dir: Path,
    *,
    proxy: bool,
    workers: int = 2,
    as_make_run: bool = False,
    **env: str,
) -> Iterator[Served]:
    """`open311 serve` on a free port: as `make run` runs it (nginx in front of gunicorn on a
    unix socket) with `proxy`, else with --no-proxy (gunicorn alone on the port). With
    `as_make_run`, it answers for 127.0.0.1 and localhost only and keeps URLs under its own
    base (OPEN311_TRUSTED_HOSTS and OPEN311_PUBLIC_URL, as `make run` sets them)."""
    port = free_port()
    if as_make_run:
        env = {
            "OPEN311_TRUSTED_HOSTS": "127.0.0.1,localhost",
            "OPEN311_PUBLIC_URL": Served(port, Path(), None).base,
        } | env
    args = [sys.executable, "-m", "open311.cli", "serve", "--port", str(port)]
    args += ["--workers", str(workers)] + ([] if proxy else ["--no-proxy"])
    access_log, log_path = log_dir / "access.log", log_dir / "serve.log"
    with access_log.open("wb") as out, log_path.open("wb") as log:
        process = subprocess.Popen(
            args, env=os.environ | {"DATABASE_URL": database_url} | env, stdout=out, stderr=log
        )
        socket = nginx.run_dir_for(port) / "gunicorn.sock" if proxy else None
        server = Served(port, access_log, socket)
        try:
            _wait_until_up(server.base, process, log_path)
            yield server
        finally:
            process.terminate()
            process.wait(timeout=45)


@contextmanager
def gunicorn(
    database_url: str, log_dir: Path, *, as_make_run: bool = False, **env: str
) -> Iterator[str]:
    """`open311 serve --no-proxy` (gunicorn alone) on a free port; yields the GeoReport base URL."""
    with served(database_url, log_dir, proxy=False, as_make_run=as_make_run, **env) as server:
        yield server.base


def _wait_until_up(base: str, process: subprocess.Popen, log_path: Path) -> None:
    # A worker imports the whole app before it answers: on a busy two-core machine (two pytest
    # workers and their databases) that has taken over 30 s.
    deadline = time.monotonic() + 120
    while True:
        try:
            requests.get(f"{base}/discovery.json", timeout=5)
            return
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log = log_path.read_text()[-2000:]
                raise RuntimeError(f"open311 serve did not start: {log}") from None
            time.sleep(0.2)
