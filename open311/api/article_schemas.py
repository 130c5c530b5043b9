"""Arguments of the public articles API (GET articles, GET articles/{id}): types and ranges;
the rules across them are domain/article_search's. Unknown parameters are ignored, as every
GeoReport read ignores them; `locale` (JurisdictionArgs) is any text, never a 400."""

from __future__ import annotations

from marshmallow import fields, validate

from open311.api.schemas import JurisdictionArgs
from open311.domain.article_search import MAX_PAGE_SIZE, MAX_PAGED_ROWS, MAX_QUERY_CHARS


class ArticleArgs(JurisdictionArgs):
    """GET articles/{article_id}: the city and the language."""


class ArticlesArgs(JurisdictionArgs):
    """GET articles: what the caller said, the filters and the page."""

    q = fields.String(
        validate=validate.Length(max=MAX_QUERY_CHARS),
        metadata={
            "description": "what the caller said, in any language the city serves: "
            "web-search syntax, misspellings forgiven; at most 16 words"
        },
    )
    service_code = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "articles whose answer may end in a request of this type"},
    )
    topic = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "a topic's code, or a theme's (its topics too)"},
    )
    page = fields.Integer(
        validate=validate.Range(1, MAX_PAGED_ROWS), metadata={"description": "1-based"}
    )
    page_size = fields.Integer(validate=validate.Range(1, MAX_PAGE_SIZE))
