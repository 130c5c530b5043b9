"""The public map at /: requests as vector tiles over the districts; a click opens one."""

from __future__ import annotations

from open311.web.pages import page_blueprint

blp = page_blueprint("home", __name__)
