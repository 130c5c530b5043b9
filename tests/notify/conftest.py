"""E-mail deliveries are queued only when an SMTP server is configured: these tests have one."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def smtp_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEN311_SMTP_HOST", "127.0.0.1")
