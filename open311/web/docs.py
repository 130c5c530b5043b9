"""GET /docs: Swagger UI over /openapi.json, from the swagger-ui-dist package that `npm ci`
installed (assets.VENDOR); its start-up script is a file of ours (docs.js), not inline."""

from __future__ import annotations

from flask import url_for

from open311.web.pages import page_blueprint, render

blp = page_blueprint("docs", __name__)


@blp.route("/docs")
def api_docs() -> str:
    return render("docs.html", spec_url=url_for("api-docs.openapi_json"))
