"""The pages' files: our own CSS and scripts (open311/web/static) and the browser libraries that
`npm ci` installed (package-lock.json), served from this host, never from a CDN.

Only the files named in VENDOR are served from node_modules, by a short name that the templates
use; a library's version is in its lockfile, and each answer is cached for a day and revalidated
by its ETag (a new lockfile changes the bytes, and so the ETag).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

from open311.api import database

STATIC = Path(__file__).resolve().parent / "static"
# Short name -> path under node_modules. MapLibre's CSP build loads its worker from a file of
# ours rather than a blob: URL; Swagger UI's standalone bundle needs no other file.
VENDOR: dict[str, str] = {
    "maplibre-gl.js": "maplibre-gl/dist/maplibre-gl-csp.js",
    "maplibre-gl-csp-worker.js": "maplibre-gl/dist/maplibre-gl-csp-worker.js",
    "maplibre-gl.css": "maplibre-gl/dist/maplibre-gl.css",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}
MAX_AGE_S = 86400

blp = Blueprint("assets", __name__, url_prefix="/assets")
icon = Blueprint("favicon", __name__)


@icon.route("/favicon.ico")
def favicon() -> Response:
    """What a browser asks for by itself, on any page, an image or a stylesheet: our icon
    (an SVG, which browsers take here too) rather than a 404 in its console."""
    return send_from_directory(STATIC, "favicon.svg", mimetype="image/svg+xml", max_age=MAX_AGE_S)


@blp.route("/vendor/<name>")
def vendor(name: str) -> Response:
    relative = VENDOR.get(name)
    if relative is None:
        abort(404)
    modules = database.settings().node_modules
    path = modules / relative
    if not path.is_file():  # `npm ci` has not been run: say so in the log, 404 to the browser
        raise FileNotFoundError(f"{path} is missing: run `make` (npm ci) first")
    return send_from_directory(path.parent, path.name, max_age=MAX_AGE_S)


@blp.route("/<path:name>")
def static(name: str) -> Response:
    return send_from_directory(STATIC, name, max_age=MAX_AGE_S)
