"""The knowledge base, public: GET articles (search, filters, pages) and GET articles/{id},
in .json and .xml, in the caller's language (README "Articles: the public API and search")."""

from __future__ import annotations

from typing import Any

from flask import Response, g

from open311 import clock
from open311.api import database, links, ratelimits
from open311.api.article_schemas import ArticleArgs, ArticlesArgs
from open311.api.georeport_base import GeoReportBlueprint, respond
from open311.api.locales import content_locale
from open311.domain import article_search, jurisdictions
from open311.wire.articles import article_item

blp = GeoReportBlueprint(
    "articles",
    __name__,
    description="Knowledge base: the city's articles (standard answers), searched and read.",
)
blp.before_request(ratelimits.limit_calls)


@blp.route("/articles.<fmt>", methods=["GET"])
@blp.arguments(ArticlesArgs, location="query", as_kwargs=True)
def list_articles(jurisdiction_id: str | None = None, **args: Any) -> Response:
    """Articles: with `q` the best matches first (each with its `score`), else newest first;
    each in the `locale` (else Accept-Language) asked for when the article has it."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    locale = content_locale(jurisdiction)
    wanted = article_search.ArticleArgs(
        q=args.get("q"),
        service_code=args.get("service_code"),
        topic=args.get("topic"),
        page=args.get("page", 1),
        page_size=args.get("page_size"),
    )
    page = article_search.search(session, jurisdiction, wanted, locale, clock.now())
    items = [article_item(found.view, score=found.score) for found in page.items]
    response = respond(items, "articles")
    response.headers["X-Total-Count"] = str(page.total)
    response.headers["X-Page-Size"] = str(page.page_size)
    if page.more:
        response.headers["Link"] = links.next_page_link(
            page=str(page.page + 1), page_size=str(page.page_size)
        )
    return response


@blp.route("/articles/<article_id>.<fmt>", methods=["GET"])
@blp.arguments(ArticleArgs, location="query", as_kwargs=True)
def get_article(article_id: str, jurisdiction_id: str | None = None, **_args: Any) -> Response:
    """One article, as a one-item list like GET requests/{id}: 404 unless published and valid
    today. Content-Language is the language it is said in."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    view = article_search.read(
        session, jurisdiction, article_id, content_locale(jurisdiction), clock.now()
    )
    g.content_language = view.locale
    return respond([article_item(view)], "articles")
