"""Mapbox vector tiles of requests and districts, made by PostGIS (ST_AsMVT)."""

from __future__ import annotations

from open311.web.pages import page_blueprint

blp = page_blueprint("tiles", __name__)
