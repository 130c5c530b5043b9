"""GET /healthz and GET /readyz, for a load balancer or an orchestrator.

/healthz: the process answers; nothing else is touched (a database outage must not get every
worker restarted). /readyz: the process can serve: the database answers, its schema is at the
migrations' head, and Redis answers when the rate limits are on. Each answers JSON naming every
check's result, 200 when all pass, else 503.

Neither needs a key, counts against a rate limit (the limits are the GeoReport blueprints'
hooks; these routes are the app's own), nor is refused for its Host (security.check_host: a
load balancer's probe names the node's address), nor appears in the access logs.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy import text

from open311.api import database, ratelimits
from open311.db import migrate

log = logging.getLogger(__name__)

OK = "ok"


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)


def healthz() -> Response:
    return _answer({"process": OK})


def readyz() -> Response:
    checks: dict[str, str] = {}
    try:
        with database.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
            checks["database"] = OK
            current = migrate.current_revision(connection)
    except Exception as error:
        # The cause goes to the log, not to an unauthenticated caller (it may name hosts).
        log.warning("readyz: the database cannot be reached: %s", type(error).__name__)
        checks["database"] = "unreachable"
        checks["migrations"] = "unknown"
    else:
        head = _head()
        checks["migrations"] = OK if current == head else f"at {current}, not at head {head}"
    redis = ratelimits.redis_answers()
    checks["redis"] = "off" if redis is None else OK if redis else "unreachable"
    return _answer(checks)


@cache
def _head() -> str | None:
    return migrate.head_revision()


def _answer(checks: dict[str, str]) -> Response:
    ready = all(value in (OK, "off") for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if ready else "failing", "checks": checks}
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
