"""What a knowledge-base article's texts become before they are stored: NFC, canonical
locale tags, a body rendered from Markdown or taken as HTML and then sanitised to a short
allow-list, and the search fields derived from the title and keywords.

An article's HTML is written by staff (or imported) and served to the public, to call-takers'
screens and to third-party apps, so it is cleaned here, once, on the way in: nothing a browser
would run (script, style, event handlers, javascript: URLs) survives, only the tags of a text.
Markdown is rendered with raw HTML disabled and then cleaned the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import nh3
from markdown_it import MarkdownIt

from open311 import i18n
from open311.domain import search_text
from open311.errors import InvalidInput
from open311.wire.formats import XML_FORBIDDEN

# The tags of a text (and of a table); every other tag is dropped, its text kept.
ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "ul",
        "ol",
        "li",
        "strong",
        "em",
        "b",
        "i",
        "a",
        "h2",
        "h3",
        "h4",
        "blockquote",
        "code",
        "pre",
        "table",
        "caption",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href"}, "th": {"colspan", "rowspan"}, "td": {"colspan", "rowspan"}}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# Dropped with their content: their text is code or markup, not words for a reader.
CLEANED_WITH_CONTENT = frozenset(
    {"script", "style", "template", "noscript", "iframe", "object", "title", "textarea"}
)
BODY_FORMATS = ("html", "markdown")

MAX_TITLE = 255
MAX_TEXT = 4_000  # summary, keywords, answer text
MAX_BODY = 100_000  # a body as written: pages of rules with tables (a whole body fits 1 MiB)
MAX_STEPS = 50
MAX_STEP = 2_000


def sanitise_html(html: str) -> str:
    """`html` with only ALLOWED_TAGS, links only to http(s)/mailto/tel with
    rel="noopener noreferrer", no comments; NFC, surrounding blanks removed."""
    cleaned = nh3.clean(
        i18n.normalise(html),
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(CLEANED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
        url_relative="deny",  # a relative link means nothing in a third-party app
    )
    return cleaned.strip()


@cache
def _markdown() -> MarkdownIt:
    # CommonMark, with raw HTML off (written as text) and GFM tables on; the HTML it makes is
    # sanitised afterwards all the same.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


# An article's page has its own title: Markdown's headings start at h2 (# -> h2), and end at h4.
_HEADINGS = {"h1": "h2", "h5": "h4", "h6": "h4"}


def markdown_to_html(source: str) -> str:
    """CommonMark `source` as sanitised HTML, its headings moved into h2-h4."""
    md = _markdown()
    tokens = md.parse(i18n.normalise(source))
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = _HEADINGS.get(token.tag, token.tag)
    return sanitise_html(md.renderer.render(tokens, md.options, {}))


def canonical_locale(field_name: str, tag: Any) -> str:
    """`tag` as canonical BCP 47 (es_mx -> es-MX); an unknown or malformed one is a 400
    naming `field_name`."""
    found = i18n.canonical(tag) if isinstance(tag, str) else None
    if found is None:
        raise InvalidInput(f"{field_name}: {str(tag)[:40]!r} is not a known language tag")
    return found


def plain(field_name: str, value: Any, *, max_length: int = MAX_TEXT) -> str | None:
    """A plain-text field: NFC, blanks around removed, None when empty; not a string, too
    long or with characters XML cannot carry is a 400 naming `field_name`."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field_name}: must be text")
    text = i18n.normalise(value).strip()
    if XML_FORBIDDEN.search(text):
        raise InvalidInput(f"{field_name}: contains control characters")
    if len(text) > max_length:
        raise InvalidInput(f"{field_name}: at most {max_length} characters")
    return text or None


@dataclass(frozen=True)
class VariantText:
    """One language of an article as stored (the columns of ArticleVariant it sets)."""

    locale: str
    title: str
    summary: str | None
    body: str
    body_format: str
    body_source: str | None
    steps: list[str] = field(default_factory=list)
    keywords: str | None = None
    answer_text: str | None = None
    search_config: str = search_text.SIMPLE
    match_text: str = ""

    def columns(self) -> dict[str, Any]:
        """The values to set on an ArticleVariant."""
        return {
            "title": self.title,
            "summary": self.summary,
            "body": self.body,
            "body_format": self.body_format,
            "body_source": self.body_source,
            "steps": list(self.steps),
            "keywords": self.keywords,
            "answer_text": self.answer_text,
            "search_config": self.search_config,
            "match_text": self.match_text,
        }


VARIANT_FIELDS = ("title", "summary", "body", "body_format", "steps", "keywords", "answer_text")


def prepare_variant(locale: str, data: Mapping[str, Any], *, path: str = "") -> VariantText:
    """A variant as stored, from what a client or a document wrote (the VARIANT_FIELDS;
    body_format 'html' by default). Every problem is reported at once, each prefixed with
    `path` (such as "articles[3].variants.es."), in one InvalidInput."""
    problems: list[str] = []

    def checked(name: str, check, *args: Any, **kw: Any) -> Any:
        try:
            return check(f"{path}{name}", *args, **kw)
        except InvalidInput as error:
            problems.extend(error.problems)
            return None

    problems += [f"{path}{name}: unknown field" for name in data if name not in VARIANT_FIELDS]
    title = checked("title", plain, data.get("title"), max_length=MAX_TITLE)
    if title is None and not any(p.startswith(f"{path}title:") for p in problems):
        problems.append(f"{path}title: required")
    summary = checked("summary", plain, data.get("summary"))
    keywords = checked("keywords", plain, data.get("keywords"))
    answer_text = checked("answer_text", plain, data.get("answer_text"))
    body_format = data.get("body_format") or "html"
    if body_format not in BODY_FORMATS:
        problems.append(f"{path}body_format: one of {', '.join(BODY_FORMATS)}")
        body_format = "html"
    body, body_source = checked("body", _body, data.get("body"), body_format) or ("", None)
    steps = checked("steps", _steps, data.get("steps")) or []
    if problems:
        raise InvalidInput(*problems)
    assert title is not None
    return VariantText(
        locale=locale,
        title=title,
        summary=summary,
        body=body,
        body_format=body_format,
        body_source=body_source,
        steps=steps,
        keywords=keywords,
        answer_text=answer_text,
        search_config=search_text.search_config(locale),
        match_text=search_text.match_text(title, keywords),
    )


def _body(field_name: str, value: Any, body_format: str) -> tuple[str, str | None]:
    """(the HTML served, the Markdown it was written as or None)."""
    if value is None:
        return "", None
    if not isinstance(value, str):
        raise InvalidInput(f"{field_name}: must be text")
    if len(value) > MAX_BODY:
        raise InvalidInput(f"{field_name}: at most {MAX_BODY} characters")
    if XML_FORBIDDEN.search(value):
        raise InvalidInput(f"{field_name}: contains control characters")
    if body_format == "markdown":
        source = i18n.normalise(value).strip()
        return markdown_to_html(source), source or None
    # HTML as written is not kept: what was cleaned away must not be served by mistake later.
    return sanitise_html(value), None


def _steps(field_name: str, value: Any) -> list[str]:
    """The steps as sanitised HTML fragments, in order; a step left empty by cleaning is a
    mistake worth telling (it was only markup)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(step, str) for step in value):
        raise InvalidInput(f"{field_name}: must be a list of texts")
    if len(value) > MAX_STEPS:
        raise InvalidInput(f"{field_name}: at most {MAX_STEPS} steps")
    problems: list[str] = []
    cleaned: list[str] = []
    for number, step in enumerate(value):
        if len(step) > MAX_STEP or XML_FORBIDDEN.search(step):
            problems.append(f"{field_name}[{number}]: at most {MAX_STEP} characters of text")
            continue
        html = sanitise_html(step)
        if not nh3.clean(html, tags=set()).strip():  # no words, only markup
            problems.append(f"{field_name}[{number}]: empty")
        cleaned.append(html)
    if problems:
        raise InvalidInput(*problems)
    return cleaned
