"""Arguments and answer of the call-takers' knowledge-base search (GET /api/v1/article-search)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from open311.api.smorest import BaseSchema
from open311.domain.article_search import MAX_PAGE_SIZE, MAX_PAGED_ROWS, MAX_QUERY_CHARS


class ArticleSearchArgs(BaseSchema):
    q = fields.String(
        validate=validate.Length(max=MAX_QUERY_CHARS),
        metadata={"description": "what the caller said, as typed; at most 16 words"},
    )
    locale = fields.String(
        validate=validate.Length(max=35),
        metadata={"description": "the caller's language (BCP 47); unknown: the city's default"},
    )
    service_code = fields.String(validate=validate.Length(max=64))
    topic = fields.String(validate=validate.Length(max=100))
    jurisdiction_id = fields.String(validate=validate.Length(max=255))
    state = fields.String(
        validate=validate.OneOf(("published", "draft")),
        metadata={"description": "draft: drafts too (editors and administrators)"},
    )
    page = fields.Integer(validate=validate.Range(1, MAX_PAGED_ROWS))
    page_size = fields.Integer(validate=validate.Range(1, MAX_PAGE_SIZE))


class NamedOut(Schema):
    code = fields.String()
    name = fields.String()


class RelatedServiceOut(Schema):
    service_code = fields.String()
    service_name = fields.String()


class ArticleHitOut(Schema):
    article_id = fields.String()
    title = fields.String()
    summary = fields.String(allow_none=True)
    body = fields.String(metadata={"description": "sanitised HTML"})
    steps = fields.List(fields.String(), metadata={"description": "HTML fragments, in order"})
    keywords = fields.String(allow_none=True)
    answer_text = fields.String(allow_none=True, metadata={"description": "read this out"})
    topic = fields.Nested(NamedOut, allow_none=True)
    theme = fields.Nested(NamedOut, allow_none=True)
    services = fields.List(fields.Nested(RelatedServiceOut))
    valid_from = fields.String(allow_none=True)
    valid_until = fields.String(allow_none=True)
    contact = fields.String(allow_none=True)
    locale = fields.String(metadata={"description": "the language this variant is in"})
    dir = fields.String(metadata={"description": "ltr or rtl"})
    updated_datetime = fields.String()
    state = fields.String()
    score = fields.Float(allow_none=True)


class ArticleSearchOut(Schema):
    total = fields.Integer(metadata={"description": "articles matching in all"})
    page = fields.Integer()
    page_size = fields.Integer()
    locale = fields.String(metadata={"description": "the caller's language as negotiated"})
    articles = fields.List(fields.Nested(ArticleHitOut))
