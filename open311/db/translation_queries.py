"""The selects and writes of a city's translations: its Translation rows for some locales in
one query, one row upserted or deleted by (locale, context, source), and every text of the city
that can be translated, with the context that says where it is used."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from hashlib import md5

from sqlalchemy import delete, func, literal, select, union
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from open311.db.models import (
    ArticleTopic,
    AttributeValue,
    Service,
    ServiceAttribute,
    Translation,
    Workflow,
    WorkflowStep,
)

# The unique index ux_translation_lookup: a source is found by its md5, so a long text costs no
# more to index than a short one.
_KEY = (
    Translation.jurisdiction_id,
    Translation.locale,
    Translation.context,
    func.md5(Translation.source),
)


def find_translations(
    session: Session,
    jurisdiction_id: int,
    locales: Iterable[str],
    sources: Iterable[str] | None = None,
) -> Sequence[tuple[str, str, str, str]]:
    """(locale, context, source, text) of the city's translations into `locales`, of `sources`
    only when given (matched by md5 inside ux_translation_lookup, so a page of a few texts
    reads a few rows whatever the size of the city's catalogue): one query."""
    statement = (
        select(Translation.locale, Translation.context, Translation.source, Translation.text)
        .where(Translation.jurisdiction_id == jurisdiction_id)
        .where(Translation.locale.in_(list(locales)))
    )
    if sources is not None:
        digests = sorted({md5(source.encode("utf-8")).hexdigest() for source in sources})
        if not digests:
            return []
        statement = statement.where(func.md5(Translation.source).in_(digests))
    return session.execute(statement).all()


def upsert_translations(
    session: Session,
    jurisdiction_id: int,
    locale: str,
    texts: Sequence[tuple[str, str, str]],
    *,
    actor: str,
    now: datetime,
) -> None:
    """Store each (context, source, text) as a translation, replacing the one there was, in one
    statement: two editors saving the same text at once end with the last one's, never a unique
    violation. The (context, source) pairs must differ (one statement cannot update a row
    twice)."""
    if not texts:
        return
    rows = [
        {
            "jurisdiction_id": jurisdiction_id,
            "locale": locale,
            "context": context,
            "source": source,
            "text": text,
            "updated_at": now,
            "updated_by": actor,
        }
        for context, source, text in texts
    ]
    statement = insert(Translation).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={
                "text": statement.excluded.text,
                "updated_at": statement.excluded.updated_at,
                "updated_by": statement.excluded.updated_by,
            },
        )
    )


def delete_translation(
    session: Session, jurisdiction_id: int, locale: str, context: str, source: str
) -> int:
    """Delete the translation of (context, source); the number of rows deleted (0 or 1)."""
    result = session.execute(
        delete(Translation).where(
            Translation.jurisdiction_id == jurisdiction_id,
            Translation.locale == locale,
            Translation.context == context,
            func.md5(Translation.source) == func.md5(literal(source)),
            Translation.source == source,
        )
    )
    return result.rowcount


def translatable_texts(session: Session, jurisdiction_id: int) -> Sequence[tuple[str, str]]:
    """(context, source) of every public text of the city, each once, ordered by context then
    source: active services' names, descriptions, keywords and groups, their questions'
    descriptions and datatype descriptions, the answers' names, workflow steps' public notes
    and the knowledge base's topic names. The contexts are domain/translations' labels."""
    public = (Service.jurisdiction_id == jurisdiction_id) & Service.active
    attribute = ServiceAttribute.service_id == Service.id
    value = AttributeValue.attribute_id == ServiceAttribute.id
    step = WorkflowStep.workflow_id == Workflow.id
    parts = [
        _texts("service_name", Service.service_name, public),
        _texts("description", Service.description, public),
        _texts("keywords", Service.keywords, public),
        _texts("group", Service.group, public),
        _texts("attribute", ServiceAttribute.description, public).join(Service, attribute),
        _texts("datatype_description", ServiceAttribute.datatype_description, public).join(
            Service, attribute
        ),
        _texts("value", AttributeValue.name, public)
        .join(ServiceAttribute, value)
        .join(Service, attribute),
        _texts(
            "public_note", WorkflowStep.public_note, Workflow.jurisdiction_id == jurisdiction_id
        ).join(Workflow, step),
        _texts("topic", ArticleTopic.name, ArticleTopic.jurisdiction_id == jurisdiction_id),
    ]
    every = union(*parts).subquery()
    return session.execute(
        select(every.c.context, every.c.source).order_by(every.c.context, every.c.source)
    ).all()


def _texts(context: str, column, where):
    """The non-blank values of `column` (of rows matching `where`) under `context`."""
    return (
        select(literal(context).label("context"), column.label("source"))
        .where(where)
        .where(func.btrim(func.coalesce(column, "")) != "")
    )
