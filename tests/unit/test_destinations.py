"""Webhook destinations: the public internet only (server-side request forgery)."""

from __future__ import annotations

import pytest

from open311.notify.destinations import private_destination


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
        "http://localhost:8080/",
        "http://api.localhost/",
        "http://100.64.0.1/",  # carrier-grade NAT
    ],
)
def test_private_and_local_addresses_are_refused(url):
    assert private_destination(url, unresolved_is_private=False)


@pytest.mark.parametrize("url", ["https://8.8.8.8/hooks", "https://[2001:4860:4860::8888]/"])
def test_public_addresses_pass(url):
    assert not private_destination(url, unresolved_is_private=True)


def test_a_name_that_does_not_resolve_depends_on_when():
    url = "https://no-such-host.invalid/hooks"
    assert not private_destination(url, unresolved_is_private=False)  # subscribing
    assert private_destination(url, unresolved_is_private=True)  # sending
