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
