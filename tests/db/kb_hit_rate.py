"""The knowledge-base hit rate: tests/data/kb_questions.yaml asked of the demo knowledge bases
(Austin's and Los Angeles'), each question's rank of its expected article, and a larger KB for
latency. Shared by tests/db/test_article_search_hit_rate.py (floors) and bench/kb_hit_rate.py
(the table, latency and EXPLAIN)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import psycopg2  # noqa: F401 - postgresql.psycopg2
from sqlalchemy.orm import Session

from open311.db import article_search as queries
from open311.db.models import Article, ArticleVariant, Jurisdiction
from open311.domain import article_search, search_text
from open311.values import ArticleState

QUESTIONS = Path(__file__).resolve().parent.parent / "data" / "kb_questions.yaml"
NOW = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Question:
    q: str
    locale: str
    city: str
    expect: str


@dataclass(frozen=True)
class Outcome:
    question: Question
    found: list[str]  # the first three article ids
    rank: int | None  # 1-based rank of the expected article among the first page, None: absent
    seconds: float


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    with path.open(encoding="utf-8") as file:
        document = yaml.safe_load(file)
    return [Question(**entry) for entry in document["questions"]]


def seed_demo_kbs(session: Session) -> None:
    """Los Angeles (catalogue and articles, no history) and Austin, as `open311 seed` loads them."""
    from open311.demo.austin import seed_austin
    from open311.demo.seed import seed_demo_city

    seed_demo_city(session, with_history=False)
    seed_austin(session, now=NOW)
    session.flush()


def ask(session: Session, questions: list[Question], page_size: int = 20) -> list[Outcome]:
    """Each question searched as the public API searches it."""
    cities = {
        city.jurisdiction_id: city
        for city in session.scalars(
            select(Jurisdiction).where(
                Jurisdiction.jurisdiction_id.in_({q.city for q in questions})
            )
        )
    }
    outcomes = []
    for question in questions:
        city = cities[question.city]
        args = article_search.ArticleArgs(q=question.q, page_size=page_size)
        started = time.perf_counter()
        page = article_search.search(session, city, args, question.locale, NOW)
        seconds = time.perf_counter() - started
        ids = [found.view.article_id for found in page.items]
        rank = ids.index(question.expect) + 1 if question.expect in ids else None
        outcomes.append(Outcome(question, ids[:3], rank, seconds))
    return outcomes


def rates(outcomes: list[Outcome]) -> tuple[float, float]:
    """(top-1, top-3) hit rates."""
    top1 = sum(1 for o in outcomes if o.rank == 1) / len(outcomes)
    top3 = sum(1 for o in outcomes if o.rank is not None and o.rank <= 3) / len(outcomes)
    return top1, top3


def table(outcomes: list[Outcome]) -> str:
    """One line per question: rank, locale, city, expected, what came first, the query."""
    lines = [f"{'rank':>4}  {'loc':3}  {'expected':44}  {'first':44}  q"]
    for o in outcomes:
        rank = str(o.rank) if o.rank is not None else "-"
        first = o.found[0] if o.found else "(nothing)"
        mark = "" if o.rank == 1 else "  <--"
        lines.append(
            f"{rank:>4}  {o.question.locale:3}  {o.question.expect:44}  {first:44}  "
            f"{o.question.q}{mark}"
        )
    top1, top3 = rates(outcomes)
    lines.append(f"questions: {len(outcomes)}, top-1: {top1:.1%}, top-3: {top3:.1%}")
    return "\n".join(lines)


# --- a larger knowledge base, for latency and plans -----------------------------------------

WORDS = {
    "en": [
        "permit",
        "parking",
        "street",
        "tree",
        "noise",
        "water",
        "sewer",
        "park",
        "library",
        "pool",
        "fee",
        "license",
        "tax",
        "bill",
        "meter",
        "sidewalk",
        "curb",
        "light",
        "sign",
        "bus",
        "bike",
        "trail",
        "dog",
        "cat",
        "animal",
        "shelter",
        "clinic",
        "housing",
        "rent",
        "repair",
        "inspection",
        "zoning",
        "fire",
        "alarm",
        "flood",
        "storm",
        "drain",
        "senior",
        "youth",
        "job",
        "court",
        "ticket",
        "vote",
        "election",
        "recycling",
        "yard",
        "leaves",
        "brush",
        "holiday",
    ],
    "es": [
        "permiso",
        "estacionamiento",
        "calle",
        "árbol",
        "ruido",
        "agua",
        "drenaje",
        "parque",
        "biblioteca",
        "piscina",
        "tarifa",
        "licencia",
        "impuesto",
        "factura",
        "medidor",
        "banqueta",
        "bordillo",
        "luz",
        "señal",
        "autobús",
        "bicicleta",
        "sendero",
        "perro",
        "gato",
        "animal",
        "refugio",
        "clínica",
        "vivienda",
        "renta",
        "reparación",
        "inspección",
        "incendio",
        "alarma",
        "inundación",
        "tormenta",
        "mayores",
        "jóvenes",
        "empleo",
        "corte",
        "multa",
        "voto",
    ],
    "vi": [
        "giấy",
        "phép",
        "đậu",
        "xe",
        "đường",
        "cây",
        "tiếng",
        "ồn",
        "nước",
        "cống",
        "công",
        "viên",
        "thư",
        "viện",
        "hồ",
        "bơi",
        "phí",
        "thuế",
        "hóa",
        "đơn",
        "đồng",
        "hồ",
        "vỉa",
        "hè",
        "đèn",
        "biển",
        "báo",
        "xe",
        "buýt",
        "xe",
        "đạp",
        "chó",
        "mèo",
        "động",
        "vật",
        "nhà",
        "ở",
        "sửa",
        "chữa",
        "kiểm",
        "tra",
        "cháy",
        "báo",
        "động",
        "lũ",
        "bão",
        "người",
        "cao",
        "tuổi",
        "việc",
        "làm",
        "tòa",
        "án",
        "vé",
    ],
    "ar": [
        "تصريح",
        "موقف",
        "شارع",
        "شجرة",
        "ضوضاء",
        "مياه",
        "صرف",
        "حديقة",
        "مكتبة",
        "مسبح",
        "رسوم",
        "رخصة",
        "ضريبة",
        "فاتورة",
        "عداد",
        "رصيف",
        "إنارة",
        "لافتة",
        "حافلة",
        "دراجة",
        "كلب",
        "قطة",
        "حيوان",
        "ملجأ",
        "عيادة",
        "سكن",
        "إيجار",
        "إصلاح",
        "تفتيش",
        "حريق",
        "إنذار",
        "فيضان",
        "عاصفة",
        "كبار",
        "شباب",
        "وظيفة",
        "محكمة",
        "مخالفة",
    ],
}


def grow(session: Session, city: Jurisdiction, articles: int, seed: int = 311) -> None:
    """Add `articles` made-up published articles to `city`, each in en, es, vi and ar (titles
    and bodies of random everyday words of each language), then ANALYZE the tables."""
    rng = random.Random(seed)
    rows = [
        {
            "jurisdiction_id": city.id,
            "article_id": f"grown-{n}",
            "state": ArticleState.published,
            "service_codes": [],
            "published_at": NOW,
        }
        for n in range(articles)
    ]
    pks = session.scalars(insert(Article).returning(Article.id), rows).all()
    variants = []
    for pk in pks:
        for locale, words in WORDS.items():
            title = " ".join(rng.sample(words, 4))
            keywords = ", ".join(rng.sample(words, 3))
            body = "<p>" + " ".join(rng.choices(words, k=120)) + "</p>"
            variants.append(
                {
                    "article_pk": pk,
                    "locale": locale,
                    "title": title,
                    "keywords": keywords,
                    "body": body,
                    "search_config": search_text.search_config(locale),
                    "match_text": search_text.match_text(title, keywords),
                }
            )
    for start in range(0, len(variants), 2000):
        session.execute(insert(ArticleVariant), variants[start : start + 2000])
    session.execute(text("ANALYZE article"))
    session.execute(text("ANALYZE article_variant"))


def explain(session: Session, city: Jurisdiction, q: str, locale: str) -> str:
    """EXPLAIN (ANALYZE) of the search statement for `q`, as the search runs it."""
    args = article_search.ArticleArgs(q=q)
    planned = article_search.plan(session, city, args, NOW)
    statement = queries.ranked_statement(planned)
    assert statement is not None
    queries.set_trigram_threshold(session)
    compiled = statement.compile(
        dialect=postgresql.psycopg2.dialect(), compile_kwargs={"render_postcompile": True}
    )
    connection = session.connection()
    plan = connection.exec_driver_sql(
        "EXPLAIN (ANALYZE, COSTS OFF) " + str(compiled), compiled.params
    )
    return "\n".join(row[0] for row in plan)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]
