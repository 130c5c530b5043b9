"""The knowledge base for residents: /kb search and article pages."""

from __future__ import annotations

from open311.web.pages import page_blueprint

blp = page_blueprint("knowledge", __name__)
