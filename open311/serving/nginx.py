"""nginx in front of gunicorn: the site rendered from the settings, and a private nginx under var/.

Why nginx at all: gunicorn's sync workers read a request and write its answer themselves, so a
client that sends its headers or body slowly, or reads the answer slowly, holds a whole worker;
as many such clients as there are workers stop the API. nginx reads each request in full before
passing it on and takes each answer at local speed, so a worker only ever talks to nginx, and a
slow client costs an nginx connection (a few kilobytes) until `client_timeout_s` runs out.
"""

from __future__ import annotations

import os
import pwd
import re
import resource
import subprocess
from dataclasses import dataclass
from pathlib import Path

from open311.config import PROJECT_ROOT
from open311.serving.redaction import PLACEHOLDER, SECRET_NAME_PARTS
from open311.wire.formats import CONTENT_TYPES, error_payload, render

NGINX = Path("/usr/sbin/nginx")
# One directory per port: several servers may run from one checkout (tests, benchmarks).
RUN_ROOT = PROJECT_ROOT / "var" / "serve"

# The answers nginx gives itself, in the GeoReport error format the app would have used; an
# answer the app gives passes through untouched (proxy_intercept_errors stays off).
ERRORS: dict[int, str] = {
    413: "the request body is too large",
    502: "the service is restarting or unavailable; try again shortly",
    504: "the service took too long to answer; try again later",
}

_SITE = """\
# open311: nginx reads whole requests and takes whole answers before gunicorn sees or sends them,
# so a slow or stalled client holds an nginx connection, never one of the few gunicorn workers.

# The error format the app would choose: JSON for the staff API, exports, .json and .geojson.
map $uri $open311_error_format {
    default xml;
    ~^/api/ json;
    ~^/open311/v2/exports/ json;
    ~\\.(json|geojson)$ json;
}

# POST requests that carry an Idempotency-Key (location @open311_idempotent).
map "$request_method:$http_idempotency_key" $open311_idempotent_post {
    default 0;
    "~^POST:." 1;
}

{{access_log_format}}
# Health probes (/healthz, /readyz) stay out of the access log.
map $uri $open311_logged {
    default 1;
    ~^/(healthz|readyz)$ 0;
}

upstream open311 {
{{servers}}}

server {
{{listen}}    server_name {{server_name}};
{{tls}}
    # A client gets this long for its headers, between two reads of its body, between two
    # writes of the answer, and idle between two requests on a keep-alive connection.
    client_header_timeout {{client_timeout}}s;
    client_body_timeout {{client_timeout}}s;
    send_timeout {{client_timeout}}s;
    keepalive_timeout {{client_timeout}}s;
    # The largest body the app accepts (form fields and photos); a larger one never reaches it.
    client_max_body_size {{max_body}};
    # Each request but the health probes, its secret query values redacted (the open311 format).
    access_log {{access_log}};

{{error_pages}}
    # (Here, not in the location: a location's own error_page would drop those above in it.)
    error_page 418 = @open311_idempotent;

    location / {
        # A POST with an Idempotency-Key goes by @open311_idempotent, which may pass it on.
        if ($open311_idempotent_post) {
            return 418;
        }
{{proxy}}    }

    # nginx passes a request to the next app node when the first cannot be reached, or, for a
    # GET, drops the connection (the node died with it); a POST that was sent is not passed on,
    # since the first node may have stored it. With an Idempotency-Key it is: the app answers
    # the second try with the first one's stored answer, or stores it once if the first died
    # before its commit.
    location @open311_idempotent {
        recursive_error_pages on;
        proxy_next_upstream error timeout non_idempotent;
{{proxy}}    }
{{error_locations}}}
"""

_PROXY = """\
        proxy_pass http://open311;
        # The whole body first (in memory, then a temporary file), then one quick pass to
        # gunicorn; the whole answer next (a temporary file past a few buffers, up to 1 GB),
        # then on to the client at its own pace.
        proxy_request_buffering on;
        proxy_buffering on;
        # gunicorn ends a worker after OPEN311_WORKER_TIMEOUT; nginx waits as long, no longer.
        proxy_read_timeout {{upstream_timeout}}s;
        proxy_send_timeout {{upstream_timeout}}s;
        proxy_redirect off;
        proxy_set_header Host $http_host;
        # The app trusts the last address and this scheme (OPEN311_BEHIND_PROXY): nginx's own.
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # gunicorn takes scheme headers from a unix socket as they come, and two that disagree
        # are a 400: only the one above reaches it.
        proxy_set_header X-Forwarded-Ssl "";
        proxy_set_header X-Forwarded-Protocol "";
"""

_MAIN = """\
# Rendered by `open311 serve` for this run only; nginx runs from {{run_dir}} as {{user}}.
daemon off;
{{user_directive}}worker_processes auto;
worker_rlimit_nofile {{nofile}};
pid {{run_dir}}/nginx.pid;
error_log stderr error;

events {
    worker_connections {{connections}};
}

http {
    # gunicorn's access log, on standard output, has every request that reached the app, with
    # the client's address; the site's own (access_log there) is kept here while nginx runs.
    access_log off;
    server_tokens off;
    types {}
    default_type application/octet-stream;
    client_body_temp_path {{run_dir}}/client_body;
    proxy_temp_path {{run_dir}}/proxy;
    fastcgi_temp_path {{run_dir}}/fastcgi;
    uwsgi_temp_path {{run_dir}}/uwsgi;
    scgi_temp_path {{run_dir}}/scgi;

{{site}}}
"""


@dataclass(frozen=True)
class Site:
    """One API site: where nginx listens, the gunicorns behind it, and its limits."""

    # `listen` parameters, one directive each: "127.0.0.1:5311", "443 ssl", "[::]:443 ssl".
    listen: tuple[str, ...]
    # `server` parameters of the upstream, one per gunicorn: "unix:/run/open311.sock" for one on
    # this machine, "10.0.0.5:8000 max_fails=1 fail_timeout=5s" for each of several app nodes
    # (nginx passes a request that could not reach one, or a GET it dropped, to the next).
    upstream: tuple[str, ...]
    client_timeout_s: int
    upstream_timeout_s: int
    # The app's MAX_CONTENT_LENGTH: nginx refuses what the app would refuse anyway, unread.
    max_body_bytes: int
    server_name: str = "_"
    # The certificate and key files of a TLS site (production); None: plain HTTP.
    tls: tuple[str, str] | None = None
    # The file of the access log (the open311 format, secrets redacted); None: no access log.
    access_log: str | None = None


def render_site(site: Site) -> str:
    """The site's part of an nginx config (map, upstream, server), for an http {} block: what
    `open311 serve` runs and what the README's production site is made of."""
    tls = ""
    if site.tls:
        certificate, key = site.tls
        tls = f"    ssl_certificate {certificate};\n    ssl_certificate_key {key};\n"
    error_pages, error_locations = _error_pages()
    return _fill(
        _SITE,
        proxy=_fill(_PROXY, upstream_timeout=str(site.upstream_timeout_s)),
        servers="".join(f"    server {server};\n" for server in site.upstream),
        listen="".join(f"    listen {where};\n" for where in site.listen),
        server_name=site.server_name,
        tls=tls,
        client_timeout=str(site.client_timeout_s),
        upstream_timeout=str(site.upstream_timeout_s),
        max_body=str(site.max_body_bytes),
        error_pages=error_pages,
        error_locations=error_locations,
        access_log_format=_access_log_format(),
        access_log=f"{site.access_log} open311 if=$open311_logged" if site.access_log else "off",
    )


def render_main(site: Site, run_dir: Path) -> str:
    """A whole nginx config for a private nginx whose pid, temporary files and config live in
    `run_dir`, logging errors to its standard error: nothing of the system's nginx is used."""
    # Each stalled client takes one file descriptor, each proxied request two: as many as the
    # hard limit allows (an unprivileged process may raise its soft limit that far).
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    user = pwd.getpwuid(os.geteuid()).pw_name
    return _fill(
        _MAIN,
        run_dir=str(run_dir),
        user=user,
        # As root the workers would become `nobody`, who may not reach var/; they stay as the
        # invoking user instead. Otherwise nginx cannot switch users and the directive is noise.
        user_directive=f"user {user};\n" if os.geteuid() == 0 else "",
        nofile=str(nofile),
        connections=str(max(nofile // 2, 512)),
        site=_indent(render_site(site)),
    )


# How many secret parameters of one request are redacted one by one; past that the whole
# query is. nginx has no global substitution: each map below replaces one value.
_REDACTED_ONE_BY_ONE = 3


def _access_log_format() -> str:
    """The open311 log format and the maps it reads: the request line with each secret query
    value (redaction.SECRET_NAME_PARTS) written as PLACEHOLDER, the Referer without its query,
    no user name; otherwise nginx's combined format, with the request time."""
    name = "[^?&;=]*(?:" + "|".join(re.escape(part) for part in SECRET_NAME_PARTS) + ")[^&;=]*"
    placeholder = re.escape(PLACEHOLDER)
    unredacted = f"{name}=(?!{placeholder}(?:[&;#]|$))"
    lines = [
        "# Access log lines without secrets: the value of a query parameter named like a key,",
        f"# a token, a password or a secret (api_key above all) is written {PLACEHOLDER}, up to",
        f"# {_REDACTED_ONE_BY_ONE} of them, then the whole query; the Referer without its query.",
    ]
    source = "$request_uri"
    for n in range(1, _REDACTED_ONE_BY_ONE + 1):
        head, tail = f"open311_uri_head_{n}", f"open311_uri_tail_{n}"
        pattern = f"~*^(?<{head}>.*[?&;]{unredacted})[^&;#]*(?<{tail}>.*)$"
        lines += [
            f"map {source} $open311_uri_{n} {{",
            f'    "{pattern}" "${{{head}}}{PLACEHOLDER}${{{tail}}}";',
            f"    default {source};",
            "}",
        ]
        source = f"$open311_uri_{n}"
    lines += [
        f"map {source} $open311_logged_uri {{",
        f'    "~*^(?<open311_uri_path>[^?]*)\\?(?:.*[&;])?{unredacted}"'
        f' "${{open311_uri_path}}?{PLACEHOLDER}";',
        f"    default {source};",
        "}",
        "map $http_referer $open311_logged_referer {",
        f'    "~^(?<open311_referer_path>[^?#]*)[?#]" "${{open311_referer_path}}?{PLACEHOLDER}";',
        "    default $http_referer;",
        "}",
        "log_format open311 '$remote_addr - - [$time_local] "
        '"$request_method $open311_logged_uri $server_protocol" $status $body_bytes_sent '
        '"$open311_logged_referer" "$http_user_agent" $request_time\';',
    ]
    return "\n".join(lines) + "\n"


def listen_address(host: str, port: int) -> str:
    """nginx's `listen` for a host and port: an IPv6 address goes in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_dir_for(port: int) -> Path:
    return RUN_ROOT / str(port)


def command(config: Path) -> list[str]:
    """nginx in the foreground on `config`, its startup errors on standard error rather than in
    the system's /var/log/nginx."""
    return [str(NGINX), "-p", str(config.parent), "-c", str(config), "-e", "stderr"]


def check(config: Path) -> str | None:
    """nginx's complaint about `config`, or None when it would start with it."""
    if not NGINX.is_file():
        return f"{NGINX} not found: install Debian's nginx-light (make does this)"
    result = subprocess.run(
        [*command(config), "-t", "-q"], capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        return None
    return result.stderr.strip() or f"nginx -t failed with status {result.returncode}"


def _error_pages() -> tuple[str, str]:
    """nginx's own errors (a body too large, gunicorn down or too slow) as GeoReport error lists
    in the format the app would have answered in."""
    pages = "".join(
        f"    error_page {status} @open311_{status}_$open311_error_format;\n" for status in ERRORS
    )
    locations = []
    for status, message in ERRORS.items():
        for fmt, content_type in CONTENT_TYPES.items():
            body = render(error_payload([(status, message)]), fmt, "errors").decode("utf-8")
            locations.append(
                f"\n    location @open311_{status}_{fmt} {{\n"
                # No type from the path's .json or .xml (mime.types): this one.
                "        types {}\n"
                f'        default_type "{content_type}";\n'
                # The headers the app gives its own errors (api/security.py).
                "        add_header X-Content-Type-Options nosniff always;\n"
                "        add_header Cache-Control no-store always;\n"
                f"        return {status} '{_quoted(body)}';\n"
                "    }\n"
            )
    return pages, "".join(locations)


def _quoted(text: str) -> str:
    """`text` for an nginx single-quoted string: escapes and variables taken literally."""
    if "$" in text:
        raise ValueError("an nginx string would expand the $ in " + repr(text))
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


def _fill(template: str, **values: str) -> str:
    # {{name}} placeholders: nginx's own braces and $variables stay as they are.
    return re.sub(r"\{\{(\w+)\}\}", lambda match: values[match.group(1)], template)


def _indent(text: str) -> str:
    return "".join(f"    {line}" if line.strip() else line for line in text.splitlines(True))
