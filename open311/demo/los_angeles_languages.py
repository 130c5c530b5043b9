"""Los Angeles in Spanish: the team's translation of the demo catalogue (los_angeles_es.json) and
the information articles written from the city's data (los_angeles_kb.yaml).

Both files say in their source note who wrote them and from what. Like the rest of the seed,
a re-run adds what is missing and changes nothing else: a translation the back office changed
is kept, and articles already as the file says are left alone.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib.resources import files
from typing import Any

from sqlalchemy.orm import Session

from open311.db.models import Jurisdiction
from open311.demo.translations import Entry, ensure_translations
from open311.domain import kb_exchange

TRANSLATIONS_FILE = "los_angeles_es.json"
KB_FILE = "los_angeles_kb.yaml"
LOCALES = ["en", "es"]
ACTOR = "seed:los-angeles"
# kb_exchange records revisions as "import:<actor>".
KB_ACTOR = "demo-seed"


def read_translations(text: str | None = None) -> tuple[str, list[Entry]]:
    """The file's locale and entries; ValueError when a source appears twice."""
    if text is None:
        text = files("open311.demo").joinpath(TRANSLATIONS_FILE).read_text(encoding="utf-8")
    document = json.loads(text)
    locale = document["locale"]
    entries = [Entry(locale, item["source"], item["text"]) for item in document["translations"]]
    sources = [entry.source for entry in entries]
    repeated = sorted({source for source in sources if sources.count(source) > 1})
    if repeated:
        raise ValueError(f"{TRANSLATIONS_FILE}: source repeated: {', '.join(repeated)}")
    return locale, entries


def read_knowledge_base() -> dict[str, Any]:
    text = files("open311.demo").joinpath(KB_FILE).read_text(encoding="utf-8")
    return kb_exchange.parse(text, "yaml")


def seed_los_angeles_languages(
    session: Session, jurisdiction: Jurisdiction, now: datetime
) -> list[str]:
    """Spanish for the catalogue, the city's locales, and its articles; one report line each.
    Adds and flushes only; the caller commits."""
    if list(jurisdiction.locales or []) != LOCALES:
        jurisdiction.locales = list(LOCALES)
    _locale, entries = read_translations()
    added = ensure_translations(session, jurisdiction, entries, ACTOR)
    document = read_knowledge_base()
    counts = kb_exchange.load(session, jurisdiction, document, actor=KB_ACTOR, now=now)
    return [
        f"locales: {', '.join(LOCALES)}; catalogue translations (es): {added} new",
        f"knowledge base: {len(document['articles'])} articles "
        f"({counts['articles_created']} new, {counts['articles_updated']} updated)",
    ]
