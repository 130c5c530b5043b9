"""E-mail deliveries are queued only when an SMTP server is configured: these tests have one.
Their webhook receiver listens on 127.0.0.1, a private destination: allowed here."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def smtp_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEN311_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("OPEN311_WEBHOOK_ALLOW_PRIVATE", "1")
