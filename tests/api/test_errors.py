"""Errors outside the endpoints' own rules: 404, 405, 500, and which format they come in."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from open311.domain import catalogue, intake
from tests.api.helpers import FORMATS, counts, errors, url
from tests.factories import make_api_key, make_jurisdiction, make_service

LEAKS = (b"Traceback", b"SELECT", b"INSERT", b"RuntimeError", b"secret", b'File "', b"<html")


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("method", "resource", "allowed"),
    [
        ("DELETE", "requests", {"GET", "HEAD", "OPTIONS", "POST"}),
        ("PUT", "requests", {"GET", "HEAD", "OPTIONS", "POST"}),
        ("PUT", "services", {"GET", "HEAD", "OPTIONS"}),
        ("POST", "services", {"GET", "HEAD", "OPTIONS"}),
        ("PATCH", "services/POT-01", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "requests/100001", {"GET", "HEAD", "OPTIONS"}),
        ("POST", "tokens/tk-1", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "discovery", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_undeclared_method_is_405_with_allow(client, city, fmt, method, resource, allowed):
    response = client.open(url(resource, fmt), method=method)

    errors(response, fmt, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


def test_405_writes_nothing(client, db, city):
    make_service(db, city, "POT-01")
    key = make_api_key(db)
    before = counts(db)

    response = client.put(
        url("requests", "json"), data={"api_key": key, "service_code": "POT-01", "lat": "1"}
    )

    errors(response, "json", 405)
    assert counts(db) == before


@pytest.mark.parametrize(
    "path",
    [
        "/nowhere",
        "/nowhere/deeper",
        "/open311/v2/requests",
        "/open311/v2/services",
        "/open311/v2/",
        "/open311/v3/services.xml",
    ],
)
def test_unknown_path_is_404_in_xml(client, city, path):
    response = client.get(path)

    (description,) = errors(response, "xml", 404)
    assert "<" not in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_resource_with_a_format_suffix_answers_in_that_format(client, city, fmt):
    errors(client.get(url("bogus", fmt)), fmt, 404)


@pytest.mark.parametrize(
    "path",
    [
        "/open311/v2/services.html",
        "/open311/v2/services.JSON",
        "/open311/v2/discovery.yaml",
        "/open311/v2/services/POT-01.txt",
        "/open311/v2/requests.csv",
        "/open311/v2/requests/100001.htm",
        "/open311/v2/tokens/tk-1.js",
    ],
)
def test_unknown_format_suffix_is_404_in_xml(client, db, city, path):
    make_service(db, city, "POT-01")

    (description,) = errors(client.get(path), "xml", 404)
    assert "json" in description and "xml" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_internal_error_is_a_generic_500(client, city, fmt, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("SELECT secret FROM api_client -- Traceback")

    monkeypatch.setattr(catalogue, "list_services", explode)

    response = client.get(url("services", fmt))

    (description,) = errors(response, fmt, 500)
    assert description == "internal server error"
    for leak in LEAKS:
        assert leak not in response.data


@pytest.mark.parametrize("fmt", FORMATS)
def test_database_failure_during_post_is_a_generic_500_and_writes_nothing(
    client, db, city, fmt, monkeypatch
):
    make_service(db, city, "POT-01")
    key = make_api_key(db)
    submit = intake.submit

    def fail_after_insert(session, *args, **kwargs):
        submit(session, *args, **kwargs)  # the row is flushed, then the database gives up
        raise OperationalError("INSERT INTO service_request secret", {}, Exception("gone"))

    monkeypatch.setattr(intake, "submit", fail_after_insert)
    before = counts(db)

    response = client.post(
        url("requests", fmt),
        data={"api_key": key, "service_code": "POT-01", "address_id": "A-1", "email": "a@b.org"},
    )

    (description,) = errors(response, fmt, 500)
    assert description == "internal server error"
    for leak in LEAKS:
        assert leak not in response.data
    assert counts(db) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_in_the_query_are_400(client, city, fmt):
    response = client.get(url("services", fmt), query_string={"jurisdiction_id": "la\x00city"})

    errors(response, fmt, 400)
    assert b"\x00" not in response.data


@pytest.mark.parametrize("fmt", FORMATS)
def test_several_argument_errors_come_back_together(client, city, fmt):
    response = client.get(
        url("requests", fmt), query_string={"status": "AAA", "start_date": "soon"}
    )

    descriptions = errors(response, fmt, 400)
    assert len(descriptions) == 2
    assert any("status" in d for d in descriptions)
    assert any("start_date" in d for d in descriptions)


def test_no_jurisdiction_configured_is_404(client):
    errors(client.get(url("services", "json")), "json", 404)
