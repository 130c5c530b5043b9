"""Each request's id and its one log line: method, route rule, status, duration and request id.

The id is the caller's `X-Request-Id` when it is a sane token (1 to 128 visible ASCII
characters: a load balancer's or another service's id, so one request can be followed across
them), else a new UUID4; it is returned in the answer's `X-Request-Id` and carried by every log
record made while the request runs (a log record factory reads it), whichever logger writes it.

The line names the route rule (`/open311/v2/requests/<service_request_id>.<fmt>`), never the
URL: a path or query may hold an api_key, an e-mail address or a search for a person's name.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request

log = logging.getLogger("open311.requests")

HEADER = "X-Request-Id"
_SANE = re.compile(r"[!-~]{1,128}")
# Health probes come every few seconds from each load balancer: their lines are debug only.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


def init_app(app: Flask) -> None:
    """Registered before every other hook, so that even a refused Host has an id and a line."""
    app.before_request(_start)
    app.after_request(_finish)
    _install_record_factory()


def request_id() -> str | None:
    """This request's id; None outside a request."""
    return g.get("request_id") if has_request_context() else None


def _start() -> None:
    g.request_started = time.perf_counter()
    given = request.headers.get(HEADER, "")
    g.request_id = given if _SANE.fullmatch(given) else str(uuid.uuid4())


def route() -> str:
    """The rule the request matched, or "unmatched" (a 404's path is the caller's text)."""
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def duration_s() -> float:
    return time.perf_counter() - g.get("request_started", time.perf_counter())


def _finish(response: Response) -> Response:
    if "request_id" not in g:  # an answer made before _start (none today): still an id
        g.request_id = str(uuid.uuid4())
    response.headers[HEADER] = g.request_id
    level = logging.DEBUG if request.path in PROBE_PATHS else logging.INFO
    log.log(
        level,
        "%s %s %s",
        request.method,
        route(),
        response.status_code,
        extra={
            "method": request.method,
            "route": route(),
            "status": response.status_code,
            "duration_ms": round(duration_s() * 1000, 1),
        },
    )
    return response


def _install_record_factory() -> None:
    """Every record made during a request carries its request_id (once per process)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "open311_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        rid = request_id()
        if rid is not None:
            record.request_id = rid
        return record

    factory.open311_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
