"""Writing the knowledge base: articles and their languages, topics, the publishing life
(draft -> published -> retired), the record of every change, and the calls answered.

Every change of an article writes an ArticleRevision in the same transaction: who, when, what
(field -> {from, to}, long texts shortened), numbered 1, 2, 3... per article. The article's row
is locked while a change is made (the caller reads it with article_queries.get_article(...,
for_update=True), or creates it), so two editors' changes take their turns and their numbers.
A change that changes nothing writes no revision, which keeps a repeated import quiet.

Functions take a Session and values, flush, never commit; `now` is the caller's (aware).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from open311.db import article_queries
from open311.db.models import (
    Article,
    ArticleAnswer,
    ArticleRevision,
    ArticleTopic,
    ArticleVariant,
    Contact,
    Jurisdiction,
    ServiceRequest,
    StaffUser,
    Translation,
)
from open311.domain import article_text
from open311.errors import Conflict, InvalidInput, NotFound
from open311.values import ArticleState

SLUG = re.compile(r"^[a-z0-9-]{1,100}$")
SLUG_RULE = "1 to 100 lower-case letters, digits or '-'"
ARTICLE_FIELDS = ("topic", "service_codes", "valid_from", "valid_until", "contact")
MAX_SERVICE_CODES = 50
MAX_TOPIC_NAME = 255
BRIEF = 200  # characters of a text a revision keeps of each side of a change
BRIEF_ITEMS = 20


class Action:
    """What a revision records (ArticleRevision.action)."""

    create = "create"  # the article with its own fields
    update = "update"  # its own fields changed
    translate = "translate"  # a language added
    edit = "edit"  # a language's texts replaced
    remove_variant = "remove_variant"
    publish = "publish"
    unpublish = "unpublish"
    retire = "retire"


# --- checking what is written ---------------------------------------------------------------------


def check_slug(field_name: str, value: Any) -> str:
    """An article_id or topic code: [a-z0-9-]{1,100} (400 naming `field_name` otherwise)."""
    if not isinstance(value, str) or not SLUG.match(value):
        raise InvalidInput(f"{field_name}: {SLUG_RULE}")
    return value


def check_fields(
    data: Mapping[str, Any],
    *,
    topics: Iterable[str],
    services: Iterable[str],
    path: str = "",
) -> dict[str, Any]:
    """The article fields of `data` (those present of ARTICLE_FIELDS; others are refused),
    checked: `topic` a code of `topics` or None, `service_codes` codes of `services`, the dates
    ISO dates (or date values), `contact` plain text. Every problem at once, prefixed `path`."""
    problems: list[str] = []
    found: dict[str, Any] = {}
    known_topics, known_services = set(topics), set(services)
    for name, value in data.items():
        where = f"{path}{name}"
        try:
            if name == "topic":
                if value is not None and value not in known_topics:
                    raise InvalidInput(f"{where}: no topic {str(value)[:100]!r}")
                found[name] = value
            elif name == "service_codes":
                found[name] = _service_codes(where, value, known_services)
            elif name in ("valid_from", "valid_until"):
                found[name] = _date(where, value)
            elif name == "contact":
                found[name] = article_text.plain(where, value, max_length=2000)
            else:
                raise InvalidInput(f"{where}: unknown field")
        except InvalidInput as error:
            problems.extend(error.problems)
    start, end = found.get("valid_from"), found.get("valid_until")
    if start is not None and end is not None and end < start:
        problems.append(f"{path}valid_until: before valid_from")
    if problems:
        raise InvalidInput(*problems)
    return found


def _service_codes(where: str, value: Any, known: set[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise InvalidInput(f"{where}: must be a list of service codes")
    if len(value) > MAX_SERVICE_CODES:
        raise InvalidInput(f"{where}: at most {MAX_SERVICE_CODES} codes")
    unknown = [code for code in value if code not in known]
    if unknown:
        named = ", ".join(code[:64] for code in unknown[:10])
        raise InvalidInput(f"{where}: not services of this jurisdiction: {named}")
    return list(dict.fromkeys(value))


def _date(where: str, value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput(f"{where}: an ISO date (YYYY-MM-DD) or null")


# --- revisions ------------------------------------------------------------------------------------


def brief(value: Any) -> Any:
    """`value` as a revision keeps it: JSON, long texts cut to BRIEF characters with '…'."""
    if isinstance(value, str):
        return value if len(value) <= BRIEF else value[:BRIEF] + "…"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [brief(item) for item in value[:BRIEF_ITEMS]]
    return value


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: {"from": brief(before.get(name)), "to": brief(value)}
        for name, value in after.items()
        if before.get(name) != value
    }


def _record(
    session: Session,
    article: Article,
    action: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
    now: datetime,
    locale: str | None = None,
) -> ArticleRevision:
    article.updated_at = now
    return article_queries.add_revision(
        session,
        ArticleRevision(
            article_pk=article.id,
            number=article_queries.next_revision_number(session, article),
            locale=locale,
            action=action,
            actor=actor[:100],
            at=now,
            changes=dict(changes),
        ),
    )


def _own_fields(article: Article) -> dict[str, Any]:
    return {
        "topic": article.topic.code if article.topic is not None else None,
        "service_codes": list(article.service_codes or []),
        "valid_from": article.valid_from,
        "valid_until": article.valid_until,
        "contact": article.contact,
    }


# --- articles -------------------------------------------------------------------------------------


def get_article(
    session: Session, jurisdiction: Jurisdiction, article_id: str, *, for_update: bool = False
) -> Article:
    """The city's article (any state), or NotFound."""
    found = article_queries.get_article(session, jurisdiction, article_id, for_update=for_update)
    if found is None:
        raise NotFound(f"article {article_id[:100]} not found")
    return found


def create_article(
    session: Session,
    jurisdiction: Jurisdiction,
    article_id: str,
    fields: Mapping[str, Any],
    *,
    actor: str,
    now: datetime,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
) -> Article:
    """A new draft article with its own fields and, if given, its first languages (each as
    put_variant takes it). A taken article_id is a Conflict."""
    check_slug("article_id", article_id)
    values = _checked(session, jurisdiction, fields)
    if variants is not None:
        _check_variants(variants)
    if article_queries.get_article(session, jurisdiction, article_id) is not None:
        raise Conflict(f"article_id: {article_id} exists")
    article = Article(
        jurisdiction_id=jurisdiction.id,
        article_id=article_id,
        state=ArticleState.draft,
        created_at=now,
        updated_at=now,
    )
    _apply_fields(session, jurisdiction, article, values)
    article_queries.add_article(session, article)
    changes = _diff({}, {**_own_fields(article), "state": ArticleState.draft.value})
    _record(session, article, Action.create, changes, actor=actor, now=now)
    for locale, data in (variants or {}).items():
        put_variant(session, jurisdiction, article, locale, data, actor=actor, now=now)
    return article


def _check_variants(variants: Mapping[str, Mapping[str, Any]]) -> None:
    problems: list[str] = []
    for locale, data in variants.items():
        try:
            tag = article_text.canonical_locale(f"variants.{locale}", locale)
            article_text.prepare_variant(tag, data, path=f"variants.{locale}.")
        except InvalidInput as error:
            problems.extend(error.problems)
    if problems:
        raise InvalidInput(*problems)


def _checked(
    session: Session, jurisdiction: Jurisdiction, fields: Mapping[str, Any]
) -> dict[str, Any]:
    return check_fields(
        fields,
        topics=article_queries.find_topic_codes(session, jurisdiction),
        services=article_queries.find_service_codes(session, jurisdiction),
    )


def _apply_fields(
    session: Session, jurisdiction: Jurisdiction, article: Article, values: Mapping[str, Any]
) -> None:
    for name, value in values.items():
        if name == "topic":
            article.topic = (
                None if value is None else article_queries.get_topic(session, jurisdiction, value)
            )
        else:
            setattr(article, name, value)


def update_article(
    session: Session,
    jurisdiction: Jurisdiction,
    article: Article,
    fields: Mapping[str, Any],
    *,
    actor: str,
    now: datetime,
) -> ArticleRevision | None:
    """Change the article's own fields present in `fields`; the revision written (None when
    nothing changed)."""
    values = _checked(session, jurisdiction, fields)
    before = _own_fields(article)
    merged = {**before, **values}
    start, end = merged["valid_from"], merged["valid_until"]
    if start is not None and end is not None and end < start:
        raise InvalidInput("valid_until: before valid_from")
    changes = _diff(before, {name: merged[name] for name in values})
    if not changes:
        return None
    _apply_fields(session, jurisdiction, article, values)
    session.flush()
    return _record(session, article, Action.update, changes, actor=actor, now=now)


def put_variant(
    session: Session,
    jurisdiction: Jurisdiction,
    article: Article,
    locale: str,
    data: Mapping[str, Any],
    *,
    actor: str,
    now: datetime,
) -> ArticleVariant:
    """Write the article in one language: a new language is added ('translate'), an existing
    one replaced whole ('edit'; fields left out become empty). Texts are prepared by
    article_text (NFC, sanitised HTML, search fields)."""
    tag = article_text.canonical_locale("locale", locale)
    prepared = article_text.prepare_variant(tag, data)
    existing = next((v for v in article.variants if v.locale == tag), None)
    if existing is None:
        variant = ArticleVariant(article=article, locale=tag, updated_at=now, **prepared.columns())
        article_queries.add_variant(session, variant)
        changes = _diff({}, _variant_fields(variant))
        _record(session, article, Action.translate, changes, actor=actor, now=now, locale=tag)
        return variant
    before = _variant_fields(existing)
    for name, value in prepared.columns().items():
        setattr(existing, name, value)
    changes = _diff(before, _variant_fields(existing))
    if changes:
        existing.updated_at = now
        session.flush()
        _record(session, article, Action.edit, changes, actor=actor, now=now, locale=tag)
    return existing


def _variant_fields(variant: ArticleVariant) -> dict[str, Any]:
    """A variant's texts as written (the Markdown source of a Markdown body)."""
    return {
        "title": variant.title,
        "summary": variant.summary,
        "body": variant.body_source if variant.body_format == "markdown" else variant.body,
        "body_format": variant.body_format,
        "steps": list(variant.steps or []),
        "keywords": variant.keywords,
        "answer_text": variant.answer_text,
    }


def remove_variant(
    session: Session,
    jurisdiction: Jurisdiction,
    article: Article,
    locale: str,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Take one language off the article. The last language cannot go (400), nor the city's
    default language of a published article (publishing needs it)."""
    tag = article_text.canonical_locale("locale", locale)
    variant = next((v for v in article.variants if v.locale == tag), None)
    if variant is None:
        raise NotFound(f"article {article.article_id} has no {tag} variant")
    if len(article.variants) == 1:
        raise InvalidInput(f"locale: {tag} is the article's only language; retire it instead")
    if article.state is ArticleState.published and tag == jurisdiction.default_locale:
        raise InvalidInput(
            f"locale: a published article keeps its {tag} variant (the city's default language)"
        )
    changes = _diff(_variant_fields(variant), {"title": None})
    article.variants.remove(variant)
    session.flush()
    _record(session, article, Action.remove_variant, changes, actor=actor, now=now, locale=tag)


# --- the publishing life --------------------------------------------------------------------------

# state -> (action, the states it may come from)
_MOVES: dict[ArticleState, tuple[str, tuple[ArticleState, ...]]] = {
    ArticleState.published: (Action.publish, (ArticleState.draft, ArticleState.retired)),
    ArticleState.draft: (Action.unpublish, (ArticleState.published, ArticleState.retired)),
    ArticleState.retired: (Action.retire, (ArticleState.draft, ArticleState.published)),
}


def set_state(
    session: Session,
    jurisdiction: Jurisdiction,
    article: Article,
    state: ArticleState,
    *,
    actor: str,
    now: datetime,
) -> ArticleRevision:
    """Move the article to `state`: published (from draft or retired; it needs a variant in
    the city's default language), draft (unpublish, from published or retired), retired (from
    draft or published). Already there is a Conflict."""
    action, sources = _MOVES[state]
    if article.state not in sources:
        raise Conflict(f"article {article.article_id} is {article.state.value} already")
    if state is ArticleState.published and not any(
        variant.locale == jurisdiction.default_locale for variant in article.variants
    ):
        raise InvalidInput(
            f"state: publishing needs a variant in {jurisdiction.default_locale}, "
            "the jurisdiction's default language"
        )
    changes = {"state": {"from": article.state.value, "to": state.value}}
    article.state = state
    if state is ArticleState.published:
        article.published_at = now
    session.flush()
    return _record(session, article, action, changes, actor=actor, now=now)


def publish(session: Session, jurisdiction: Jurisdiction, article: Article, **kw: Any):
    """Make the article public (see set_state)."""
    return set_state(session, jurisdiction, article, ArticleState.published, **kw)


def unpublish(session: Session, jurisdiction: Jurisdiction, article: Article, **kw: Any):
    """Back to draft: no longer public nor offered to call-takers."""
    return set_state(session, jurisdiction, article, ArticleState.draft, **kw)


def retire(session: Session, jurisdiction: Jurisdiction, article: Article, **kw: Any):
    """Shown to no one, kept with its revisions and the calls it answered."""
    return set_state(session, jurisdiction, article, ArticleState.retired, **kw)


def is_current(article: Article, jurisdiction: Jurisdiction, now: datetime) -> bool:
    """Whether the article is published and within its dates, as the city's calendar has it."""
    today = now.astimezone(ZoneInfo(jurisdiction.time_zone)).date()
    return (
        article.state is ArticleState.published
        and (article.valid_from is None or article.valid_from <= today)
        and (article.valid_until is None or today <= article.valid_until)
    )


# --- calls answered -------------------------------------------------------------------------------


def record_answer(
    session: Session,
    jurisdiction: Jurisdiction,
    article: Article,
    user: StaffUser | None,
    locale: str,
    now: datetime,
    service_request: ServiceRequest | None = None,
    *,
    contact: Contact | None = None,
) -> ArticleAnswer:
    """Count a call answered with `article` in `locale` (the language spoken, whether or not
    the article has a variant in it), by `user`, possibly ending in `service_request`, given
    in `contact` when one was recorded (domain/contacts). Only an article currently offered
    (published, within its dates) answers calls (400)."""
    tag = article_text.canonical_locale("locale", locale)
    if not is_current(article, jurisdiction, now):
        raise InvalidInput(
            f"article_id: {article.article_id} is not published and current; it answers no calls"
        )
    if service_request is not None and service_request.service.jurisdiction_id != jurisdiction.id:
        raise InvalidInput("service_request_id: not a request of this jurisdiction")
    return article_queries.add_answer(
        session,
        ArticleAnswer(
            jurisdiction_id=jurisdiction.id,
            article_pk=article.id,
            staff_user_id=user.id if user is not None else None,
            locale=tag,
            answered_at=now,
            service_request_pk=service_request.id if service_request is not None else None,
            contact_id=contact.id if contact is not None else None,
        ),
    )


# --- topics ---------------------------------------------------------------------------------------


def topic_name(field_name: str, value: Any) -> str:
    """A topic's name: plain text, 1 to 255 characters."""
    name = article_text.plain(field_name, value, max_length=MAX_TOPIC_NAME)
    if name is None:
        raise InvalidInput(f"{field_name}: required")
    return name


def _parent(session: Session, jurisdiction: Jurisdiction, code: str | None) -> ArticleTopic | None:
    if code is None:
        return None
    parent = article_queries.get_topic(session, jurisdiction, code)
    if parent is None:
        raise InvalidInput(f"parent: no topic {code[:100]!r}")
    if parent.parent_id is not None:
        raise InvalidInput(f"parent: {code} is a topic under a theme; only themes hold topics")
    return parent


def create_topic(
    session: Session,
    jurisdiction: Jurisdiction,
    code: str,
    name: str,
    *,
    parent: str | None = None,
    names: Mapping[str, str] | None = None,
    actor: str | None = None,
) -> ArticleTopic:
    """A theme (no parent) or a topic under a theme; `name` in the city's default language,
    `names` its other languages (Translation rows). A taken code is a Conflict."""
    check_slug("code", code)
    name = topic_name("name", name)
    if article_queries.get_topic(session, jurisdiction, code) is not None:
        raise Conflict(f"code: topic {code} exists")
    topic = ArticleTopic(
        jurisdiction_id=jurisdiction.id,
        code=code,
        name=name,
        parent=_parent(session, jurisdiction, parent),
    )
    article_queries.add_topic(session, topic)
    if names:
        set_topic_names(session, jurisdiction, topic, names, actor=actor)
    return topic


def change_topic(
    session: Session,
    jurisdiction: Jurisdiction,
    topic: ArticleTopic,
    changes: Mapping[str, Any],
    *,
    actor: str | None = None,
) -> ArticleTopic:
    """Rename the topic (`name`), move it (`parent`: a theme's code, or None to make it a
    theme) or set its other languages (`names`). A renamed topic's translations follow it."""
    if "parent" in changes:
        parent = _parent(session, jurisdiction, changes["parent"])
        if parent is not None and (
            parent.id == topic.id or article_queries.count_children(session, topic)
        ):
            raise InvalidInput(f"parent: {topic.code} holds topics; a theme stays a theme")
        topic.parent = parent
    if "name" in changes:
        new_name = topic_name("name", changes["name"])
        if new_name != topic.name:
            # Its translations are keyed on the old name: written again under the new one (the
            # old rows stay, for another topic that may bear that name).
            old = article_queries.find_topic_names(session, jurisdiction, [topic.name])
            carried = old.get(topic.name, {})
            topic.name = new_name
            if carried:
                set_topic_names(session, jurisdiction, topic, carried, actor=actor)
    if changes.get("names"):
        set_topic_names(session, jurisdiction, topic, changes["names"], actor=actor)
    session.flush()
    return topic


def set_topic_names(
    session: Session,
    jurisdiction: Jurisdiction,
    topic: ArticleTopic,
    names: Mapping[str, str],
    *,
    actor: str | None = None,
) -> int:
    """Write the topic's name in other languages as Translation rows (context 'topic', source
    its default-language name); the default language's own entry is the name itself and is
    skipped. How many rows were written or changed."""
    written = 0
    for locale, text in names.items():
        tag = article_text.canonical_locale(f"names.{locale}", locale)
        said = topic_name(f"names.{locale}", text)
        if tag == jurisdiction.default_locale:
            continue
        row = article_queries.get_translation(
            session, jurisdiction, tag, article_queries.TOPIC_CONTEXT, topic.name
        )
        if row is None:
            article_queries.add_translation(
                session,
                Translation(
                    jurisdiction_id=jurisdiction.id,
                    locale=tag,
                    context=article_queries.TOPIC_CONTEXT,
                    source=topic.name,
                    text=said,
                    updated_by=actor,
                ),
            )
            written += 1
        elif row.text != said:
            row.text = said
            row.updated_by = actor
            written += 1
    session.flush()
    return written


def topic_names(
    session: Session, jurisdiction: Jurisdiction, topics: Iterable[ArticleTopic]
) -> dict[int, dict[str, str]]:
    """Each topic's name in every language: topic id -> {locale: name}, the default first."""
    listed = list(topics)
    found = article_queries.find_topic_names(session, jurisdiction, [t.name for t in listed])
    return {
        topic.id: {jurisdiction.default_locale: topic.name}
        | dict(sorted(found.get(topic.name, {}).items()))
        for topic in listed
    }
