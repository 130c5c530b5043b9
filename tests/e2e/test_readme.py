"""Every curl line in the README works as printed, against `open311 serve` on the demo city."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from open311.config import PROJECT_ROOT
from tests.e2e.helpers import README_DEMO_GROUP, ReadmeDemo, gunicorn

README = (PROJECT_ROOT / "README.md").read_text()
PRINTED_BASE = "http://127.0.0.1:5311/open311/v2"
OPEN311 = f"{sys.executable} -m open311.cli"


def shell_blocks(section: str) -> list[str]:
    body = README.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", body, flags=re.S)


pytestmark = README_DEMO_GROUP


@pytest.fixture
def demo(readme_demo: ReadmeDemo) -> tuple[str, Path, str]:
    """The three demo cities, as `make run` seeds them, served by gunicorn, and a working directory
    holding var/demo-api-key (tests/e2e/conftest.py: shared with the other README modules)."""
    return readme_demo.base, readme_demo.workdir, readme_demo.url


def run(
    script: str, base: str, workdir: Path, database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    script = script.replace(PRINTED_BASE, base).replace(".venv/bin/python", sys.executable)
    script = script.replace(".venv/bin/open311", OPEN311)
    env = os.environ | ({"DATABASE_URL": database_url} if database_url else {})
    return subprocess.run(
        ["bash", "-c", script], cwd=workdir, capture_output=True, text=True, timeout=120, env=env
    )


def test_every_try_it_line_succeeds(demo):
    base, workdir, _url = demo
    block = shell_blocks("Try it")[0]
    assert block.count("curl ") >= 20
    # Same lines, but any HTTP error status or failed pipe stops the script.
    strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n' + block
    result = run(strict, base, workdir)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert '[{"code":' not in result.stdout and "<errors>" not in result.stdout
    assert "1-870704831" in result.stdout  # the imported history answers too


def test_the_two_cities_lines_answer_for_new_york_and_los_angeles(demo):
    base, workdir, _url = demo
    setup = shell_blocks("Try it")[0]
    variables = "\n".join(line for line in setup.splitlines() if line.startswith(("B=", "KEY=")))
    (block,) = shell_blocks("Two demo cities")
    strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
    result = run(strict + variables + "\n" + block, base, workdir)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert '"service_name":"HEAT/HOT WATER"' in result.stdout  # New York's services
    assert "<service_code>GRAFFITI</service_code>" in result.stdout  # Los Angeles'
    assert '"service_request_id":' in result.stdout  # the Brooklyn POST
    assert '"description":"APARTMENT ONLY"' in result.stdout  # the 2023 history
    assert '"service_name":"Thỉnh cầu sửa chữa ổ gà trên đường"' in result.stdout  # Austin, vi
    assert '"article_id":"bulk-item-pickup"' in result.stdout  # Austin's article, in Arabic


def test_the_demo_content_lines_answer_in_austin_and_los_angeles(demo):
    base, workdir, _url = demo
    setup = shell_blocks("Try it")[0]
    variables = "\n".join(line for line in setup.splitlines() if line.startswith(("B=", "KEY=")))
    (block,) = [b for b in shell_blocks("Knowledge base and languages") if "grafiti" in b]
    strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
    result = run(strict + variables + "\n" + block, base, workdir)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert '"title":"Chuẩn bị cho việc bốc rác khối để lề đường"' in result.stdout
    assert '"article_id":"graffiti-removal"' in result.stdout


def test_every_error_line_gives_the_status_it_promises(demo):
    base, workdir, _url = demo
    setup, errors = shell_blocks("Try it")[0], shell_blocks("Try it")[1]
    variables = "\n".join(line for line in setup.splitlines() if line.startswith(("B=", "KEY=")))
    commands = re.split(r"\n(?=curl )", errors.strip())
    assert len(commands) >= 6
    for command in commands:
        expected = re.search(r"#\s*(\d{3})\s*$", command, flags=re.M).group(1)
        probe = command.replace("curl -s", "curl -s -o /dev/null -w '%{http_code}'", 1)
        result = run(f"{variables}\n{probe}", base, workdir)
        assert result.stdout.strip() == expected, command


@pytest.fixture
def own_demo(database_url: str, tmp_path) -> Iterator[tuple[str, Path, str]]:
    """The demo cities in a database of this test's own, served as `make run` serves them:
    the walk-through names work order 1, which the shared demo's other modules may have made
    already (their requests are routed too)."""
    from open311.db.session import make_engine, make_session_factory
    from open311.demo.austin import seed_austin
    from open311.demo.new_york import seed_new_york
    from open311.demo.seed import seed_demo_city
    from tests.factories import make_api_key
    from tests.helpers import scratch_database

    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            seed_demo_city(session)
            seed_new_york(session)
            seed_austin(session)
            key = make_api_key(session, "readme")
            session.commit()
        engine.dispose()
        (tmp_path / "var").mkdir()
        (tmp_path / "var" / "demo-api-key").write_text(key + "\n")
        with gunicorn(url, tmp_path, as_make_run=True) as base:
            yield base, tmp_path, url


def test_the_routing_walk_through_shows_districts_crews_and_work_orders(own_demo):
    base, workdir, url = own_demo
    try_it, _errors = shell_blocks("Try it")
    show, moves = shell_blocks("Where a request goes")
    setup = "set -euo pipefail\n" + try_it
    shown = run(setup + show, base, workdir, url)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "Council Districts (2012 plan): 14" in shown.stdout
    assert "DOWNTOWN LOS ANGELES" in shown.stdout
    assert "Council District 14 crew" in shown.stdout
    assert "work order" in shown.stdout and "[assigned]" in shown.stdout
    moved = run("set -euo pipefail\n" + moves, base, workdir, url)
    assert moved.returncode == 0, moved.stderr[-2000:]
    assert "Post the 72-hour notice" in moved.stdout  # the follow-up work order (TAG)


def test_every_open_data_line_succeeds(demo):
    base, workdir, _url = demo
    (block,) = shell_blocks("Open data and area queries")
    assert block.count("curl ") >= 12
    strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n' + block
    result = run(strict, base, workdir)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "<errors>" not in result.stdout
    assert 'rel="next"' in result.stdout  # the paging headers printed by -D -
    exported = (workdir / "requests.csv").read_text().splitlines()
    assert exported[0].startswith("service_request_id,status,")
    assert len(exported) > 29_999


def test_the_staff_walk_through_works_a_request_to_closure(demo):
    base, workdir, url = demo
    host = base.removesuffix("/open311/v2")
    (walk,) = shell_blocks("Working requests: the staff API")
    (reopen,) = shell_blocks("Updates for citizens' apps")
    script = "set -euo pipefail\n" + walk.replace("http://127.0.0.1:5311", host)
    # Print what the script learnt, so the test can look the request up.
    result = run(script + '\necho; echo "ID=$ID DUP=$DUP WO=$WO"\n', base, workdir, url)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ids = dict(pair.split("=") for pair in result.stdout.strip().splitlines()[-1].split())
    out = result.stdout
    assert '"status": "in_progress"' in out or '"status":"in_progress"' in out
    assert "The graffiti was painted over." in out
    assert f'"parent_service_request_id":"{ids["ID"]}"' in out  # the suspected duplicate
    # What the public API says of the request now: closed, told, internal notes kept inside.
    public = urllib.request.urlopen(f"{base}/requests/{ids['ID']}.json?extensions=true").read()
    public += urllib.request.urlopen(f"{base}/servicerequestupdates.json").read()
    public += urllib.request.urlopen(f"{base}/requests/{ids['DUP']}.xml?extensions=true").read()
    assert b'"status":"closed"' in public and b"The graffiti was painted over." in public
    assert b"Paint truck on site" not in public and b"matched their grey" not in public
    assert b"213-555-0100" not in public  # the caller's phone: staff only
    assert f"Duplicate of request {ids['ID']}".encode() in public
    assert "<status>fixed</status>" in out and "<request_update>" in out
    # The reopen block follows on from the walk-through: it reuses $ID.
    prelude = f"B={base}\nKEY=$(cat var/demo-api-key)\nID={ids['ID']}\n"
    reopened = run("set -euo pipefail\n" + prelude + reopen, base, workdir)
    assert reopened.returncode == 0, reopened.stdout[-2000:] + reopened.stderr[-2000:]
    assert f'"service_request_id":"{ids["ID"]}"' in reopened.stdout
    assert '"status":"open"' in reopened.stdout
    assert "Tagged again" not in reopened.stdout.split('"update_id"', 1)[1]


def test_the_push_section_subscribes_uploads_and_delivers_signed(demo, tmp_path):
    """Subscribe as printed, file a request with a photo as printed, run the worker once: the
    receiver gets a delivery that the README's `verified` accepts, and the photo is clean."""
    from PIL import Image

    from tests.helpers import receiver

    _base, workdir, url = demo
    webhooks, photos = shell_blocks("Push: webhooks, e-mail and photos")
    (verify_source,) = re.findall(
        r"```python\n(.*?)```", README.split("## Push", 1)[1].split("\n## ", 1)[0], flags=re.S
    )
    namespace: dict = {}
    exec(verify_source, namespace)  # the README's receiver check, as printed
    private = {"OPEN311_WEBHOOK_ALLOW_PRIVATE": "1"}  # the receiver listens on 127.0.0.1
    # Its logs apart from the shared server's (the same file names).
    with receiver() as hook, gunicorn(url, tmp_path, as_make_run=True, **private) as base:
        script = webhooks.replace("https://app.example.org/hooks/311", hook.url)
        subscribed = run("set -euo pipefail\n" + script, base, workdir)
        assert subscribed.returncode == 0, subscribed.stdout + subscribed.stderr
        secret = re.search(r'"secret":\s*"([^"]+)"', subscribed.stdout).group(1)
        uploaded = run(
            f"set -euo pipefail\nB={base}\nKEY=$(cat var/demo-api-key)\n" + photos, base, workdir
        )
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        filed = re.search(r'"service_request_id":\s*"([^"]+)"', uploaded.stdout).group(1)
        worker = subprocess.run(
            [sys.executable, "-m", "open311.cli", "worker", "--once"],
            env=os.environ | {"DATABASE_URL": url} | private,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=workdir,
        )
        assert worker.returncode == 0, worker.stderr[-2000:]
        mine = [
            r for r in hook.wait_for(1) if r.json["service_request"]["service_request_id"] == filed
        ]
        assert mine and mine[0].json["event"] == "request.created"
        assert namespace["verified"](secret, mine[0].body, mine[0].headers["X-Open311-Signature"])
        assert not namespace["verified"](
            "wrong secret", mine[0].body, mine[0].headers["X-Open311-Signature"]
        )
        # The photo's URL is built from OPEN311_PUBLIC_URL (make run's), never the Host header.
        photo = urllib.request.urlopen(mine[0].json["service_request"]["media_url"]).read()
    image = Image.open(io.BytesIO(photo))
    assert image.format == "JPEG" and image.size == (640, 480)
    assert not image.getexif()


def test_the_email_example_sends_with_smtp_settings_on_the_worker_only(demo):
    """The server runs without any SMTP setting (as make run's); a request filed with an e-mail
    address as Try it prints, then the README's worker line (SMTP settings on the worker only,
    pointed at a local SMTP server, run --once): the receipt arrives, its link the request's
    public JSON under OPEN311_PUBLIC_URL, the endpoint path once."""
    import email
    import email.policy

    from tests.notify.helpers import Inbox, serve

    base, workdir, url = demo
    section = README.split("### E-mail to requesters", 1)[1].split("\n## ", 1)[0]
    worker_line = re.findall(r"```\n(.*?)```", section, flags=re.S)[0]
    (filing,) = re.findall(
        r"curl -s -X POST \$B/requests\.json -d api_key=\$KEY -d service_code=ABANDONED-VEHICLE"
        r".*?email=pat@example\.org",
        shell_blocks("Try it")[0],
        flags=re.S,
    )
    prelude = f"set -euo pipefail\nB={base}\nKEY=$(cat var/demo-api-key)\n"
    filed = run(prelude + filing, base, workdir)
    assert filed.returncode == 0, filed.stdout + filed.stderr
    request_id = re.search(r'"service_request_id":\s*"([^"]+)"', filed.stdout).group(1)

    inbox = Inbox()
    for smtp in serve(inbox, authenticator=inbox.authenticate, auth_require_tls=False):
        script = (
            worker_line.replace("smtp.example.org", "127.0.0.1")
            .replace("OPEN311_SMTP_PORT=587", f"OPEN311_SMTP_PORT={smtp.smtp_port}")
            .replace("OPEN311_SMTP_STARTTLS=1", "OPEN311_SMTP_STARTTLS=0")  # the sink has no TLS
            .replace("OPEN311_SMTP_PASSWORD=...", "OPEN311_SMTP_PASSWORD=s3cret")
            .replace("open311 worker", "open311 worker --once")
        )
        assert "--once" in script and str(smtp.smtp_port) in script
        sent = run("set -euo pipefail\n" + script, base, workdir, url)
        assert sent.returncode == 0, sent.stdout[-2000:] + sent.stderr[-2000:]
    texts = [
        email.message_from_bytes(envelope.content, policy=email.policy.default)
        .get_body(("plain",))
        .get_content()
        for envelope in inbox.messages
        if envelope.rcpt_tos == ["pat@example.org"]
    ]
    mine = [text for text in texts if f"Request number: {request_id}" in text]
    assert mine, texts
    link = f"https://311.example.org/open311/v2/requests/{request_id}.json"
    assert link in mine[0] and "/open311/v2/open311/v2" not in mine[0]
    assert inbox.logins and inbox.logins[0][0] == b"open311"
