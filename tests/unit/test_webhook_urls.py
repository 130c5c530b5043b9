"""A subscription's URL is checked with the allow-private setting its caller passes."""

from __future__ import annotations

import pytest

from open311.domain.subscriptions import check_url, parse_subscription
from open311.errors import InvalidInput

LOOPBACK = "http://127.0.0.1:8000/hook"


def test_a_private_address_is_refused_unless_allowed():
    with pytest.raises(InvalidInput, match="public internet addresses only"):
        check_url(LOOPBACK, allow_private=False)
    assert check_url(f"  {LOOPBACK} ", allow_private=True) == LOOPBACK


def test_the_callers_setting_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("OPEN311_WEBHOOK_ALLOW_PRIVATE", "1")
    with pytest.raises(InvalidInput, match="public internet addresses only"):
        parse_subscription(LOOPBACK, [], None, None, allow_private=False)

    monkeypatch.delenv("OPEN311_WEBHOOK_ALLOW_PRIVATE")
    assert parse_subscription(LOOPBACK, [], None, None, allow_private=True).url == LOOPBACK


def test_a_bad_url_is_refused_even_where_private_addresses_are_allowed():
    with pytest.raises(InvalidInput, match="absolute http or https URL"):
        check_url("file:///etc/passwd", allow_private=True)


@pytest.mark.parametrize(
    "host",
    [
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[64:ff9b:1::a9fe:a9fe]",
        "[2002:a9fe:a9fe::1]",  # 6to4
        "[2001:0:4136:e378:8000:63bf:5601:5601]",  # Teredo, client 169.254.169.254
        "[::a9fe:a9fe]",
        "[::ffff:0:a9fe:a9fe]",
        "localhost.",
    ],
)
def test_ipv4_embedded_in_ipv6_is_refused_when_subscribing(host):
    with pytest.raises(InvalidInput, match="public internet addresses only"):
        check_url(f"https://{host}/latest/meta-data/", allow_private=False)


def test_a_port_that_is_no_port_is_refused():
    with pytest.raises(InvalidInput, match="port"):
        check_url("https://hooks.example.com:99999/x", allow_private=True)
