"""Austin's service and process pages (the City's Joplin CMS fixtures) as a knowledge-base
exchange document (format open311-kb/1, see open311.domain.kb_exchange).

The conversion runs at seed time over the City's raw YAML, so the files stay byte for byte the
City's. It uses a text only in a language the City wrote it in: a language whose title is the
English one (the health pages) or a placeholder ("ES Become an animal foster care provider", the
process pages) gets no variant, and nothing is translated here. The page's `additional_content`
is the body, its steps the steps, `meta_description` the summary and `meta_tags` the English
keywords. Left out: `dynamic_content` (embedded city tools: a map, a schedule lookup), the
topics and bodies that are visibly placeholders, and nothing else.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

FORMAT = "open311-kb/1"
LOCALES = ("en", "es", "vi", "ar")
DEFAULT_LOCALE = "en"
SERVICE_PAGES = "service_pages"
PROCESS_PAGES = "process_pages"
# The article ids are the page files' names: permitting-residential's own slug is
# 'interior-remodel', and the file name is the id the rest of the project knows it by.
# The City's design prototype of hazardous-waste-dropoff: kept, as a draft, so that it does
# not compete with the real page in public search.
DRAFT_PAGES = frozenset({"hazardous-waste-dropoff-prototype"})
# Fixture filler in the City's files, not content.
PLACEHOLDER_TOPICS = frozenset({"rando-job-1", "rando-job-2"})
PLACEHOLDER_BODIES = frozenset({"<h1>Some detailed content here.</h1>"})
# Which of Austin's 311 services a page's answer may end in (written by the team; a page that
# is only information links none).
PAGE_SERVICES: Mapping[str, tuple[str, ...]] = {
    "bat-safety": ("FOUND-ANIMAL-PICKUP", "DEAD-ANIMAL-COLLECTION"),
}
CONTACTS = {"311": "Austin 3-1-1: call 3-1-1"}
# '\[Prototype\]': Markdown escapes in a plain-text title.
_MARKDOWN_ESCAPE = re.compile(r"\\([\[\]])")


def read_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as file:
        return yaml.safe_load(file)


def build_document(city_dir: Path) -> dict[str, Any]:
    """The whole knowledge base of the City's files: topics, then one article per page file."""
    themes = read_yaml(city_dir / "themes.yaml")["themes"]
    topics = read_yaml(city_dir / "topics.yaml")["topics"]
    articles = []
    for folder, convert in ((SERVICE_PAGES, service_article), (PROCESS_PAGES, process_article)):
        for path in sorted((city_dir / folder).glob("*.yaml")):
            articles.append(convert(path.stem, read_yaml(path)))
    return {
        "format": FORMAT,
        "default_locale": DEFAULT_LOCALE,
        "locales": list(LOCALES),
        "topics": topic_entries(themes, topics),
        "articles": articles,
    }


def topic_entries(
    themes: Sequence[Mapping[str, Any]], topics: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Themes first (no parent), then the topics under them, each name in every language the
    City gave it."""
    entries = [
        {"code": theme["slug"], "name": _names(theme, "text"), "parent": None} for theme in themes
    ]
    entries += [
        {"code": topic["slug"], "name": _names(topic, "text"), "parent": topic["theme"]}
        for topic in topics
        if topic["slug"] not in PLACEHOLDER_TOPICS
    ]
    return entries


def service_article(article_id: str, page: Mapping[str, Any]) -> dict[str, Any]:
    """A service page: title, steps (`service_steps` per language, or English `steps_en`),
    `additional_content` as the body, `meta_description` as the summary."""
    variants = {}
    for locale in _written_locales(page):
        variants[locale] = _variant(
            title=_title(page[f"title_{locale}"]),
            summary=_text(page.get(f"meta_description_{locale}")),
            body=_text(page.get(f"additional_content_{locale}")),
            steps=_service_steps(page, locale),
            keywords=_text(page.get("meta_tags")) if locale == DEFAULT_LOCALE else None,
        )
    return _article(article_id, page, variants)


def process_article(article_id: str, page: Mapping[str, Any]) -> dict[str, Any]:
    """A process page: its description is the summary, each process step one step (title,
    description, checklist), the steps' detailed content the body."""
    variants = {}
    for locale in _written_locales(page):
        steps, sections = [], []
        seen_descriptions: set[str] = set()
        for step in page.get("process_steps") or ():
            title = _text(step.get(f"title_{locale}"))
            if title is None:
                continue
            parts = [f"<p><strong>{html.escape(title)}</strong></p>"]
            description = _text(step.get(f"description_{locale}"))
            # Several steps repeat the first one's description word for word: said once.
            if description is not None and description not in seen_descriptions:
                seen_descriptions.add(description)
                parts.append(f"<p>{description}</p>")
            checklist = [_text(item) for item in step.get(f"overview_steps_{locale}") or ()]
            if any(checklist):
                parts.append(_list(item for item in checklist if item))
            steps.append("".join(parts))
            detail = _text(step.get(f"detailed_content_{locale}"))
            if detail is not None and detail not in PLACEHOLDER_BODIES:
                sections.append(detail)
        variants[locale] = _variant(
            title=_title(page[f"title_{locale}"]),
            summary=_text(page.get(f"description_{locale}")),
            body="\n".join(sections) or None,
            steps=steps,
            keywords=None,
        )
    return _article(article_id, page, variants)


def _article(
    article_id: str, page: Mapping[str, Any], variants: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    contact = _text(page.get("contact"))
    return {
        "article_id": article_id,
        "topic": page.get("topic"),
        "service_codes": list(PAGE_SERVICES.get(article_id, ())),
        "valid_from": None,
        "valid_until": None,
        "contact": CONTACTS.get(contact or "", contact),
        "state": "draft" if article_id in DRAFT_PAGES else "published",
        "variants": variants,
    }


def _variant(
    *,
    title: str,
    summary: str | None,
    body: str | None,
    steps: list[str],
    keywords: str | None,
) -> dict[str, Any]:
    return {
        "title": title,
        "summary": summary,
        "body": body,
        "body_format": "html",
        "steps": steps,
        "keywords": keywords,
        "answer_text": None,
    }


def _written_locales(page: Mapping[str, Any]) -> list[str]:
    """English, and each language whose title the City really translated."""
    english = _text(page.get(f"title_{DEFAULT_LOCALE}"))
    found = [DEFAULT_LOCALE]
    for locale in LOCALES[1:]:
        title = _text(page.get(f"title_{locale}"))
        if title is None or title == english or title.startswith(f"{locale.upper()} "):
            continue
        found.append(locale)
    return found


def _service_steps(page: Mapping[str, Any], locale: str) -> list[str]:
    if page.get("service_steps"):
        texts = (_text(step.get(f"step_description_{locale}")) for step in page["service_steps"])
        return [text for text in texts if text is not None]
    if locale != DEFAULT_LOCALE or not page.get(f"steps_{locale}"):
        return []
    # steps_en: a step, optionally followed by a list of sub-items that belong to it.
    steps: list[str] = []
    for item in page[f"steps_{locale}"]:
        if isinstance(item, list):
            sub_items = [text for text in (_text(x) for x in item) if text is not None]
            if steps and sub_items:
                steps[-1] += _list(sub_items)
            elif sub_items:
                steps.append(_list(sub_items))
        elif (text := _text(item)) is not None:
            steps.append(text)
    return steps


def _list(items: Any) -> str:
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _names(entry: Mapping[str, Any], field: str) -> dict[str, str]:
    names = {}
    for locale in LOCALES:
        text = _text(entry.get(f"{field}_{locale}"))
        if text is not None:
            names[locale] = text
    return names


def _title(value: Any) -> str:
    return _MARKDOWN_ESCAPE.sub(r"\1", str(value).strip())


def _text(value: Any) -> str | None:
    """A field's text, stripped; None for an empty field (YAML gives None, '' or a number)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None
