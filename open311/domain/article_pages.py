"""An article as its public page shows it: what the API's GET articles/{id} answers (the same
read, the same rules) and the languages it is written in, for the page's links to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from open311.db import article_search as queries
from open311.db.models import Jurisdiction
from open311.domain.article_search import PUBLIC, local_today, locale_chain, views_of
from open311.errors import NotFound
from open311.i18n import _
from open311.wire.articles import ArticleView


@dataclass(frozen=True)
class ArticlePage:
    """The article in the chain's best language, and every language it has."""

    view: ArticleView
    locales: tuple[str, ...]


def read_page(
    session: Session, jurisdiction: Jurisdiction, article_id: str, locale: str, now: datetime
) -> ArticlePage:
    """As `article_search.read` (published and valid today, else 404), with the article's
    languages: one query more would be needed to list them after `read`, none this way."""
    found = queries.get_article(
        session, jurisdiction.id, article_id, local_today(jurisdiction, now), PUBLIC
    )
    if found is None:
        raise NotFound(_("article_id %(id)s not found", id=article_id))
    chain = locale_chain(locale, jurisdiction.default_locale)
    view = views_of(session, jurisdiction, [found], chain)[0]
    return ArticlePage(view, tuple(variant.locale for variant in found.variants))
