"""GET tokens/{token}: a batch POST's token resolves to its service_request_id."""

from __future__ import annotations

import pytest

from open311.values import ServiceType
from tests.api.helpers import FORMATS, body, errors, url, wire
from tests.factories import make_api_key, make_jurisdiction, make_request, make_service


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def graffiti(db, city):
    return make_service(db, city, "GRF", type=ServiceType.batch)


@pytest.mark.parametrize("fmt", FORMATS)
def test_token_from_a_batch_post_resolves_to_the_request(client, db, graffiti, fmt):
    key = make_api_key(db)
    posted = client.post(
        url("requests", fmt),
        data={"api_key": key, "service_code": "GRF", "address_string": "12 Elm St"},
    )
    (answer,) = body(posted, fmt, "service_requests")
    token = answer["token"]

    response = client.get(url(f"tokens/{token}", fmt))

    assert response.status_code == 200
    (item,) = body(response, fmt, "service_requests")
    assert item["token"] == token
    assert item["service_request_id"]
    single = client.get(url(f"requests/{item['service_request_id']}", fmt))
    (request,) = body(single, fmt, "service_requests")
    assert request["address"] == "12 Elm St"
    assert request["service_code"] == "GRF"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("token", ["tk-7f3a9", "tk.7f.3a9", "AbC_-x"])
def test_known_token_answers_a_one_item_list(client, db, graffiti, fmt, token):
    make_request(db, graffiti, token=token, service_request_id="SR-10043")
    make_request(db, graffiti, token=token + "z", service_request_id="SR-10044")

    response = client.get(url(f"tokens/{token}", fmt))

    assert response.status_code == 200
    expected = [{"service_request_id": "SR-10043", "token": token}]
    assert body(response, fmt, "service_requests") == wire(expected, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_token_is_404(client, db, graffiti, fmt):
    make_request(db, graffiti, token="tk-known")

    response = client.get(url("tokens/tk-unknown", fmt))

    (description,) = errors(response, fmt, 404)
    assert "token" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_service_request_id_is_not_a_token(client, db, city, fmt):
    realtime = make_request(db, make_service(db, city, "POT"), service_request_id="SR-1")
    assert realtime.token is None

    errors(client.get(url("tokens/SR-1", fmt)), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_token_is_scoped_to_the_jurisdiction(client, db, graffiti, fmt):
    other = make_jurisdiction(db, jurisdiction_id="example.gov", name="Example")
    make_request(db, make_service(db, other, "X", type=ServiceType.batch), token="tk-there")

    wrong = client.get(url("tokens/tk-there", fmt), query_string={"jurisdiction_id": "lacity.org"})
    right = client.get(url("tokens/tk-there", fmt), query_string={"jurisdiction_id": "example.gov"})
    unknown = client.get(url("tokens/tk-there", fmt), query_string={"jurisdiction_id": "x.gov"})

    errors(wrong, fmt, 404)
    assert right.status_code == 200
    errors(unknown, fmt, 404)
