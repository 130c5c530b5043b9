"""End to end through gunicorn, as `make run` serves it: real sockets, workers, commits."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from open311.db.session import make_engine, make_session_factory
from open311.values import Datatype
from tests.e2e.helpers import gunicorn
from tests.factories import make_api_key, make_attribute, make_jurisdiction, make_service
from tests.helpers import scratch_database


@pytest.fixture(scope="module")
def e2e_database(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as url:
        yield url


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
    logs = tmp_path_factory.mktemp("gunicorn")
    with gunicorn(e2e_database, logs, OPEN311_MAX_BODY_BYTES="65536") as base:
        yield base


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
