"""The knowledge base for residents: /kb searches the city's public articles (the search of
GET articles, its rules and its ranking) and lists its topics; /kb/<article_id> is one article
in the reader's language, with links to its other languages and to report what it is about.

The bodies and steps are marked safe in the templates: the knowledge base stores them cleaned
by nh3 (domain/article_text.sanitise_html on every write), which is what the API serves too.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import nh3
from babel.dates import format_date
from flask import request

from open311 import clock, i18n
from open311.api import database
from open311.db import article_queries
from open311.db.models import Jurisdiction
from open311.domain import article_pages, article_search, knowledge
from open311.errors import InvalidInput
from open311.i18n import n_
from open311.web.city_choice import chosen_city
from open311.web.pages import current_page, page_blueprint, render, say_text
from open311.wire.articles import ArticleView

blp = page_blueprint("knowledge", __name__)

SNIPPET_CHARS = 220
MAX_LOCALE = 35  # as article_variant.locale
MAX_PAGE = 500  # article_search's MAX_PAGED_ROWS at its default page size


@dataclass(frozen=True)
class TopicLink:
    code: str
    name: str
    children: list[TopicLink]


def content_locale(city: Jurisdiction) -> str:
    """The page's language among the city's, as the API negotiates a `locale` (es-MX -> es ->
    the city's default); the articles' own fallback then applies to each."""
    offered = list(city.locales or ()) or [city.default_locale]
    return i18n.negotiate(current_page().locale, (), offered, city.default_locale)


def snippet(view: ArticleView) -> str:
    """What a result says under its title: the summary, else the body's first words as text."""
    if view.summary:
        return view.summary
    text = " ".join(html.unescape(nh3.clean(view.body, tags=set())).split())
    if len(text) <= SNIPPET_CHARS:
        return text
    return text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + "…"


def said_on(moment: datetime | None, city: Jurisdiction) -> str | None:
    """A day in the page's language, as the city's calendar has it."""
    if moment is None:
        return None
    return format_date(
        moment.astimezone(ZoneInfo(city.time_zone or "UTC")).date(),
        "long",
        locale=current_page().locale,
    )


def topic_tree(city: Jurisdiction, locale: str) -> list[TopicLink]:
    """The city's themes with their topics, named in `locale` where the city translated them."""
    session = database.session()
    topics = list(article_queries.find_topics(session, city))
    names = knowledge.topic_names(session, city, topics)

    def named(topic_id: int) -> str:
        said = names[topic_id]
        return said.get(locale) or said.get(locale.split("-")[0]) or next(iter(said.values()))

    themes = {t.id: TopicLink(t.code, named(t.id), []) for t in topics if t.parent is None}
    for topic in topics:
        if topic.parent is not None and topic.parent.id in themes:
            themes[topic.parent.id].children.append(TopicLink(topic.code, named(topic.id), []))
    return list(themes.values())


def _page_number() -> int:
    number = request.args.get("page", default=1, type=int) or 1
    return min(max(number, 1), MAX_PAGE)


@blp.route("/kb")
def search_articles() -> str:
    """Search box, results (title and snippet), the topics to browse."""
    choice = chosen_city()
    city = choice.city
    locale = content_locale(city)
    q = request.args.get("q", "")
    topic = request.args.get("topic", "").strip() or None
    wanted = article_search.ArticleArgs(q=q or None, topic=topic, page=_page_number())
    problem = None
    found = None
    try:
        found = article_search.search(database.session(), city, wanted, locale, clock.now())
    except InvalidInput as error:
        problem = "; ".join(say_text(p) for p in error.problems)
    topics = topic_tree(city, locale)
    topic_name = next(
        (t.name for theme in topics for t in (theme, *theme.children) if t.code == topic), None
    )
    heading = None
    if found is not None and q.strip():
        heading = n_(
            "%(count)s answer for “%(q)s”",
            "%(count)s answers for “%(q)s”",
            found.total,
            q=q.strip(),
        )
    elif found is not None and topic is not None:
        heading = n_(
            "%(count)s answer about %(topic)s",
            "%(count)s answers about %(topic)s",
            found.total,
            topic=topic_name or topic,
        )
    return render(
        "kb/search.html",
        choice=choice,
        q=q,
        topic=topic,
        topic_name=topic_name,
        problem=problem,
        found=found,
        heading=say_text(heading) if heading is not None else None,
        topics=topics,
        snippet=snippet,
        direction=i18n.direction,
        searched=bool(q.strip()) or topic is not None,
    )


@blp.route("/kb/<article_id>")
def show_article(article_id: str) -> str:
    """One article: its body, steps, languages, services to report, when it last changed."""
    choice = chosen_city()
    city = choice.city
    asked = request.args.get("language", "").strip()[:MAX_LOCALE]
    locale = asked or content_locale(city)
    shown = article_pages.read_page(database.session(), city, article_id[:100], locale, clock.now())
    view = shown.view
    return render(
        "kb/article.html",
        choice=choice,
        article=view,
        locales=shown.locales,
        article_dir=i18n.direction(view.locale),
        updated=said_on(view.updated, city),
        valid_until=(
            format_date(view.valid_until, "long", locale=current_page().locale)
            if view.valid_until
            else None
        ),
    )
