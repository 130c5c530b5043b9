"""A city's whole knowledge base as one document (format "open311-kb/1", JSON or YAML): read
in by `load`, written out by `dump`, so that export -> import into an empty city reproduces it.

The document (README "A whole knowledge base in and out" has it field by field):

    format: open311-kb/1
    default_locale: en
    locales: [en, es]
    topics:   [{code, name: {locale: text}, parent: code|null}, ...]
    articles: [{article_id, topic, service_codes, valid_from, valid_until, contact, state,
                variants: {locale: {title, summary, body, body_format, steps, keywords,
                                    answer_text}}}, ...]

Loading is all or nothing: the whole document is checked first and every problem reported at
once, each naming its path ("articles[3].variants.es.title: required"); only a document
without any is written (in the caller's transaction, which it commits or rolls back whole).
It is idempotent on article_id and topic code:
what exists is updated (a revision per changed article or language, by "import:<actor>"),
what is the same is left alone, and what the document leaves out (another article, another
language of an article) is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy.orm import Session

from open311.db import article_queries
from open311.db.models import Article, Jurisdiction
from open311.domain import article_text, knowledge
from open311.errors import InvalidInput
from open311.values import ArticleState

FORMAT = "open311-kb/1"
FORMATS = ("json", "yaml")
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 16  # the format needs 7 (articles[].variants.<locale>.steps[])
MAX_ERRORS = 200  # reported; a document wrong everywhere need not be listed whole

TOP_FIELDS = ("format", "default_locale", "locales", "topics", "articles")
TOPIC_FIELDS = ("code", "name", "parent")
ARTICLE_FIELDS = ("article_id", *knowledge.ARTICLE_FIELDS, "state", "variants")


# --- reading the text -----------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """yaml.safe_load's loader without aliases (`*name`: a few lines of them expand to an
    exponential document, the "billion laughs") and with YAML 1.2's booleans, so that the
    Norwegian locale `no` (or `on`, `yes`) stays a string."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.MarkedYAMLError(
                problem="aliases (*name) are not accepted", problem_mark=mark
            )
        return super().compose_node(parent, index)


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF")


def parse(text: str | bytes, fmt: str) -> dict[str, Any]:
    """The document in `text` ('json' or 'yaml'; yaml.safe_load without aliases), at most
    MAX_DOCUMENT_BYTES and MAX_DEPTH deep; anything else is an InvalidInput saying where."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format: one of {', '.join(FORMATS)}")
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidInput(f"document: larger than {MAX_DOCUMENT_BYTES} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("document: not UTF-8 text") from None
    try:
        document = json.loads(text) if fmt == "json" else yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except RecursionError:
        raise InvalidInput(f"document: nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as error:
        raise InvalidInput(f"document: not JSON: {error.msg} at line {error.lineno}") from None
    except yaml.YAMLError as error:
        raise InvalidInput(f"document: not YAML: {_yaml_problem(error)}") from None
    if _deeper_than(document, MAX_DEPTH):
        raise InvalidInput(f"document: nested more than {MAX_DEPTH} levels deep")
    if not isinstance(document, dict):
        raise InvalidInput("document: must be a mapping (format, topics, articles)")
    return document


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        return f"{error.problem} at line {error.problem_mark.line + 1}"
    return "malformed"


def _deeper_than(document: Any, limit: int) -> bool:
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            items = value.values() if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
    return False


def render(document: Mapping[str, Any], fmt: str) -> str:
    """`document` as JSON or YAML text (UTF-8 letters as they are, keys in the format's order)."""
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(
        dict(document), allow_unicode=True, sort_keys=False, width=100, default_flow_style=False
    )


# --- checking the document ------------------------------------------------------------------------


class _Problems:
    """The error list of one document, in document order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def check(self, call, *args: Any, **kw: Any) -> Any:
        """`call(*args, **kw)`, its InvalidInput's problems noted (then None)."""
        try:
            return call(*args, **kw)
        except InvalidInput as error:
            self.add(*error.problems)
            return None

    def unknown(self, entry: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
        self.add(*(f"{path}{name}: unknown field" for name in entry if name not in allowed))


def _list(document: Mapping[str, Any], name: str, problems: _Problems) -> list[Any]:
    value = document.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(f"{name}: must be a list")
        return []
    return value


def _check_topics(
    session: Session,
    jurisdiction: Jurisdiction,
    entries: list[Any],
    problems: _Problems,
) -> dict[str, dict[str, Any]]:
    """code -> {name, names, parent} of the document's valid topics."""
    stored = {topic.code: topic for topic in article_queries.find_topics(session, jurisdiction)}
    default = jurisdiction.default_locale
    found: dict[str, dict[str, Any]] = {}
    for number, entry in enumerate(entries):
        path = f"topics[{number}]."
        if not isinstance(entry, dict):
            problems.add(f"topics[{number}]: must be a mapping")
            continue
        problems.unknown(entry, TOPIC_FIELDS, path)
        code = problems.check(knowledge.check_slug, f"{path}code", entry.get("code"))
        if code is not None and code in found:
            problems.add(f"{path}code: {code} appears twice")
            code = None
        names = _topic_names(entry.get("name"), default, f"{path}name", problems)
        parent = entry.get("parent")
        if parent is not None:
            if not isinstance(parent, str):
                problems.add(f"{path}parent: a theme's code or null")
            elif parent in found:
                if found[parent]["parent"] is not None:
                    problems.add(
                        f"{path}parent: {parent} is under a theme; only themes hold topics"
                    )
            elif parent in stored and parent not in (e.get("code") for e in _dicts(entries)):
                if stored[parent].parent_id is not None:
                    problems.add(
                        f"{path}parent: {parent} is under a theme; only themes hold topics"
                    )
            else:
                problems.add(f"{path}parent: no theme {parent[:100]!r} before it")
        if code is not None and names is not None:
            found[code] = {"name": names[default], "names": names, "parent": parent}
    _check_themes_stay_themes(stored, entries, found, problems)
    return found


def _check_themes_stay_themes(
    stored: dict[str, Any],
    entries: list[Any],
    found: dict[str, dict[str, Any]],
    problems: _Problems,
) -> None:
    """A topic the document puts under a theme may hold no topics itself, neither in the
    document nor among the city's topics the document leaves where they are."""
    by_id = {topic.id: code for code, topic in stored.items()}
    parents_after = {code: by_id.get(topic.parent_id) for code, topic in stored.items()}
    parents_after |= {code: wanted["parent"] for code, wanted in found.items()}
    holding = {parent for parent in parents_after.values() if parent is not None}
    for number, entry in enumerate(entries):
        code = entry.get("code") if isinstance(entry, dict) else None
        if code in found and found[code]["parent"] is not None and code in holding:
            problems.add(f"topics[{number}].parent: {code} holds topics; a theme stays a theme")


def _dicts(entries: list[Any]) -> list[dict[str, Any]]:
    return [entry for entry in entries if isinstance(entry, dict)]


def _topic_names(value: Any, default: str, path: str, problems: _Problems) -> dict[str, str] | None:
    """{locale: name}, the jurisdiction's default language required; a plain string is the
    name in the default language."""
    if isinstance(value, str):
        value = {default: value}
    if not isinstance(value, dict) or not value:
        problems.add(f"{path}: required, a mapping of language -> name")
        return None
    names: dict[str, str] = {}
    for tag, text in value.items():
        locale = problems.check(article_text.canonical_locale, f"{path}.{tag}", tag)
        said = problems.check(knowledge.topic_name, f"{path}.{tag}", text)
        if locale is not None and said is not None:
            names[locale] = said
    if default not in names and not any(
        line.startswith(f"{path}.{default}") for line in problems.lines
    ):
        problems.add(f"{path}.{default}: required (the jurisdiction's default language)")
        return None
    return names if len(names) == len(value) else None


def _check_articles(
    session: Session,
    jurisdiction: Jurisdiction,
    entries: list[Any],
    topics: set[str],
    problems: _Problems,
) -> list[dict[str, Any]]:
    """The document's articles, each as {article_id, fields, state, variants: {locale: data}}."""
    services = article_queries.find_service_codes(session, jurisdiction)
    seen: set[str] = set()
    found: list[dict[str, Any]] = []
    for number, entry in enumerate(entries):
        path = f"articles[{number}]."
        if not isinstance(entry, dict):
            problems.add(f"articles[{number}]: must be a mapping")
            continue
        problems.unknown(entry, ARTICLE_FIELDS, path)
        article_id = problems.check(
            knowledge.check_slug, f"{path}article_id", entry.get("article_id")
        )
        if article_id is not None and article_id in seen:
            problems.add(f"{path}article_id: {article_id} appears twice")
        seen.add(article_id or "")
        given = {name: entry.get(name) for name in knowledge.ARTICLE_FIELDS}
        fields = problems.check(
            knowledge.check_fields, given, topics=topics, services=services, path=path
        )
        state = entry.get("state") or ArticleState.draft.value
        if state not in tuple(ArticleState):
            problems.add(f"{path}state: one of {', '.join(ArticleState)}")
            state = None
        variants = _check_variants(entry.get("variants"), f"{path}variants", problems)
        if state == ArticleState.published and variants is not None:
            stored = (
                article_queries.get_article(session, jurisdiction, article_id)
                if article_id
                else None
            )
            locales = set(variants) | {v.locale for v in (stored.variants if stored else [])}
            if jurisdiction.default_locale not in locales:
                problems.add(
                    f"{path}state: published needs a variant in {jurisdiction.default_locale}, "
                    "the jurisdiction's default language"
                )
        if None not in (article_id, fields, state, variants):
            found.append(
                {
                    "article_id": article_id,
                    "fields": given,
                    "state": ArticleState(state),
                    "variants": variants,
                }
            )
    return found


def _check_variants(value: Any, path: str, problems: _Problems) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not value:
        problems.add(f"{path}: at least one language, a mapping of language -> texts")
        return None
    variants: dict[str, Any] = {}
    ok = True
    for tag, data in value.items():
        where = f"{path}.{tag}"
        locale = problems.check(article_text.canonical_locale, where, tag)
        if locale is None:
            ok = False
            continue
        if locale in variants:
            problems.add(f"{where}: {locale} appears twice")
            ok = False
            continue
        if not isinstance(data, dict):
            problems.add(f"{where}: must be a mapping of texts")
            ok = False
            continue
        if problems.check(article_text.prepare_variant, locale, data, path=f"{where}.") is None:
            ok = False
        variants[locale] = data
    return variants if ok else None


def check(session: Session, jurisdiction: Jurisdiction, document: Any) -> dict[str, Any]:
    """The document's topics and articles, checked against the city (its services, its topics,
    its default language); every problem at once, as one InvalidInput."""
    problems = _Problems()
    if not isinstance(document, dict):
        raise InvalidInput("document: must be a mapping (format, topics, articles)")
    problems.unknown(document, TOP_FIELDS, "")
    if document.get("format") != FORMAT:
        problems.add(f"format: must be {FORMAT}")
    default = document.get("default_locale")
    if default is not None:
        problems.check(article_text.canonical_locale, "default_locale", default)
    locales = document.get("locales")
    if locales is not None and not isinstance(locales, list):
        problems.add("locales: must be a list")
    elif locales:
        for number, tag in enumerate(locales):
            problems.check(article_text.canonical_locale, f"locales[{number}]", tag)
    topics = _check_topics(session, jurisdiction, _list(document, "topics", problems), problems)
    known = {topic.code for topic in article_queries.find_topics(session, jurisdiction)}
    known |= set(topics)
    known |= {
        e["code"] for e in _dicts(document.get("topics") or []) if isinstance(e.get("code"), str)
    }
    articles = _check_articles(
        session, jurisdiction, _list(document, "articles", problems), known, problems
    )
    if problems.lines:
        lines = problems.lines
        if len(lines) > MAX_ERRORS:
            lines = [*lines[:MAX_ERRORS], f"... and {len(lines) - MAX_ERRORS} more"]
        raise InvalidInput(*lines)
    return {"topics": topics, "articles": articles}


# --- loading --------------------------------------------------------------------------------------


def load(
    session: Session,
    jurisdiction: Jurisdiction,
    document: Any,
    *,
    actor: str,
    now: datetime,
) -> dict[str, int]:
    """Write the document into the city's knowledge base, all or nothing (see the module);
    returns counts: topics_created/updated/unchanged, articles_created/updated/unchanged,
    translations_written, revisions. Flushes, never commits."""
    checked = check(session, jurisdiction, document)
    who = f"import:{actor}"[:100]
    counts = dict.fromkeys(
        (
            "topics_created",
            "topics_updated",
            "topics_unchanged",
            "articles_created",
            "articles_updated",
            "articles_unchanged",
            "translations_written",
            "revisions",
        ),
        0,
    )
    # Checked whole first, so a refused document writes nothing; a failure while writing (a
    # topic moved meanwhile) is an error the caller rolls back, as it owns the transaction.
    _load_topics(session, jurisdiction, checked["topics"], who, counts)
    for entry in checked["articles"]:
        _load_article(session, jurisdiction, entry, who, now, counts)
    return counts


def _load_topics(
    session: Session,
    jurisdiction: Jurisdiction,
    topics: dict[str, dict[str, Any]],
    who: str,
    counts: dict[str, int],
) -> None:
    # Names first (with no parents, so the order of the document does not matter), then parents.
    created: set[str] = set()
    changed: set[str] = set()
    for code, wanted in topics.items():
        topic = article_queries.get_topic(session, jurisdiction, code)
        if topic is None:
            knowledge.create_topic(session, jurisdiction, code, wanted["name"])
            created.add(code)
        elif topic.name != wanted["name"]:
            knowledge.change_topic(
                session, jurisdiction, topic, {"name": wanted["name"]}, actor=who
            )
            changed.add(code)
    # Every topic that moves is made a theme first, then put where it goes: the document was
    # checked whole, so no step in between breaks the rule that only themes hold topics.
    placed = {code: article_queries.get_topic(session, jurisdiction, code) for code in topics}
    moving = [
        code
        for code, topic in placed.items()
        if (topic.parent.code if topic.parent is not None else None) != topics[code]["parent"]
    ]
    for code in moving:
        knowledge.change_topic(session, jurisdiction, placed[code], {"parent": None}, actor=who)
    for code in moving:
        if topics[code]["parent"] is not None:
            changes = {"parent": topics[code]["parent"]}
            knowledge.change_topic(session, jurisdiction, placed[code], changes, actor=who)
    changed.update(moving)
    for code, wanted in topics.items():
        topic = placed[code]
        written = knowledge.set_topic_names(
            session, jurisdiction, topic, wanted["names"], actor=who
        )
        counts["translations_written"] += written
        if written:
            changed.add(code)
    counts["topics_created"] = len(created)
    counts["topics_updated"] = len(changed - created)
    counts["topics_unchanged"] = len(topics) - len(created | changed)


def _load_article(
    session: Session,
    jurisdiction: Jurisdiction,
    entry: dict[str, Any],
    who: str,
    now: datetime,
    counts: dict[str, int],
) -> Article:
    article = article_queries.get_article(
        session, jurisdiction, entry["article_id"], for_update=True
    )
    created = article is None
    if article is None:
        article = knowledge.create_article(
            session,
            jurisdiction,
            entry["article_id"],
            entry["fields"],
            actor=who,
            now=now,
            variants=entry["variants"],
        )
        before = 0
    else:
        before = article_queries.next_revision_number(session, article) - 1
        knowledge.update_article(
            session, jurisdiction, article, entry["fields"], actor=who, now=now
        )
        for locale, data in entry["variants"].items():
            knowledge.put_variant(session, jurisdiction, article, locale, data, actor=who, now=now)
    if article.state is not entry["state"]:
        knowledge.set_state(session, jurisdiction, article, entry["state"], actor=who, now=now)
    written = article_queries.next_revision_number(session, article) - 1 - before
    counts["revisions"] += written
    if created:
        counts["articles_created"] += 1
    elif written:
        counts["articles_updated"] += 1
    else:
        counts["articles_unchanged"] += 1
    return article


# --- dumping --------------------------------------------------------------------------------------


def dump(session: Session, jurisdiction: Jurisdiction) -> dict[str, Any]:
    """Every topic and article (all states) of the city as a document of the format."""
    topics = article_queries.find_topics(session, jurisdiction)
    names = knowledge.topic_names(session, jurisdiction, topics)
    articles = article_queries.find_articles(session, jurisdiction)
    return {
        "format": FORMAT,
        "default_locale": jurisdiction.default_locale,
        "locales": list(jurisdiction.locales or [jurisdiction.default_locale]),
        "topics": [
            {
                "code": topic.code,
                "name": names[topic.id],
                "parent": topic.parent.code if topic.parent is not None else None,
            }
            for topic in topics
        ],
        "articles": [_article_entry(article, jurisdiction.default_locale) for article in articles],
    }


def _article_entry(article: Article, default_locale: str) -> dict[str, Any]:
    variants = sorted(article.variants, key=lambda v: (v.locale != default_locale, v.locale))
    return {
        "article_id": article.article_id,
        "topic": article.topic.code if article.topic is not None else None,
        "service_codes": list(article.service_codes or []),
        "valid_from": article.valid_from.isoformat() if article.valid_from else None,
        "valid_until": article.valid_until.isoformat() if article.valid_until else None,
        "contact": article.contact,
        "state": article.state.value,
        "variants": {
            variant.locale: {
                "title": variant.title,
                "summary": variant.summary,
                "body": variant.body_source if variant.body_format == "markdown" else variant.body,
                "body_format": variant.body_format,
                "steps": list(variant.steps or []),
                "keywords": variant.keywords,
                "answer_text": variant.answer_text,
            }
            for variant in variants
        },
    }
