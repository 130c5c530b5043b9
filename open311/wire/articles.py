"""Knowledge-base articles on the wire: one payload for JSON and XML (wire/formats renders it).

An article is served in one language, the variant the locale chain chose: `locale` names it
and `dir` says how it is written ('rtl' for Arabic), so an app can lay it out without knowing
the language. The body and the steps are the sanitised HTML stored (domain/article_text), as
text: XML escapes them, JSON carries them as strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from open311.i18n import direction


@dataclass(frozen=True)
class Named:
    """A code with its name in the answer's language (a topic, a theme, a service)."""

    code: str
    name: str


@dataclass(frozen=True)
class ArticleView:
    """An article as said in one language, plain values only."""

    article_id: str
    locale: str
    title: str
    summary: str | None
    body: str
    steps: list[str]
    keywords: str | None
    answer_text: str | None
    topic: Named | None
    theme: Named | None
    services: list[Named] = field(default_factory=list)
    valid_from: date | None = None
    valid_until: date | None = None
    contact: str | None = None
    updated: datetime | None = None
    state: str = "published"


def article_item(
    view: ArticleView, *, score: float | None = None, with_state: bool = False
) -> dict[str, Any]:
    """The article as GeoReport-style plain data: JSON keeps nulls, XML leaves them out.
    `score` (lists searched with q) and `state` (staff) follow when given."""
    item: dict[str, Any] = {
        "article_id": view.article_id,
        "title": view.title,
        "summary": view.summary,
        "body": view.body,
        "steps": list(view.steps),
        "keywords": view.keywords,
        "answer_text": view.answer_text,
        "topic": _named(view.topic),
        "theme": _named(view.theme),
        "services": [
            {"service_code": service.code, "service_name": service.name}
            for service in view.services
        ],
        "valid_from": _day(view.valid_from),
        "valid_until": _day(view.valid_until),
        "contact": view.contact,
        "locale": view.locale,
        "dir": direction(view.locale),
        "updated_datetime": view.updated,
    }
    if with_state:
        item["state"] = view.state
    if score is not None:
        item["score"] = score
    return item


def _named(named: Named | None) -> dict[str, str] | None:
    return None if named is None else {"code": named.code, "name": named.name}


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
