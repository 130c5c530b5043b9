"""End to end through gunicorn, as `make run` serves it: real sockets, workers, commits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests
from sqlalchemy.engine import make_url

from open311.db.cluster import free_port
from open311.db.migrate import upgrade
from open311.db.models import Datatype
from open311.db.session import make_engine, make_session_factory
from tests.factories import make_api_key, make_attribute, make_jurisdiction, make_service


def _admin_connection(url: str):
    parsed = make_url(url)
    conn = psycopg2.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname="postgres"
    )
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def e2e_database(database_url: str) -> Iterator[str]:
    """A database of its own: gunicorn commits, and the rolled-back tests must not see it."""
    name = f"open311_e2e_{uuid.uuid4().hex[:8]}"
    admin = _admin_connection(database_url)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def api_key(e2e_database: str) -> str:
    engine = make_engine(e2e_database)
    with make_session_factory(engine)() as session:
        jurisdiction = make_jurisdiction(session)
        make_service(
            session,
            jurisdiction,
            "POTHOLE",
            attributes=[make_attribute("DEPTH", Datatype.number, required=True)],
        )
        key = make_api_key(session)
        session.commit()
    engine.dispose()
    return key


@pytest.fixture(scope="module")
def server(e2e_database: str, api_key: str, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "stderr.log"
    log = log_path.open("wb")
    env = os.environ | {"DATABASE_URL": e2e_database, "OPEN311_MAX_BODY_BYTES": "65536"}
    process = subprocess.Popen(
        [sys.executable, "-m", "open311.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}/open311/v2"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{base}/discovery.json", timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.close()
                pytest.fail(f"gunicorn did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=10)
    log.close()


def test_post_then_get_through_gunicorn(server: str, api_key: str):
    posted = requests.post(
        f"{server}/requests.json",
        data={
            "api_key": api_key,
            "service_code": "POTHOLE",
            "lat": "34.0522",
            "long": "-118.2437",
            "attribute[DEPTH]": "12",
            "description": "Deep <hole> & more",
            "email": "pat@example.org",
        },
        timeout=5,
    )
    assert posted.status_code == 200
    assert posted.headers["Content-Type"] == "application/json; charset=utf-8"
    request_id = posted.json()[0]["service_request_id"]

    as_xml = requests.get(f"{server}/requests/{request_id}.xml", timeout=5)
    assert as_xml.headers["Content-Type"] == "text/xml; charset=utf-8"
    item = ET.fromstring(as_xml.content).find("request")
    assert item.findtext("description") == "Deep <hole> & more"
    assert float(item.findtext("lat")) == pytest.approx(34.0522)
    assert b"pat@example.org" not in as_xml.content


def test_concurrent_posts_each_get_their_own_id(server: str, api_key: str):
    def post(i: int) -> requests.Response:
        return requests.post(
            f"{server}/requests.json",
            data={
                "api_key": api_key,
                "service_code": "POTHOLE",
                "address_string": f"{i} Main St",
                "attribute[DEPTH]": str(i),
            },
            timeout=10,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(post, range(24)))
    assert [r.status_code for r in responses] == [200] * 24
    ids = {r.json()[0]["service_request_id"] for r in responses}
    assert len(ids) == 24


def test_oversized_body_is_413_and_stores_nothing(server: str, api_key: str, e2e_database: str):
    engine = make_engine(e2e_database)
    with engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT count(*) FROM service_request").scalar()
    response = requests.post(
        f"{server}/requests.xml",
        data={"api_key": api_key, "service_code": "POTHOLE", "description": "x" * 70000},
        timeout=5,
    )
    with engine.connect() as conn:
        after = conn.exec_driver_sql("SELECT count(*) FROM service_request").scalar()
    engine.dispose()
    assert response.status_code == 413
    assert ET.fromstring(response.content).findtext("error/code") == "413"
    assert after == before


def test_bad_input_is_a_georeport_error_not_a_stack_trace(server: str, api_key: str):
    response = requests.post(
        f"{server}/requests.json",
        data={"api_key": api_key, "service_code": "POTHOLE", "lat": "91", "long": "x"},
        timeout=5,
    )
    assert response.status_code == 400
    problems = response.json()
    assert {p["code"] for p in problems} == {400}
    assert "Traceback" not in response.text
