"""GET discovery: fields, endpoint URL, changeset and formats, in JSON and XML."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from tests.api.helpers import FORMATS, body, url, wire
from tests.factories import make_jurisdiction, make_service

W3C_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_lists_every_field(client, app, db, fmt):
    make_jurisdiction(db, catalogue_changed_at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC))
    app.config["OPEN311_CONTACT"] = "Streets team, +1 555 0100"
    app.config["OPEN311_KEY_SERVICE"] = "Ask at https://keys.example.org"
    app.config["OPEN311_ENDPOINT_TYPE"] = "test"

    response = client.get(url("discovery", fmt), base_url="http://localhost")

    assert response.status_code == 200
    expected = {
        "changeset": "2024-05-01T10:00:00Z",
        "contact": "Streets team, +1 555 0100",
        "key_service": "Ask at https://keys.example.org",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": "http://localhost/open311/v2",
                "changeset": "2024-05-01T10:00:00Z",
                "type": "test",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    assert body(response, fmt, "discovery") == wire(expected, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_endpoint_url_is_built_from_the_request_host(client, db, fmt):
    make_jurisdiction(db)

    response = client.get(url("discovery", fmt), base_url="https://city.example.org:8443")

    (endpoint,) = body(response, fmt, "discovery")["endpoints"]
    assert endpoint["url"] == "https://city.example.org:8443/open311/v2"


@pytest.mark.parametrize("fmt", FORMATS)
def test_advertised_url_leads_to_the_services(client, db, fmt):
    jurisdiction = make_jurisdiction(db)
    make_service(db, jurisdiction, "POT-01")

    response = client.get(url("discovery", fmt), base_url="http://open311.example.net")
    endpoint_url = body(response, fmt, "discovery")["endpoints"][0]["url"]
    parts = urlsplit(endpoint_url)
    services = client.get(
        f"{parts.path}/services.{fmt}", base_url=f"{parts.scheme}://{parts.netloc}"
    )

    assert services.status_code == 200
    assert [s["service_code"] for s in body(services, fmt, "services")] == ["POT-01"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_url_setting_wins_over_the_request_host(client, app, db, fmt):
    make_jurisdiction(db)
    app.config["OPEN311_PUBLIC_URL"] = "https://api.example.gov/open311/v2"

    response = client.get(url("discovery", fmt), base_url="http://internal:5000")

    (endpoint,) = body(response, fmt, "discovery")["endpoints"]
    assert endpoint["url"] == "https://api.example.gov/open311/v2"


@pytest.mark.parametrize("fmt", FORMATS)
def test_changeset_follows_the_catalogue(client, db, fmt):
    jurisdiction = make_jurisdiction(
        db, catalogue_changed_at=datetime(2024, 4, 28, 8, 30, 15, 250000, tzinfo=UTC)
    )

    first = body(client.get(url("discovery", fmt)), fmt, "discovery")
    jurisdiction.catalogue_changed_at = datetime(
        2024, 6, 2, 9, 0, tzinfo=timezone(timedelta(hours=2))
    )
    db.flush()
    second = body(client.get(url("discovery", fmt)), fmt, "discovery")

    assert W3C_UTC.match(first["changeset"]) and W3C_UTC.match(second["changeset"])
    assert first["changeset"] == "2024-04-28T08:30:15Z"
    assert second["changeset"] == "2024-06-02T07:00:00Z"
    assert second["changeset"] > first["changeset"]  # sortable, as discovery requires
    assert second["endpoints"][0]["changeset"] == second["changeset"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_changeset_is_the_latest_of_several_jurisdictions(client, db, fmt):
    make_jurisdiction(db, catalogue_changed_at=datetime(2024, 1, 1, tzinfo=UTC))
    make_jurisdiction(
        db,
        jurisdiction_id="example.gov",
        name="Example",
        catalogue_changed_at=datetime(2024, 3, 1, 12, tzinfo=UTC),
    )

    document = body(client.get(url("discovery", fmt)), fmt, "discovery")

    assert document["changeset"] == "2024-03-01T12:00:00Z"


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_are_always_a_list(client, db, fmt):
    make_jurisdiction(db)

    document = body(client.get(url("discovery", fmt)), fmt, "discovery")

    assert document["endpoints"][0]["formats"] == ["text/xml", "application/json"]
