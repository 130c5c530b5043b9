"""A request's public URL is built in one place (wire.georeport.request_url), on the endpoint."""

from __future__ import annotations

import pytest

from open311.wire.georeport import request_url


@pytest.mark.parametrize(
    "endpoint",
    ["https://311.lacity.org/open311/v2", "https://311.lacity.org/open311/v2/"],
)
def test_the_endpoint_url_is_not_given_the_path_twice(endpoint):
    # OPEN311_PUBLIC_URL is the endpoint, /open311/v2 included (README: Configuration).
    assert request_url(endpoint, "1-870704831") == (
        "https://311.lacity.org/open311/v2/requests/1-870704831.json"
    )


def test_a_proxy_mapped_endpoint_keeps_its_path_and_ids_are_quoted():
    assert request_url("https://city.example/311/api", "A/B 1", "lacity.org") == (
        "https://city.example/311/api/requests/A%2FB%201.json?jurisdiction_id=lacity.org"
    )
