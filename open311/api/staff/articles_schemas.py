"""Bodies, query strings and answers of the knowledge base's staff API (articles, their
languages, topics, revisions, answered calls, the whole base in and out).

The limits stated here are the ones domain/knowledge.py and domain/article_text.py check, so
that the document (/openapi.json) says them; the rules across fields (a topic that exists, a
service of the city, valid_until after valid_from) are the domain's alone.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from open311 import i18n
from open311.api.smorest import StaffBody
from open311.domain import article_text, kb_exchange, knowledge
from open311.i18n import MAX_TAG
from open311.values import ArticleState

SLUG = [validate.Regexp(knowledge.SLUG.pattern, error=knowledge.SLUG_RULE)]
NOT_BLANK = validate.Regexp(r"\S", error="not blank")
STATES = [state.value for state in ArticleState]
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


# The shape of a BCP 47 tag (language, then subtags); which languages exist is Babel's to say
# (domain/article_text.canonical_locale: "... is not a known language tag").
LOCALE_SHAPE = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$"


def _locale(description: str = "a BCP 47 language tag (es, es-MX, vi, ar, zh-Hant)", **kwargs):
    return fields.String(
        validate=[validate.Length(min=2, max=MAX_TAG), validate.Regexp(LOCALE_SHAPE)],
        metadata={"description": description},
        **kwargs,
    )


def _by_locale(values: fields.Field, description: str) -> fields.Dict:
    """language tag -> `values`; the tags are checked by the domain, which names a bad one."""
    return fields.Dict(keys=fields.String(), values=values, metadata={"description": description})


def _text(max_length: int = article_text.MAX_TEXT, **kwargs) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=max_length), **kwargs)


# --- bodies ---------------------------------------------------------------------------------------


class ArticleVariantBody(StaffBody):
    """The article in one language, whole: a field left out becomes empty."""

    title = fields.String(
        required=True, validate=[validate.Length(min=1, max=article_text.MAX_TITLE), NOT_BLANK]
    )
    summary = _text(metadata={"description": "plain text"})
    body = _text(
        article_text.MAX_BODY,
        metadata={"description": "HTML, or Markdown with body_format markdown; sanitised"},
    )
    body_format = fields.String(
        load_default="html", validate=validate.OneOf(article_text.BODY_FORMATS)
    )
    steps = fields.List(
        fields.String(validate=[validate.Length(min=1, max=article_text.MAX_STEP), NOT_BLANK]),
        load_default=list,
        validate=validate.Length(max=article_text.MAX_STEPS),
        metadata={"description": "what the caller does, in order; HTML fragments, sanitised"},
    )
    keywords = _text(metadata={"description": "words callers use, for search"})
    answer_text = _text(metadata={"description": "what a call-taker reads out; plain text"})


class ArticleChangeBody(StaffBody):
    topic = fields.String(allow_none=True, validate=SLUG, metadata={"description": "topic code"})
    service_codes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(max=knowledge.MAX_SERVICE_CODES),
        metadata={"description": "the city's services the answer may end in"},
    )
    valid_from = fields.Date(allow_none=True, metadata={"description": "offered from this day"})
    valid_until = fields.Date(allow_none=True, metadata={"description": "offered until this day"})
    contact = _text(2000, metadata={"description": "who callers may contact; plain text"})


class NewArticleBody(ArticleChangeBody):
    article_id = fields.String(
        required=True, validate=SLUG, metadata={"description": "public id, e.g. bulk-item-pickup"}
    )
    variants = _by_locale(fields.Nested(ArticleVariantBody), "its first languages, by language tag")


class ArticleAnswerBody(StaffBody):
    locale = _locale(required=True)
    service_request_id = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "the request the call also ended in"},
    )


class ArticleTopicChangeBody(StaffBody):
    name = fields.String(validate=[validate.Length(min=1, max=knowledge.MAX_TOPIC_NAME), NOT_BLANK])
    parent = fields.String(
        allow_none=True, validate=SLUG, metadata={"description": "a theme's code; null: a theme"}
    )
    names = _by_locale(
        fields.String(validate=[validate.Length(min=1, max=255), NOT_BLANK]),
        "the name in other languages, by language tag",
    )


class NewArticleTopicBody(ArticleTopicChangeBody):
    code = fields.String(required=True, validate=SLUG)
    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=knowledge.MAX_TOPIC_NAME), NOT_BLANK],
        metadata={"description": "in the city's default language"},
    )


# --- query strings --------------------------------------------------------------------------------


class KbCityArgs(Schema):
    jurisdiction_id = fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "one of the user's cities (default: the only or default one)"},
    )


class KbPageArgs(KbCityArgs):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE)
    )


class ArticleListArgs(KbPageArgs):
    state = fields.String(validate=validate.OneOf(STATES))
    topic = fields.String(validate=SLUG, metadata={"description": "articles of this topic code"})
    locale = _locale("articles with a variant in this language")
    service_code = fields.String(validate=validate.Length(min=1, max=64))


class KbExportArgs(KbCityArgs):
    format = fields.String(load_default="json", validate=validate.OneOf(kb_exchange.FORMATS))


# --- answers --------------------------------------------------------------------------------------


class StaffVariantOut(Schema):
    locale = fields.String()
    direction = fields.Function(
        lambda variant: i18n.direction(variant.locale),
        metadata={"description": "rtl or ltr", "type": "string"},
    )
    title = fields.String()
    summary = fields.String(allow_none=True)
    body = fields.String(metadata={"description": "sanitised HTML"})
    body_format = fields.String()
    body_source = fields.String(allow_none=True, metadata={"description": "the Markdown written"})
    steps = fields.List(fields.String())
    keywords = fields.String(allow_none=True)
    answer_text = fields.String(allow_none=True)
    updated_at = fields.DateTime()


class _ArticleFieldsOut(Schema):
    article_id = fields.String()
    topic = fields.String(allow_none=True, attribute="topic.code")
    service_codes = fields.List(fields.String())
    valid_from = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    contact = fields.String(allow_none=True)
    state = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)


class StaffArticleOut(_ArticleFieldsOut):
    variants = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(StaffVariantOut),
        metadata={"description": "language tag -> the article in that language"},
    )

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "variants":  # the model keeps a list; the answer is keyed by language
            return {variant.locale: variant for variant in obj.variants}
        return super().get_attribute(obj, attr, default)


class StaffArticleItemOut(_ArticleFieldsOut):
    titles = fields.Function(
        lambda article: {variant.locale: variant.title for variant in article.variants},
        metadata={"description": "locale -> title", "type": "object"},
    )


class ArticleRevisionOut(Schema):
    number = fields.Integer()
    locale = fields.String(allow_none=True, metadata={"description": "null: the article's own"})
    action = fields.String()
    actor = fields.String()
    at = fields.DateTime()
    changes = fields.Dict(metadata={"description": "field -> {from, to}; long texts shortened"})


class ArticleTopicOut(Schema):
    code = fields.String()
    name = fields.String()
    parent = fields.String(allow_none=True)
    names = fields.Dict(keys=fields.String(), values=fields.String())


class ArticleAnswerOut(Schema):
    article_id = fields.String()
    locale = fields.String()
    answered_at = fields.DateTime()
    service_request_id = fields.String(allow_none=True)


class KbImportOut(Schema):
    topics_created = fields.Integer()
    topics_updated = fields.Integer()
    topics_unchanged = fields.Integer()
    articles_created = fields.Integer()
    articles_updated = fields.Integer()
    articles_unchanged = fields.Integer()
    translations_written = fields.Integer()
    revisions = fields.Integer()


# The open311-kb/1 document as /openapi.json states it (POST /knowledge-base reads it itself,
# JSON or YAML, through domain/kb_exchange; README "A whole knowledge base in and out").
_NULLABLE_TEXT = {"type": "string", "nullable": True}
_SLUG = {"type": "string", "pattern": knowledge.SLUG.pattern}
KB_VARIANT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": article_text.MAX_TITLE},
        "summary": _NULLABLE_TEXT,
        "body": _NULLABLE_TEXT,
        "body_format": {"type": "string", "enum": list(article_text.BODY_FORMATS)},
        "steps": {"type": "array", "items": {"type": "string"}, "maxItems": article_text.MAX_STEPS},
        "keywords": _NULLABLE_TEXT,
        "answer_text": _NULLABLE_TEXT,
    },
}
KB_DOCUMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format"],
    "properties": {
        "format": {"type": "string", "enum": [kb_exchange.FORMAT]},
        "default_locale": {"type": "string", "pattern": LOCALE_SHAPE},
        "locales": {"type": "array", "items": {"type": "string", "pattern": LOCALE_SHAPE}},
        "topics": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "name"],
                "properties": {
                    "code": _SLUG,
                    "name": {
                        "description": "language tag -> name (the default language's required)",
                        "type": "object",
                        "additionalProperties": {"type": "string", "minLength": 1},
                    },
                    "parent": {**_SLUG, "nullable": True},
                },
            },
        },
        "articles": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["article_id", "variants"],
                "properties": {
                    "article_id": _SLUG,
                    "topic": {**_SLUG, "nullable": True},
                    "service_codes": {"type": "array", "items": {"type": "string"}},
                    "valid_from": {"type": "string", "format": "date", "nullable": True},
                    "valid_until": {"type": "string", "format": "date", "nullable": True},
                    "contact": _NULLABLE_TEXT,
                    "state": {"type": "string", "enum": STATES},
                    "variants": {
                        "description": "language tag -> the article in that language",
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": KB_VARIANT,
                    },
                },
            },
        },
    },
}
