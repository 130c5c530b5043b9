"""gunicorn's command line, the same behind nginx and alone."""

from __future__ import annotations

import logging
import sys
from typing import Any

from gunicorn.glogging import Logger

from open311.serving.redaction import SECRET_HEADERS, redact

# Health probes: left out of both access logs (here and nginx.py's).
UNLOGGED_PATHS = frozenset({"/healthz", "/readyz"})


def command(bind: str, workers: int, timeout_s: int) -> list[str]:
    """gunicorn serving the app with sync workers on `bind` ("HOST:PORT" or "unix:PATH"),
    its access log on standard output."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--workers",
        str(workers),
        # Several servers may run on one machine (tests, checkouts): no shared control socket.
        "--no-control-socket",
        # A worker busy longer than this is ended; nginx takes the answer at local speed, so
        # this bounds the app's own work, not the client's download.
        "--timeout",
        str(timeout_s),
        "--access-logfile",
        "-",
        # Its lines without secrets: an api_key in the query is written [REDACTED].
        "--logger-class",
        f"{RedactingLogger.__module__}.{RedactingLogger.__qualname__}",
        # Its hooks: JSON log lines in each worker, dead workers' gauges dropped from /metrics.
        "--config",
        "python:open311.serving.gunicorn_hooks",
        "open311:create_app()",
    ]


class RedactingLogger(Logger):
    """gunicorn's logger, whose access log writes no secret and no health probe: the request
    line, query, Referer and any URL-like value have their secret parameters' values redacted
    (redaction.redact), and the Authorization, Cookie and X-API-Key headers are left out,
    whatever the format (/healthz and /readyz are not logged at all). Its
    error log's messages are redacted too ("Error handling request /path?api_key=...")."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(f, _RedactMessages) for f in self.error_log.filters):
            self.error_log.addFilter(_RedactMessages())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        # The load balancer's probes every few seconds would drown the requests that matter.
        if environ.get("PATH_INFO") in UNLOGGED_PATHS:
            return
        super().access(resp, req, environ, request_time)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            if not isinstance(value, str):
                continue
            bare = name[1:-2].removeprefix("http_").replace("_", "-") if name[0] == "{" else ""
            if bare in SECRET_HEADERS:
                atoms[name] = "-"
            elif "=" in value:
                atoms[name] = redact(value)
        return atoms


class _RedactMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=" in message:
            record.msg, record.args = redact(message), ()
        return True
