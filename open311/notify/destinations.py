"""Where webhooks may be sent: the public internet only, unless the city says otherwise.

An API client chooses the URL, and the worker POSTs from inside the city's network: without this
check a subscription to http://127.0.0.1:5432/ or the cloud metadata address 169.254.169.254
would make the worker probe internal services for the client (server-side request forgery).
The URL is checked when subscribing (a literal address, or a name that resolves to one) and
again before every attempt, since what a name resolves to can change. Set
OPEN311_WEBHOOK_ALLOW_PRIVATE=1 where receivers are on the same network (tests, an intranet).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def private_destination(url: str, *, unresolved_is_private: bool) -> bool:
    """True when `url`'s host is, or resolves to, an address outside the public internet.
    A name that does not resolve counts as private only when `unresolved_is_private` (before
    sending: nothing to send to; when subscribing: the receiver may not be up yet)."""
    host = urlsplit(url).hostname or ""
    if not host or host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        addresses = _addresses(host)
    except (OSError, UnicodeError):
        return unresolved_is_private
    return not addresses or not all(_public(address) for address in addresses)
