"""Access logs' redaction: which query values are secrets, and gunicorn's atoms without them."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from open311.serving.gunicorn import RedactingLogger
from open311.serving.redaction import redact


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        (
            "GET /open311/v2/webhooks.json?api_key=s3cret&x=1 HTTP/1.1",
            "GET /open311/v2/webhooks.json?api_key=[REDACTED]&x=1 HTTP/1.1",
        ),
        ("api_key=a&API_KEY=b;token=c", "api_key=[REDACTED]&API_KEY=[REDACTED];token=[REDACTED]"),
        (
            "https://a.example/p?q=monkey&password=hunter2#top",
            "https://a.example/p?q=monkey&password=[REDACTED]#top",
        ),
        ("/p?api%5Fkey=zz&client_secret=yy", "/p?api%5Fkey=[REDACTED]&client_secret=[REDACTED]"),
        ("/requests.json?service_code=key&q=token", "/requests.json?service_code=key&q=token"),
        ("/keys/token=1", "/keys/token=1"),  # a path, not a query
        (
            "GET /api/v1/privacy/export?email=ana%40example.org HTTP/1.1",
            "GET /api/v1/privacy/export?email=[REDACTED] HTTP/1.1",
        ),
        ("/p?phone=555-0100&page=2", "/p?phone=[REDACTED]&page=2"),
    ],
)
def test_redact(text, logged):
    assert redact(text) == logged


def test_gunicorn_access_atoms_carry_no_secret():
    logger = RedactingLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/open311/v2/services.json?api_key=s3cret-1",
        "SERVER_PROTOCOL": "HTTP/1.0",
        "PATH_INFO": "/open311/v2/services.json",
        "QUERY_STRING": "api_key=s3cret-1",
        "HTTP_REFERER": "https://app.example.org/?token=s3cret-2",
        "HTTP_X_API_KEY": "s3cret-3",
        "HTTP_AUTHORIZATION": "Bearer s3cret-4",
    }
    headers = [
        ("X-API-KEY", "s3cret-3"),
        ("AUTHORIZATION", "Bearer s3cret-4"),
        ("REFERER", "https://app.example.org/?token=s3cret-2"),
    ]
    response = SimpleNamespace(status="200 OK", sent=2, headers=[])

    atoms = logger.atoms(response, SimpleNamespace(headers=headers), environ, timedelta(0))

    assert atoms["r"] == "GET /open311/v2/services.json?api_key=[REDACTED] HTTP/1.0"
    assert atoms["q"] == "api_key=[REDACTED]"
    assert atoms["f"] == "https://app.example.org/?token=[REDACTED]"
    assert "s3cret" not in repr(atoms)


def test_gunicorn_error_log_messages_carry_no_secret(caplog):
    logger = RedactingLogger(Config())
    logger.error_log.propagate = True  # for caplog; gunicorn's own handlers are its streams
    try:
        logger.exception("Error handling request %s", "/open311/v2/webhooks.json?api_key=s3cret-5")
    finally:
        logger.error_log.propagate = False

    assert "api_key=[REDACTED]" in caplog.text
    assert "s3cret" not in caplog.text
