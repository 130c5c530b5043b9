"""The selects and inserts of the knowledge base's authoring side: a city's articles (every
state), their variants, topics, revisions and the calls they answered. Search lives in
db/article_search.py."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from open311.db.models import (
    Article,
    ArticleAnswer,
    ArticleRevision,
    ArticleTopic,
    ArticleVariant,
    Jurisdiction,
    Service,
    Translation,
)
from open311.values import ArticleState

TOPIC_CONTEXT = "topic"  # Translation.context of a topic's name

_WITH_VARIANTS = (selectinload(Article.variants), selectinload(Article.topic))


@dataclass(frozen=True)
class ArticleFilter:
    """What a staff list of articles may be narrowed to (None: any)."""

    state: ArticleState | None = None
    topic_id: int | None = None
    locale: str | None = None
    service_code: str | None = None


def get_article(
    session: Session, jurisdiction: Jurisdiction, article_id: str, *, for_update: bool = False
) -> Article | None:
    """One article of the city by its public id, any state, with its variants; `for_update`
    locks its row, so that two changes of one article take their turns (revision numbers)."""
    query = select(Article).where(
        Article.jurisdiction_id == jurisdiction.id, Article.article_id == article_id
    )
    if for_update:
        query = query.with_for_update(of=Article)
    return session.scalar(query.options(*_WITH_VARIANTS))


def find_articles(
    session: Session,
    jurisdiction: Jurisdiction,
    where: ArticleFilter = ArticleFilter(),  # noqa: B008 - frozen, never changed
    *,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[Article]:
    """The city's articles narrowed by `where`, by article_id, with their variants."""
    query = select(Article).where(Article.jurisdiction_id == jurisdiction.id)
    if where.state is not None:
        query = query.where(Article.state == where.state)
    if where.topic_id is not None:
        query = query.where(Article.topic_id == where.topic_id)
    if where.service_code is not None:
        query = query.where(Article.service_codes.contains([where.service_code]))
    if where.locale is not None:
        query = query.where(
            select(ArticleVariant.id)
            .where(ArticleVariant.article_pk == Article.id, ArticleVariant.locale == where.locale)
            .exists()
        )
    query = query.order_by(Article.article_id).offset(offset).options(*_WITH_VARIANTS)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()


def add_article(session: Session, article: Article) -> Article:
    session.add(article)
    session.flush()
    return article


def add_variant(session: Session, variant: ArticleVariant) -> ArticleVariant:
    session.add(variant)
    session.flush()
    return variant


def delete_variant(session: Session, variant: ArticleVariant) -> None:
    session.delete(variant)
    session.flush()


# --- topics -------------------------------------------------------------------------------------


def get_topic(session: Session, jurisdiction: Jurisdiction, code: str) -> ArticleTopic | None:
    return session.scalar(
        select(ArticleTopic).where(
            ArticleTopic.jurisdiction_id == jurisdiction.id, ArticleTopic.code == code
        )
    )


def find_topics(session: Session, jurisdiction: Jurisdiction) -> Sequence[ArticleTopic]:
    """The city's topics: themes (no parent) first, then the topics under them, each by code."""
    return session.scalars(
        select(ArticleTopic)
        .where(ArticleTopic.jurisdiction_id == jurisdiction.id)
        .order_by(ArticleTopic.parent_id.is_not(None), ArticleTopic.code)
        .options(selectinload(ArticleTopic.parent))
    ).all()


def find_topic_codes(session: Session, jurisdiction: Jurisdiction) -> set[str]:
    return set(
        session.scalars(
            select(ArticleTopic.code).where(ArticleTopic.jurisdiction_id == jurisdiction.id)
        )
    )


def count_children(session: Session, topic: ArticleTopic) -> int:
    return session.scalar(
        select(func.count()).select_from(ArticleTopic).where(ArticleTopic.parent_id == topic.id)
    )


def add_topic(session: Session, topic: ArticleTopic) -> ArticleTopic:
    session.add(topic)
    session.flush()
    return topic


def find_topic_names(
    session: Session, jurisdiction: Jurisdiction, sources: Iterable[str]
) -> dict[str, dict[str, str]]:
    """The translations of these topic names: source -> {locale: text}."""
    wanted = list(set(sources))
    if not wanted:
        return {}
    rows = session.execute(
        select(Translation.source, Translation.locale, Translation.text).where(
            Translation.jurisdiction_id == jurisdiction.id,
            Translation.context == TOPIC_CONTEXT,
            Translation.source.in_(wanted),
        )
    )
    found: dict[str, dict[str, str]] = {}
    for source, locale, text in rows:
        found.setdefault(source, {})[locale] = text
    return found


def get_translation(
    session: Session, jurisdiction: Jurisdiction, locale: str, context: str, source: str
) -> Translation | None:
    return session.scalar(
        select(Translation).where(
            Translation.jurisdiction_id == jurisdiction.id,
            Translation.locale == locale,
            Translation.context == context,
            func.md5(Translation.source) == func.md5(source),
            Translation.source == source,
        )
    )


def add_translation(session: Session, translation: Translation) -> Translation:
    session.add(translation)
    session.flush()
    return translation


# --- revisions and answers ------------------------------------------------------------------------


def next_revision_number(session: Session, article: Article) -> int:
    """One more than the article's last revision (1 for the first); the caller holds the
    article's row lock (get_article(for_update=True)) or has just created it."""
    last = session.scalar(
        select(func.max(ArticleRevision.number)).where(ArticleRevision.article_pk == article.id)
    )
    return (last or 0) + 1


def add_revision(session: Session, revision: ArticleRevision) -> ArticleRevision:
    session.add(revision)
    session.flush()
    return revision


def find_revisions(
    session: Session, article: Article, *, limit: int | None = None, offset: int = 0
) -> Sequence[ArticleRevision]:
    """The article's revisions, newest first."""
    query = (
        select(ArticleRevision)
        .where(ArticleRevision.article_pk == article.id)
        .order_by(ArticleRevision.number.desc())
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()


def add_answer(session: Session, answer: ArticleAnswer) -> ArticleAnswer:
    session.add(answer)
    session.flush()
    return answer


def count_answers(session: Session, article: Article, *, since: datetime | None = None) -> int:
    query = (
        select(func.count())
        .select_from(ArticleAnswer)
        .where(ArticleAnswer.article_pk == article.id)
    )
    if since is not None:
        query = query.where(ArticleAnswer.answered_at >= since)
    return session.scalar(query)


# --- the city's services, for the codes an article names ------------------------------------------


def find_service_codes(session: Session, jurisdiction: Jurisdiction) -> set[str]:
    """Every service code of the city, inactive services' too."""
    return set(
        session.scalars(
            select(Service.service_code).where(Service.jurisdiction_id == jurisdiction.id)
        )
    )
