"""Serving: nginx takes the config `open311 serve` writes, the README's production site is the
same one (so the two arrangements cannot drift apart), and nginx and gunicorn stop together."""

from __future__ import annotations

import os
import re
import signal
import threading
from dataclasses import fields
from pathlib import Path

import pytest

from open311.config import ENV, PROJECT_ROOT, Settings
from open311.serving import gunicorn, nginx
from open311.serving.supervisor import Program, ServingError, run_together

SECTION = "## Running in production"
SOCKET = Path("/run/open311/gunicorn.sock")
CERTIFICATE = "/etc/letsencrypt/live/311.example.org/fullchain.pem"
KEY = "/etc/letsencrypt/live/311.example.org/privkey.pem"
ACCESS_LOG = "/var/log/nginx/open311.access.log"


@pytest.fixture
def defaults(monkeypatch) -> Settings:
    """The settings of an environment that sets none."""
    for f in fields(Settings):
        monkeypatch.delenv(f.metadata[ENV], raising=False)
    return Settings()


def production_site(settings: Settings) -> nginx.Site:
    return nginx.Site(
        listen=("443 ssl", "[::]:443 ssl"),
        upstream=(f"unix:{SOCKET}",),
        client_timeout_s=settings.client_timeout_s,
        upstream_timeout_s=settings.worker_timeout_s,
        max_body_bytes=settings.flask_config()["MAX_CONTENT_LENGTH"],
        server_name="311.example.org",
        tls=(CERTIFICATE, KEY),
        access_log=ACCESS_LOG,
    )


def readme_section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text()
    return readme.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_production_site_is_the_one_open311_serve_runs(defaults):
    blocks = re.findall(r"```nginx\n(.*?)```", readme_section(), flags=re.S)

    assert blocks == [nginx.render_site(production_site(defaults))]


def test_the_readme_gunicorn_unit_runs_gunicorn_as_open311_serve_does(defaults):
    args = gunicorn.command(f"unix:{SOCKET}", defaults.web_concurrency, defaults.worker_timeout_s)

    assert f"/gunicorn --umask 007 {' '.join(args[3:])}\n" in readme_section()


def test_nginx_takes_the_config_open311_serve_writes(defaults, tmp_path):
    site = nginx.Site(
        listen=(nginx.listen_address("127.0.0.1", 5311),),
        upstream=(f"unix:{tmp_path / 'gunicorn.sock'}",),
        client_timeout_s=defaults.client_timeout_s,
        upstream_timeout_s=defaults.worker_timeout_s,
        max_body_bytes=defaults.flask_config()["MAX_CONTENT_LENGTH"],
    )
    config = tmp_path / "nginx.conf"
    config.write_text(nginx.render_main(site, tmp_path))

    assert nginx.check(config) is None


def test_a_broken_config_is_nginx_s_own_complaint(tmp_path):
    config = tmp_path / "nginx.conf"
    config.write_text("events {}\nhttp { server { listen nowhere:x; } }\n")

    assert "nowhere:x" in (nginx.check(config) or "")


def test_an_ipv6_host_is_listened_on_in_brackets():
    assert nginx.listen_address("::", 5311) == "[::]:5311"
    assert nginx.listen_address("0.0.0.0", 5311) == "0.0.0.0:5311"


# --- started and stopped together -----------------------------------------------------------


def _ready() -> bool:
    return True


def _never() -> bool:
    return False


def _sleeper(pid_file: Path) -> Program:
    """A program that records its pid (then it is ready) and sleeps far longer than any test."""
    args = ["sh", "-c", f"echo $$ > {pid_file}.new; mv {pid_file}.new {pid_file}; exec sleep 30"]
    return Program("sleeper", args, pid_file.exists)


def _gone(pid_file: Path) -> bool:
    """Whether the program that wrote `pid_file` has ended and been waited for."""
    try:
        os.kill(int(pid_file.read_text()), 0)
    except ProcessLookupError:
        return True
    return False


def test_when_one_program_ends_the_others_are_stopped_and_it_is_named(tmp_path):
    quitter = Program("quitter", ["sh", "-c", "sleep 0.5; exit 4"], _ready)

    stopped_by = run_together([_sleeper(tmp_path / "pid"), quitter], stop_timeout_s=5)

    assert stopped_by == "quitter ended with status 4"
    assert _gone(tmp_path / "pid")


def test_a_program_that_ends_before_it_is_ready_is_a_serving_error(tmp_path):
    broken = Program("broken", ["sh", "-c", "exit 3"], _never)

    with pytest.raises(ServingError, match="broken ended with status 3"):
        run_together([_sleeper(tmp_path / "pid"), broken], stop_timeout_s=5)
    assert _gone(tmp_path / "pid")


def test_sigterm_stops_them_all_and_is_no_error(tmp_path):
    def ready_then_signalled() -> bool:
        # Called in this process once the last program is started: the stop comes a bit later.
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return True

    last = Program("last", ["sleep", "30"], ready_then_signalled)
    previous = signal.getsignal(signal.SIGTERM)

    assert run_together([_sleeper(tmp_path / "pid"), last], stop_timeout_s=5) is None
    assert _gone(tmp_path / "pid")
    assert signal.getsignal(signal.SIGTERM) is previous
