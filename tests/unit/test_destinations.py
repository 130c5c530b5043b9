"""Webhook destinations: the public internet only (server-side request forgery)."""

from __future__ import annotations

import ipaddress

import pytest

from open311.notify import destinations
from open311.notify.destinations import private_destination
from tests.notify.helpers import EMBEDDING_METADATA


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
        *(f"http://[{address}]/" for address in ("::ffff:169.254.169.254", "::1")),
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


@pytest.mark.parametrize("address", EMBEDDING_METADATA)
def test_ipv4_embedded_in_ipv6_is_judged_by_the_ipv4(address):
    assert not destinations.public(ipaddress.ip_address(address))
    assert private_destination(f"http://[{address}]/", unresolved_is_private=False)


def test_the_embedded_addresses_are_decoded():
    metadata = ipaddress.IPv4Address("169.254.169.254")
    for address in ("64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::ffff:0:a9fe:a9fe"):
        assert destinations.embedded_ipv4(ipaddress.IPv6Address(address)) == [metadata]
    teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:5601:5601")
    assert metadata in destinations.embedded_ipv4(teredo)  # ~0x5601 5601 = a9fe a9fe
    cut_at_48 = ipaddress.IPv6Address("64:ff9b:1:a9fe:a9:fe00::")
    assert metadata in destinations.embedded_ipv4(cut_at_48)


@pytest.mark.parametrize(
    "address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700::1111"]
)
def test_public_addresses_embedded_or_not_pass(address):
    assert destinations.public(ipaddress.ip_address(address))


@pytest.mark.parametrize("answer", ["10.1.2.3", "127.0.0.1", "64:ff9b::a9fe:a9fe", "fe80::1"])
def test_a_name_resolving_to_any_private_address_is_refused(answer):
    def resolver(host: str, port: int) -> list[str]:
        return ["8.8.8.8", answer]

    with pytest.raises(destinations.NotAllowed):
        destinations.pin("https://hooks.example.com/x", allow_private=False, resolver=resolver)


def test_pin_resolves_once_and_keeps_what_it_checked():
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return next(answers)

    pinned = destinations.pin(
        "https://Hooks.Example.com./x", allow_private=False, resolver=resolver
    )
    assert asked == [("hooks.example.com", 443)]
    assert pinned == destinations.Destination("hooks.example.com", 443, ("93.184.215.14",))
