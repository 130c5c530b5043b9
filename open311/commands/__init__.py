"""Groups of the `open311` command, one module per area."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session


def app_session() -> Session:
    """A session of the app the command runs in; the command commits once, at its end."""
    return current_app.extensions["open311.sessions"]()
