"""`open311 redis up/down` and db/redis_server.py: the project-local Redis of the rate limits.

The commands run as the installed `open311` executable on a copy of the package in pytest's
temporary directory, so var/ is the copy's: nothing in the real checkout's var/ is read, started
or stopped. Every Redis started here is stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from open311 import config
from open311.config import Settings
from open311.db.cluster import free_port
from open311.db.redis_server import LocalRedis, RedisServerError, ping

REPOSITORY = Path(__file__).resolve().parents[2]
OPEN311 = Path(sys.executable).with_name("open311")
# Variables of the caller's shell that would steer the commands elsewhere.
STEERING = ("REDIS_URL", "DATABASE_URL", "OPEN311_RATE_LIMITS")


@dataclass
class Checkout:
    """A copy of the package whose var/ is its own."""

    root: Path

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def server(self) -> LocalRedis:
        return LocalRedis(self.var / "redis", self.recorded_port())

    def recorded_port(self) -> int:
        return int((self.var / "redis.port").read_text())

    def open311(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k not in STEERING}
        return subprocess.run(
            [str(OPEN311), *args],
            env=base | {"PYTHONPATH": str(self.root)} | env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Checkout]:
    """The copy, its port recorded as a free one: a Redis of the default port would be the
    one that apps of other tests (REDIS_URL unset) count in."""
    shutil.copytree(REPOSITORY / "open311", tmp_path / "open311")
    checkout = Checkout(tmp_path)
    checkout.var.mkdir()
    (checkout.var / "redis.port").write_text(f"{free_port()}\n")
    try:
        yield checkout
    finally:
        if (checkout.var / "redis.port").exists():
            checkout.server.stop()


def test_up_starts_a_private_redis_once_and_down_stops_it(checkout: Checkout):
    recorded = checkout.recorded_port()

    first = checkout.open311("redis", "up")

    assert first.returncode == 0, first.stderr
    port = checkout.recorded_port()
    assert port == recorded
    assert first.stdout.strip() == f"local Redis running: redis://127.0.0.1:{port}/0"
    server = checkout.server
    pid = server.pid()
    assert pid is not None and ping(port)
    store = redis.Redis(port=port)
    try:
        # Loopback only, counts only: nothing is written to disk.
        assert store.config_get("bind")["bind"] == "127.0.0.1"
        assert store.config_get("save")["save"] == ""
        assert store.config_get("appendonly")["appendonly"] == "no"
        assert store.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-ttl"
    finally:
        store.close()
    if os.geteuid() == 0:
        owner = Path(f"/proc/{pid}").stat().st_uid
        assert owner != 0, "as root, the server runs as the redis user"

    again = checkout.open311("redis", "up")
    assert again.returncode == 0, again.stderr
    assert checkout.recorded_port() == port and server.pid() == pid

    down = checkout.open311("redis", "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "local Redis stopped"
    assert server.pid() is None and not ping(port)
    assert checkout.open311("redis", "down").returncode == 0  # nothing to stop


def test_up_takes_a_free_port_when_the_recorded_one_is_taken(checkout: Checkout):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        (checkout.var / "redis.port").write_text(f"{busy}\n")

        result = checkout.open311("redis", "up")

        assert result.returncode == 0, result.stderr
        port = checkout.recorded_port()
        assert port != busy and ping(port)


def test_with_redis_url_set_no_local_redis_is_started(checkout: Checkout):
    result = checkout.open311("redis", "up", REDIS_URL="redis://cache.example.org:6379/0")
    assert result.returncode == 0, result.stderr
    assert "REDIS_URL is set" in result.stdout
    assert not (checkout.var / "redis").exists()


def test_without_a_recorded_port_the_default_one_is_used(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(config, "LOCAL_REDIS_PORT_FILE", tmp_path / "redis.port")
    settings = Settings(redis_url="")
    assert settings.resolved_redis_url() == f"redis://127.0.0.1:{config.LOCAL_REDIS_PORT}/0"
    (tmp_path / "redis.port").write_text("45678\n")
    assert settings.resolved_redis_url() == "redis://127.0.0.1:45678/0"
    assert Settings(redis_url="redis://cache:6379/1").resolved_redis_url() == "redis://cache:6379/1"


def test_a_missing_program_is_an_error_naming_it(tmp_path: Path):
    server = LocalRedis(tmp_path / "redis", free_port(), program=tmp_path / "no-redis-server")
    with pytest.raises(RedisServerError, match="could not start Redis"):
        server.start()


def test_a_stale_pid_file_naming_another_program_is_not_stopped(tmp_path: Path):
    server = LocalRedis(tmp_path / "redis", free_port())
    server.directory.mkdir()
    server.pidfile.write_text(f"{os.getpid()}\n")  # this test's own process

    assert server.pid() is None and not server.running()
    server.stop()  # must not signal us
