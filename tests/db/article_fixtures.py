"""Knowledge-base articles for the search tests: a small city whose articles say real things
in English, Spanish, Vietnamese and Arabic, stored as the editing code stores them (NFC, the
language's text-search configuration, the folded match text)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from open311.db.models import Article, ArticleTopic, ArticleVariant, Jurisdiction
from open311.domain import search_text
from open311.i18n import normalise
from open311.values import ArticleState

NOW = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
TODAY = date(2026, 12, 5)


def make_topic(
    session: Session, city: Jurisdiction, code: str, name: str, parent: ArticleTopic | None = None
) -> ArticleTopic:
    topic = ArticleTopic(jurisdiction_id=city.id, code=code, name=name, parent=parent)
    session.add(topic)
    session.flush()
    return topic


def make_article(
    session: Session,
    city: Jurisdiction,
    article_id: str,
    variants: dict[str, dict[str, Any]],
    *,
    state: ArticleState = ArticleState.published,
    published_at: datetime = NOW,
    **fields: Any,
) -> Article:
    """An article with a variant per locale of `variants` ({locale: {title, body, ...}})."""
    article = Article(
        jurisdiction_id=city.id,
        article_id=article_id,
        state=state,
        published_at=published_at,
        **fields,
    )
    for locale, said in variants.items():
        title = normalise(said["title"])
        keywords = normalise(said["keywords"]) if said.get("keywords") else None
        article.variants.append(
            ArticleVariant(
                locale=locale,
                title=title,
                summary=said.get("summary"),
                body=normalise(said.get("body", "")),
                steps=said.get("steps", []),
                keywords=keywords,
                answer_text=said.get("answer_text"),
                search_config=search_text.search_config(locale),
                match_text=search_text.match_text(title, keywords),
            )
        )
    session.add(article)
    session.flush()
    return article


def make_city(session: Session, **overrides: Any) -> Jurisdiction:
    fields = {
        "jurisdiction_id": "kb.example.org",
        "name": "Knowledge City",
        "time_zone": "America/Chicago",
        "default_locale": "en",
        "locales": ["en", "es", "vi", "ar"],
    }
    city = Jurisdiction(**(fields | overrides))
    session.add(city)
    session.flush()
    return city


def seed_kb(session: Session, city: Jurisdiction) -> dict[str, Article]:
    """Five articles of a city, as a caller would ask for them."""
    waste = make_topic(session, city, "garbage-recycling", "Garbage & Recycling")
    collection = make_topic(session, city, "collection", "Collection", parent=waste)
    streets = make_topic(session, city, "streets", "Streets")
    made = {
        "bulk": make_article(
            session,
            city,
            "bulk-item-pickup",
            {
                "en": {
                    "title": "Schedule a bulk item pickup",
                    "keywords": "bulky, furniture, couch, mattress, appliances",
                    "body": "<p>Large items that do not fit in your trash cart are collected "
                    "twice a year.</p>",
                    "answer_text": "Bulk items are picked up twice a year at the curb.",
                    "steps": ["<p>Put items at the curb.</p>"],
                },
                "es": {
                    "title": "Recolección de artículos grandes",
                    "keywords": "muebles, colchón, sofá, electrodomésticos",
                    "body": "<p>Los artículos que no caben en su bote de basura se recogen "
                    "dos veces al año.</p>",
                },
                "vi": {
                    "title": "Bốc rác khối để lề đường",
                    "keywords": "đồ đạc, nệm, thảm",
                    "body": "<p>Rác quá lớn cho thùng rác được bốc hai lần mỗi năm.</p>",
                },
                "ar": {
                    "title": "جمع العناصر كبيرة الحجم",
                    "keywords": "أثاث، مراتب، سجاد",
                    "body": "<p>نجمع العناصر الكبيرة مرتين في السنة.</p>",
                },
            },
            topic=collection,
            service_codes=["BULKY"],
        ),
        "recycling": make_article(
            session,
            city,
            "trash-recycling-pickup",
            {
                "en": {
                    "title": "Look up your trash and recycling pickup days",
                    "keywords": "garbage, recycling, schedule, collection day",
                    "body": "<p>Find the day your garbage and recycling carts are emptied.</p>",
                },
                "es": {
                    "title": "Busque sus días de recolección de basura y reciclaje",
                    "keywords": "basura, reciclaje, horario",
                    "body": "<p>Encuentre el día de recolección.</p>",
                },
                "vi": {
                    "title": "Tìm ngày bốc rác thường và rác tái chế",
                    "keywords": "rác, tái chế, lịch",
                    "body": "<p>Tìm ngày bốc rác của quý vị.</p>",
                },
            },
            topic=collection,
        ),
        "pothole": make_article(
            session,
            city,
            "pothole-repair",
            {
                "en": {
                    "title": "Report a pothole",
                    "keywords": "road, street, hole, asphalt",
                    "body": "<p>Crews repair potholes within three business days.</p>",
                }
            },
            topic=streets,
            service_codes=["POTHOLE"],
        ),
        "paint": make_article(
            session,
            city,
            "pickup-free-paint",
            {
                "en": {
                    "title": "Pick up free paint",
                    "keywords": "paint, reuse",
                    "body": "<p>Recycled paint is free at the drop-off centre.</p>",
                }
            },
            topic=waste,
        ),
        "bats": make_article(
            session,
            city,
            "bat-safety",
            {
                "en": {
                    "title": "Keep yourself safe around bats",
                    "keywords": "rabies, bat bite",
                    "body": "<p>Never touch a bat. Call 3-1-1 if one is found inside.</p>",
                }
            },
        ),
    }
    return made
