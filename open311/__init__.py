"""open311: an Open311 GeoReport v2 server with a 311 back office, on PostgreSQL + PostGIS."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: dict | None = None) -> Flask:
    """Build the WSGI app; nothing touches the database until a request or command needs it."""
    from open311.app import build_app

    return build_app(config)
