"""Searching and reading a city's knowledge base: which articles, in which language, which page.

The rules (README "Articles: the public API and search" says the same to clients):

- Public reads see published articles valid on the city's date today (`valid_from` <= today <=
  `valid_until`, an empty bound open); staff may also ask for drafts (`states`). A retired,
  draft, expired or not yet valid article is not found, like an unknown one.
- The language: each article is said in the first of the locale chain it has a variant in:
  the locale negotiated for the answer (api/locales), its language (es-MX -> es), the city's
  default; else in the first language it has. The item's `locale` says which.
- `q` (NFC-normalised) is at most MAX_QUERY_CHARS characters and MAX_QUERY_WORDS words, as
  GET requests' is; it is parsed with the text-search configuration of every language the
  city serves, so a caller's words find the article in whatever language they came in.
- `topic` is a topic's code or a theme's (a theme takes in its topics); an unknown one is a
  400 naming it. `service_code` keeps the articles that may end in a request of that type.
- Pages: `page` (1-based) of `page_size` (default DEFAULT_PAGE_SIZE, at most MAX_PAGE_SIZE);
  page x page_size at most MAX_PAGED_ROWS. With `q`: best first; without: newest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from open311 import i18n
from open311.db import article_search as queries
from open311.db.models import Article, ArticleTopic, ArticleVariant, Jurisdiction
from open311.domain import search_text
from open311.domain.request_search import MAX_QUERY_WORDS
from open311.errors import InvalidInput, NotFound
from open311.i18n import _
from open311.values import ArticleState
from open311.wire.articles import ArticleView, Named

MAX_QUERY_CHARS = 500
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGED_ROWS = 10_000
# Folded words shorter than this are left to full text (trigrams of "my" find everything).
MIN_TRIGRAM_WORD = 3
PUBLIC = (ArticleState.published,)
WITH_DRAFTS = (ArticleState.published, ArticleState.draft)


@dataclass(frozen=True)
class ArticleArgs:
    """A search's arguments, each already well-formed (the API's schema checked types)."""

    q: str | None = None
    service_code: str | None = None
    topic: str | None = None
    page: int = 1
    page_size: int | None = None
    states: tuple[ArticleState, ...] = PUBLIC


@dataclass(frozen=True)
class Found:
    """One article of a result: what to show, and its score when searched with q."""

    view: ArticleView
    score: float | None


@dataclass(frozen=True)
class ArticlePage:
    items: list[Found]
    total: int
    page: int
    page_size: int

    @property
    def more(self) -> bool:
        return self.page * self.page_size < self.total


def locale_chain(locale: str, default: str) -> tuple[str, ...]:
    """The languages an article may be said in, best first: `locale`, its language, the
    city's `default` (and its language)."""
    chain: list[str] = []
    for tag in (locale, default):
        for candidate in (tag, tag.split("-")[0]):
            if candidate and candidate not in chain:
                chain.append(candidate)
    return tuple(chain)


def local_today(jurisdiction: Jurisdiction, now: datetime) -> date:
    """The city's date at `now`: a rule that starts on the 1st starts at the city's midnight."""
    return now.astimezone(ZoneInfo(jurisdiction.time_zone or "UTC")).date()


def search(
    session: Session, jurisdiction: Jurisdiction, args: ArticleArgs, locale: str, now: datetime
) -> ArticlePage:
    """The page of the city's articles matching `args`, each in the language of the chain."""
    planned = plan(session, jurisdiction, args, now)
    found = queries.find_articles(session, planned)
    chain = locale_chain(locale, jurisdiction.default_locale)
    views = views_of(session, jurisdiction, [hit.article for hit in found.hits], chain)
    items = [Found(view, hit.score) for view, hit in zip(views, found.hits, strict=True)]
    return ArticlePage(items, found.total, args.page, planned.limit)


def plan(
    session: Session, jurisdiction: Jurisdiction, args: ArticleArgs, now: datetime
) -> queries.ArticleSearch:
    """The database search of `args` by the module's rules (400 for what breaks them)."""
    page_size = args.page_size or DEFAULT_PAGE_SIZE
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page_size: between 1 and {MAX_PAGE_SIZE}")
    if args.page < 1:
        raise InvalidInput("page: 1 or more")
    if args.page * page_size > MAX_PAGED_ROWS:
        raise InvalidInput(
            _("page: page x page_size may reach row %(max)s at most", max=f"{MAX_PAGED_ROWS:,}")
        )
    topics = None
    if args.topic is not None:
        topics = queries.topic_ids(session, jurisdiction.id, args.topic)
        if topics is None:
            raise InvalidInput(_("topic: %(topic)s is not a topic or theme here", topic=args.topic))
    return queries.ArticleSearch(
        jurisdiction_pk=jurisdiction.id,
        today=local_today(jurisdiction, now),
        states=args.states,
        service_code=args.service_code,
        topic_ids=topics,
        text=_parse(session, jurisdiction, args.q),
        limit=page_size,
        offset=(args.page - 1) * page_size,
    )


def read(
    session: Session,
    jurisdiction: Jurisdiction,
    article_id: str,
    locale: str,
    now: datetime,
    states: tuple[ArticleState, ...] = PUBLIC,
) -> ArticleView:
    """One article in the language of the chain; 404 when the city has none by that id that
    is in `states` and valid today."""
    found = queries.get_article(
        session, jurisdiction.id, article_id, local_today(jurisdiction, now), states
    )
    if found is None:
        raise NotFound(_("article_id %(id)s not found", id=article_id))
    chain = locale_chain(locale, jurisdiction.default_locale)
    return views_of(session, jurisdiction, [found], chain)[0]


def bounded_query(q: str | None) -> str | None:
    """`q` NFC-normalised and stripped, None when blank; 400 beyond the bounds."""
    if q is None:
        return None
    text = i18n.normalise(q).strip()
    if not text:
        return None
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q: at most {MAX_QUERY_CHARS} characters")
    if len(text.split()) > MAX_QUERY_WORDS:
        raise InvalidInput(_("q: at most %(count)s words", count=MAX_QUERY_WORDS))
    return text


def _parse(
    session: Session, jurisdiction: Jurisdiction, q: str | None
) -> queries.ParsedText | None:
    text = bounded_query(q)
    if text is None:
        return None
    folded = search_text.fold(text)
    words = [w for w in re.findall(r"\w+", folded) if len(w) >= MIN_TRIGRAM_WORD]
    offered = [*(jurisdiction.locales or ()), jurisdiction.default_locale]
    configs = list(dict.fromkeys(search_text.search_config(tag) for tag in offered))
    return queries.parse_text(session, text, folded, list(dict.fromkeys(words)), configs)


def views_of(
    session: Session, jurisdiction: Jurisdiction, articles: list[Article], chain: tuple[str, ...]
) -> list[ArticleView]:
    """The articles as said in the chain's best language each has; topic, theme and service
    names in that language when the city translated them. Three queries at most per page."""
    chosen = [(article, choose_variant(article, chain)) for article in articles]
    topics = [t for article in articles for t in (article.topic, _theme(article.topic)) if t]
    codes = [code for article in articles for code in article.service_codes]
    names = queries.service_names(session, jurisdiction.id, codes)
    locales = list(dict.fromkeys(variant.locale for _article, variant in chosen))
    said_topics = queries.translations(
        session, jurisdiction.id, "topic", [t.name for t in topics], locales
    )
    said_services = queries.translations(
        session, jurisdiction.id, "service_name", names.values(), locales
    )
    views = []
    for article, variant in chosen:
        locale = variant.locale

        def named(topic: ArticleTopic | None, locale: str = locale) -> Named | None:
            if topic is None:
                return None
            return Named(topic.code, _said(said_topics, topic.name, locale))

        services = [
            Named(code, _said(said_services, names[code], locale))
            for code in article.service_codes
            if code in names
        ]
        views.append(
            ArticleView(
                article_id=article.article_id,
                locale=locale,
                title=variant.title,
                summary=variant.summary,
                body=variant.body,
                steps=list(variant.steps or ()),
                keywords=variant.keywords,
                answer_text=variant.answer_text,
                topic=named(article.topic),
                theme=named(_theme(article.topic)),
                services=services,
                valid_from=article.valid_from,
                valid_until=article.valid_until,
                contact=article.contact,
                updated=max(article.updated_at, variant.updated_at),
                state=article.state.value,
            )
        )
    return views


def choose_variant(article: Article, chain: tuple[str, ...]) -> ArticleVariant:
    """The article's variant in the first language of `chain` it has, else its first one."""
    by_locale = {variant.locale: variant for variant in article.variants}
    for tag in chain:
        if tag in by_locale:
            return by_locale[tag]
    languages = {variant.locale.split("-")[0]: variant for variant in article.variants}
    for tag in chain:
        if tag.split("-")[0] in languages:
            return languages[tag.split("-")[0]]
    return article.variants[0]


def _theme(topic: ArticleTopic | None) -> ArticleTopic | None:
    """The theme above a topic (a theme itself has none)."""
    return topic.parent if topic is not None else None


def _said(translated: dict[tuple[str, str], str], source: str, locale: str) -> str:
    """`source` in the article's `locale` when the city translated it, else as written: a
    topic's name is in the language of the article it heads, never in a third one."""
    return translated.get((source, locale), source)
