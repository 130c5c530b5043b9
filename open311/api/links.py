"""URLs of this server: in answers under OPEN311_PUBLIC_URL, else the host used; stored ones never
from the Host header."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, request

from open311.media.photos import media_root
from open311.wire.georeport import BASE_PATH


def site_url(path: str) -> str:
    """`path` of this server as an absolute URL: on the site of OPEN311_PUBLIC_URL (the
    endpoint it names without its /open311/v2), else on the host the client used."""
    public = current_app.config.get("OPEN311_PUBLIC_URL", "")
    return media_root(public, request.host_url, BASE_PATH) + path


def stored_url(path: str) -> str:
    """`path` of this server as a URL to keep (a request's media_url, a webhook's payload):
    absolute on OPEN311_PUBLIC_URL's site, else the site-relative path itself. Never built
    from the Host header, which, without OPEN311_TRUSTED_HOSTS, is whatever the client sent:
    a forged one would otherwise be stored and handed to every later reader."""
    public = current_app.config.get("OPEN311_PUBLIC_URL", "")
    return media_root(public, "", BASE_PATH) + path if public else path


def next_page_link(drop: tuple[str, ...] = (), **changes: str) -> str:
    """The `Link` header of the next page: this call's URL and arguments, without those in
    `drop`, with `changes` set (in place, or after the rest when not given).

    OPEN311_PUBLIC_URL names the GeoReport endpoint, so a GeoReport path keeps its place
    under it (a proxy may map the endpoint anywhere); other paths go on its site."""
    args = request.args.copy()
    for name in drop:
        args.poplist(name)
    for name, value in changes.items():
        args[name] = value
    public = current_app.config.get("OPEN311_PUBLIC_URL")
    if not public:
        base = request.base_url
    elif request.path.startswith(f"{BASE_PATH}/"):
        base = public.rstrip("/") + request.path.removeprefix(BASE_PATH)
    else:
        base = site_url(request.path)
    return f'<{base}?{urlencode(list(args.items(multi=True)))}>; rel="next"'
