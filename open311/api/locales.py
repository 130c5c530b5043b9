"""The language of an answer: the `locale` parameter, else Accept-Language, of those the
jurisdiction lists (es-MX -> es -> the jurisdiction's default); never an error.

A view that says anything in a language calls `content_locale(jurisdiction)` once; the answer
then carries `Content-Language` and, since Accept-Language chose it, `Vary: Accept-Language`
(a cache must not give a Spanish answer to an English reader).
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from open311.db.models import Jurisdiction
from open311.i18n import negotiate


def accepted() -> list[str]:
    """The Accept-Language tags, best first (werkzeug parses and sorts by q)."""
    return [tag for tag, quality in request.accept_languages if quality > 0 and tag != "*"]


def content_locale(jurisdiction: Jurisdiction) -> str:
    """The locale this answer is written in, of `jurisdiction`'s locales; noted for the
    Content-Language header."""
    offered = list(jurisdiction.locales or ()) or [jurisdiction.default_locale]
    # A blank parameter counts as absent, as every GeoReport argument does (smorest.BaseSchema).
    asked = request.args.get("locale", "").strip() or None
    chosen = negotiate(asked, accepted(), offered, jurisdiction.default_locale)
    g.content_language = chosen
    return chosen


def _label(response: Response) -> Response:
    chosen = g.get("content_language")
    if chosen and "Content-Language" not in response.headers:
        response.headers["Content-Language"] = chosen
    if chosen or request.headers.get("Accept-Language"):
        response.vary.add("Accept-Language")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_label)
