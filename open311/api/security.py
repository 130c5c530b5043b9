"""The Host a request names, and the headers every answer carries (README: Security and privacy).

Host: with OPEN311_TRUSTED_HOSTS set, a request naming any other host is refused with 400 in
the GeoReport error format before any other before-request hook (body limit, rate limits) or
view runs, so nothing is stored and no URL of the answer can name a forged host. Only the
routing's own checks come first (an unknown path or format suffix is a 404 either way).
Without it any host is answered, which is why nothing persisted is ever built from the Host
header (see links.stored_url).

Headers: every answer says `X-Content-Type-Options: nosniff` (a browser must not take a JSON
error or a CSV export for HTML); every staff answer (/api/v1: tokens, requesters' contact
details) says `Cache-Control: no-store`, errors included, so that no shared or browser cache
keeps it. Public GeoReport answers keep their own caching headers (photos are immutable).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import BadRequest
from werkzeug.sansio.utils import host_is_trusted

from open311 import clock
from open311.api import database
from open311.i18n import _
from open311.wire.datetimes import format_w3c

STAFF_PREFIX = "/api/v1/"
UNTRUSTED_HOST = _("the Host header names a host this server does not answer for")
# Answered whatever the Host: a load balancer's probe or a Prometheus scrape names the node's
# address. They build no URL from it and change nothing (/metrics has its own token).
ANY_HOST_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def init_app(app: Flask) -> None:
    """Registered before every other hook: a forged Host meets no rate limit, body or view."""
    app.before_request(check_host)
    app.after_request(security_headers)
    app.add_url_rule("/.well-known/security.txt", "security_txt", security_txt)


def security_txt() -> Response:
    """RFC 9116: where a researcher reports a security problem (OPEN311_SECURITY_CONTACT, an
    e-mail address or a URL), valid for a year from now, in English."""
    settings = database.settings()
    contact = settings.security_contact.strip()
    if "://" not in contact:
        contact = f"mailto:{contact.removeprefix('mailto:')}"
    expires = (clock.now() + timedelta(days=365)).replace(microsecond=0)
    lines = [f"Contact: {contact}", f"Expires: {format_w3c(expires)}", "Preferred-Languages: en"]
    if settings.public_url:
        site = urlsplit(settings.public_url)
        lines.append(f"Canonical: {site.scheme}://{site.netloc}/.well-known/security.txt")
    response = Response("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def trusted_hosts(value: str) -> list[str]:
    """OPEN311_TRUSTED_HOSTS as a list: comma-separated names, blanks dropped."""
    return [host.strip() for host in value.split(",") if host.strip()]


def check_host() -> None:
    """400 unless the request's Host (its port aside, in any case) is one of
    OPEN311_TRUSTED_HOSTS; a name with a leading dot also trusts its subdomains (werkzeug's
    rule). The health probes and /metrics are answered for any Host (ANY_HOST_PATHS)."""
    if request.path in ANY_HOST_PATHS:
        return
    hosts = trusted_hosts(current_app.config.get("OPEN311_TRUSTED_HOSTS", "").lower())
    if not hosts:
        return
    # The raw header, not request.host: behind ProxyFix (x_for and x_proto only) it is the
    # Host the client sent to nginx, which passes it on unchanged.
    host = request.environ.get("HTTP_HOST") or request.environ.get("SERVER_NAME", "")
    if not host_is_trusted(host.lower(), hosts):
        error = BadRequest()
        error.open311_message = UNTRUSTED_HOST  # type: ignore[attr-defined]
        raise error


def security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith(STAFF_PREFIX) or request.path == STAFF_PREFIX.rstrip("/"):
        response.headers["Cache-Control"] = "no-store"
    return response
