"""The requester's personal data is stored apart and never shown by any GET."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from open311.db.models import Requester, ServiceRequest
from open311.values import ServiceType
from tests.api.helpers import FORMATS, PERSONAL, body, leaked, url
from tests.factories import make_api_key, make_jurisdiction, make_service


@pytest.fixture
def services(db):
    city = make_jurisdiction(db)
    make_service(db, city, "POT-01")
    make_service(db, city, "GRF", type=ServiceType.batch)


@pytest.mark.parametrize("post_fmt", FORMATS)
@pytest.mark.parametrize("service_code", ["POT-01", "GRF"])
def test_personal_data_never_appears_in_get_responses(client, db, services, post_fmt, service_code):
    key = make_api_key(db)
    data = {"api_key": key, "service_code": service_code, "address_string": "1 Main St"}
    posted = client.post(url("requests", post_fmt), data=data | PERSONAL)
    assert 200 <= posted.status_code < 300
    (answer,) = body(posted, post_fmt, "service_requests")
    assert set(leaked(posted.data)) <= {"account_id"}  # the spec lets POST echo account_id
    stored = db.scalar(select(ServiceRequest))

    for fmt in FORMATS:
        responses = [
            client.get(url("requests", fmt)),
            client.get(
                url("requests", fmt), query_string={"service_request_id": stored.service_request_id}
            ),
            client.get(url(f"requests/{stored.service_request_id}", fmt)),
        ]
        if "token" in answer:
            responses.append(client.get(url(f"tokens/{answer['token']}", fmt)))
        for response in responses:
            assert response.status_code == 200
            items = body(response, fmt, "service_requests")
            assert len(items) == 1
            assert leaked(response.data) == []
            assert not set(items[0]) & set(PERSONAL)


@pytest.mark.parametrize("fmt", FORMATS)
def test_personal_data_is_stored_in_the_requester_table(client, db, services, fmt):
    key = make_api_key(db)
    data = {"api_key": key, "service_code": "POT-01", "lat": "34.1", "long": "-118.3"}

    client.post(url("requests", fmt), data=data | PERSONAL)

    requester = db.scalar(select(Requester))
    stored = db.scalar(select(ServiceRequest))
    assert requester.service_request_pk == stored.id
    assert {name: getattr(requester, name) for name in PERSONAL} == PERSONAL


@pytest.mark.parametrize("fmt", FORMATS)
def test_personal_data_sent_as_json_is_stored_apart_too(client, db, services, fmt):
    key = make_api_key(db)
    document = {"api_key": key, "service_code": "POT-01", "address_id": "A-9"} | PERSONAL

    posted = client.post(url("requests", fmt), json=document)
    (answer,) = body(posted, fmt, "service_requests")

    requester = db.scalar(select(Requester))
    assert requester.email == PERSONAL["email"]
    shown = client.get(url(f"requests/{answer['service_request_id']}", fmt))
    assert leaked(shown.data) == []


def test_some_personal_fields_are_enough_for_a_requester_row(client, db, services):
    key = make_api_key(db)
    data = {"api_key": key, "service_code": "POT-01", "address_id": "A-9", "phone": "555 0101"}

    client.post(url("requests", "xml"), data=data)

    requester = db.scalar(select(Requester))
    assert requester.phone == "555 0101"
    assert requester.email is None and requester.account_id is None
