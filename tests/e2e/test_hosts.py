"""Through `open311 serve`'s nginx, as `make run` sets it up: nginx passes the client's Host on,
the app refuses an untrusted one with a GeoReport 400, and every answer carries its headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from open311.db.session import make_engine, make_session_factory
from tests.e2e.helpers import Served, served
from tests.factories import make_jurisdiction, make_service
from tests.helpers import scratch_database


@pytest.fixture(scope="module")
def behind_nginx(database_url: str, tmp_path_factory) -> Iterator[Served]:
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            make_service(session, make_jurisdiction(session), "POTHOLE")
            session.commit()
        engine.dispose()
        # Photo limits made small, so that nginx's own 413 takes a small body.
        with served(
            url,
            tmp_path_factory.mktemp("hosts"),
            proxy=True,
            workers=1,
            as_make_run=True,
            OPEN311_MEDIA_MAX_COUNT="1",
            OPEN311_MEDIA_MAX_BYTES="65536",
        ) as server:
            yield server


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_untrusted_host_is_a_georeport_400_through_nginx(behind_nginx: Served, fmt: str):
    response = requests.get(
        f"{behind_nginx.base}/services.{fmt}", headers={"Host": "evil.example"}, timeout=10
    )

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith(
        "application/json" if fmt == "json" else "text/xml"
    )
    assert "Host header" in response.text and "evil.example" not in response.text
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_trusted_host_is_answered_with_the_public_url(behind_nginx: Served):
    response = requests.get(
        f"{behind_nginx.base}/discovery.json", headers={"Host": "localhost"}, timeout=10
    )

    assert response.status_code == 200
    assert response.json()["endpoints"][0]["url"] == behind_nginx.base
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_staff_answers_through_nginx_are_no_store(behind_nginx: Served):
    site = behind_nginx.base.removesuffix("/open311/v2")

    response = requests.get(f"{site}/api/v1/me", timeout=10)

    assert response.status_code == 401
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_nginx_s_own_errors_carry_the_same_headers(behind_nginx: Served):
    response = requests.post(
        f"{behind_nginx.base}/requests.json",
        data=b"x" * (3 * 1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )

    assert response.status_code == 413
    assert response.json() == [{"code": 413, "description": "the request body is too large"}]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
