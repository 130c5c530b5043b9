"""How the city is doing: /city, the public request statistics and their charts."""

from __future__ import annotations

from open311.web.pages import page_blueprint

blp = page_blueprint("city", __name__)
