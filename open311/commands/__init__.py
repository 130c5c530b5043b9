"""Groups of the `open311` command, one module per area."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from open311.config import Settings


def app_session() -> Session:
    """A session of the app the command runs in; the command commits once, at its end."""
    return current_app.extensions["open311.sessions"]()


def app_settings() -> Settings:
    """The settings of the app the command runs in, as its config holds them."""
    return Settings.from_config(current_app.config)
