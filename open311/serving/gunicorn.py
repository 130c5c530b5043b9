"""gunicorn's command line, the same behind nginx and alone."""

from __future__ import annotations

import sys


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
        "open311:create_app()",
    ]
