"""Two editors changing one article at once, with real concurrent transactions that commit (in
a database of their own, as tests/db/test_races.py does): the second waits for the first's
row lock and then numbers its revision after it, so revision numbers never collide (a 500 at
the unique constraint) and no change is lost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from open311.db.models import ArticleRevision, ArticleVariant, Jurisdiction
from open311.domain import knowledge
from tests.db.test_races import (  # noqa: F401 - fixtures
    Second,
    committed_url,
    engine,
    sessions,
    watcher,
)
from tests.factories import make_jurisdiction

NOW = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


def test_two_editors_of_one_article_take_turns(sessions, watcher):  # noqa: F811
    with sessions() as setup:
        city = make_jurisdiction(
            setup, jurisdiction_id=f"kb-{uuid.uuid4().hex[:8]}.example", name="KB city"
        )
        knowledge.create_article(
            setup, city, "bulk", {}, actor="staff:a", now=NOW, variants={"en": {"title": "A"}}
        )
        setup.commit()
        city_pk = city.id

    def second_editor() -> list[int]:
        with sessions() as session:
            mine = session.get_one(Jurisdiction, city_pk)
            article = knowledge.get_article(session, mine, "bulk", for_update=True)
            knowledge.put_variant(
                session, mine, article, "es", {"title": "B"}, actor="staff:b", now=NOW
            )
            session.commit()
            return [r.number for r in session.scalars(select(ArticleRevision))]

    with sessions() as first:
        ours = first.get_one(Jurisdiction, city_pk)
        article = knowledge.get_article(first, ours, "bulk", for_update=True)
        knowledge.put_variant(first, ours, article, "en", {"title": "A2"}, actor="staff:a", now=NOW)
        second = Second(second_editor)
        second.start_and_wait_until_blocked(watcher)
        assert second.thread.is_alive(), "the second editor did not wait for the first"
        first.commit()
        numbers = second.result()
        assert not isinstance(numbers, BaseException), numbers

    with sessions() as check:
        article = knowledge.get_article(check, check.get_one(Jurisdiction, city_pk), "bulk")
        revisions = check.scalars(
            select(ArticleRevision)
            .where(ArticleRevision.article_pk == article.id)
            .order_by(ArticleRevision.number)
        ).all()
        assert [(r.number, r.action, r.actor) for r in revisions] == [
            (1, "create", "staff:a"),
            (2, "translate", "staff:a"),
            (3, "edit", "staff:a"),
            (4, "translate", "staff:b"),
        ]
        titles = check.scalars(
            select(ArticleVariant.title)
            .where(ArticleVariant.article_pk == article.id)
            .order_by(ArticleVariant.locale)
        ).all()
        assert titles == ["A2", "B"]
