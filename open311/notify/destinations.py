"""Where webhooks may be sent: the public internet only, unless the city says otherwise.

An API client chooses the URL, and the worker POSTs from inside the city's network: without this
check a subscription to http://127.0.0.1:5432/ or the cloud metadata address 169.254.169.254
would make the worker probe internal services for the client (server-side request forgery).

The URL is checked when subscribing (a literal address, or a name that resolves to one) and
again at every attempt, since what a name resolves to can change. At an attempt the name is
resolved once (pin), every address it resolves to is checked, and the connection is made to
those checked addresses and nothing else (webhook.py): a name that answers a public address to
the check and a private one to the connection (DNS rebinding) gets nowhere.

An IPv6 address can carry an IPv4 one (IPv4-mapped and -compatible, SIIT, NAT64, 6to4,
Teredo); such an address is judged by the IPv4 address inside it as well, since a gateway on the
way may deliver it there: 64:ff9b::a9fe:a9fe is 169.254.169.254 behind a NAT64.

Set OPEN311_WEBHOOK_ALLOW_PRIVATE=1 where receivers are on the same network (tests, an
intranet); the connection is still made to the address resolved for the attempt.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to, as text, in the order to try them. A plain
# function, so a test can say what a name resolves to (and count how often it is asked).
Resolver = Callable[[str, int], Sequence[str]]

_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
_SIIT = ipaddress.IPv6Network("::ffff:0:0:0/96")  # IPv4-translated, RFC 2765
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # IPv4-compatible, deprecated (RFC 4291)
# Not globally reachable in IANA's registries, though this Python's ipaddress may say so.
_NOT_GLOBAL = (
    ipaddress.IPv4Network("192.0.0.0/24"),
    ipaddress.IPv6Network("fec0::/10"),  # site-local, deprecated
    _NAT64_LOCAL_USE,
)
# Where RFC 6052 puts the IPv4 address after a network-specific prefix of each length the
# local-use prefix may be cut to (/48, /56, /64, /96): its bits' spans [from, to) in the IPv6
# address, counted from the top; bits 64-71 (the "u" octet) never hold any.
_RFC6052_SPANS = (
    ((48, 64), (72, 88)),
    ((56, 64), (72, 96)),
    ((72, 104),),
    ((96, 128),),
)


class NotAllowed(Exception):
    """The destination is, or resolves to, an address outside the public internet."""


class Unresolved(Exception):
    """The destination's name resolves to nothing (for now)."""


@dataclass(frozen=True)
class Destination:
    """A URL's host and port and the checked addresses the attempt may connect to, in order."""

    host: str
    port: int
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer (getaddrinfo), each address once, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if address not in found:
            found.append(address)
    return found


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, by every embedding a gateway may decode."""
    value = int(address)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in _COMPATIBLE or address in _SIIT or address in _NAT64_WELL_KNOWN:
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if address in _NAT64_LOCAL_USE:
        for spans in _RFC6052_SPANS:
            bits = 0
            for start, end in spans:
                bits = (bits << (end - start)) | (
                    (value >> (128 - end)) & ((1 << (end - start)) - 1)
                )
            found.append(ipaddress.IPv4Address(bits))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        # (server, client); the client's address is stored inverted, ipaddress undoes that.
        found.extend(address.teredo)
    return found


def public(address: Address) -> bool:
    """True for a globally reachable unicast address, embedded IPv4 addresses included."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = embedded_ipv4(address)
        if address.ipv4_mapped is not None:
            # ::ffff:a.b.c.d is the IPv4 address itself, as a dual-stack socket reaches it.
            return public(address.ipv4_mapped)
        if not all(public(inner) for inner in carried):
            return False
    if any(address in network for network in _NOT_GLOBAL if network.version == address.version):
        return False
    return address.is_global and not address.is_multicast


def _host(url: str) -> str:
    """The URL's host, lower case, without a final dot; a non-ASCII name as the ASCII one the
    HTTP client sends and connects for (IDNA, as requests encodes it)."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise Unresolved(host) from None
    return host.lower()


def _local_name(host: str) -> bool:
    host = host.lower()
    return not host or host == "localhost" or host.endswith(".localhost")


def resolve(host: str, port: int, resolver: Resolver = system_resolver) -> list[Address]:
    """`host` as an address when it is one, else what `resolver` says; Unresolved when
    nothing (or no address) comes of it."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        answers = resolver(host, port)
    except (OSError, UnicodeError):
        raise Unresolved(host) from None
    addresses: list[Address] = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
        except ValueError:
            continue
    if not addresses:
        raise Unresolved(host)
    return addresses


def pin(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Destination:
    """Resolve `url`'s host once and check every address: the Destination an attempt connects
    to and nowhere else. NotAllowed when any address is not public (unless `allow_private`),
    Unresolved when the name gives none. One bad address refuses the whole name: which of
    them a connection would reach is not ours to choose."""
    parts = urlsplit(url)
    host = _host(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # not a port number: nowhere to send to, ever
        raise NotAllowed(host) from None
    if not allow_private and _local_name(host):
        raise NotAllowed(host)
    addresses = resolve(host, port, resolver)
    if not allow_private and not all(public(address) for address in addresses):
        raise NotAllowed(host)
    return Destination(host, port, tuple(str(address) for address in addresses))


def private_destination(
    url: str, *, unresolved_is_private: bool, resolver: Resolver = system_resolver
) -> bool:
    """True when `url`'s host is, or resolves to, an address outside the public internet.
    A name that does not resolve counts as private only when `unresolved_is_private` (before
    sending: nothing to send to; when subscribing: the receiver may not be up yet)."""
    try:
        pin(url, allow_private=False, resolver=resolver)
    except NotAllowed:
        return True
    except Unresolved:
        return unresolved_is_private
    return False
