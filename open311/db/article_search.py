"""The knowledge-base search: a city's articles found by what a caller says, ranked, paged.

Two matchers meet, each on its GIN index over article_variant:

- full text (`search_vector`, weighted title A > keywords B > summary, answer, body C): each
  variant is matched with the words parsed by its own language's text-search configuration
  (spanish stems "reciclaje" and "reciclar" alike). Any word may match, since a caller's
  question rarely repeats all of an article's words; a variant holding the whole web-search
  query (`bulk pickup`, `"exact phrase"`, `or`, `-word`) is ranked above one holding only some,
  and one holding the words as the phrase they were said in above that;
- pg_trgm strict word similarity on `match_text` (title and keywords folded: lower case, no
  accents) of each word and of the whole query, so a misspelt word ("potwhole", "recyling",
  "basurra") or one typed without its accents ("rac thai") still finds the article.

Each test's right-hand side is a constant (one tsquery per configuration, one folded word per
trigram test) and each is its own index search (a union), so PostgreSQL answers them with GIN
index scans rather than a scan of every variant; only the variants found are scored. An
article's score is its best variant's. The steps are not in `search_vector` (migration 0015).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    REAL,
    ColumnElement,
    Select,
    any_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSQUERY
from sqlalchemy.orm import Session, selectinload

from open311.db.models import Article, ArticleTopic, ArticleVariant, Service, Translation
from open311.values import ArticleState

# ts_rank_cd's weights of D, C, B, A: a title word counts twice a keyword, five times a body's.
WEIGHTS = (0.05, 0.2, 0.5, 1.0)
# ts_rank_cd normalisation 1: divided by 1 + log(length), so a long body does not win by size.
RANK_NORMALISATION = 1
# A variant holding the whole web-search query, not just some of its words.
ALL_WORDS_BONUS = 0.3
# A variant holding the caller's words in their order, as a phrase ("recolección de compost").
PHRASE_BONUS = 0.3
# How much a word found by similarity (0.5-1 each) weighs against a full-text rank.
TRIGRAM_WEIGHT = 0.5
# The strict word similarity (whole words of the title and keywords, so "old" is not found
# inside "household") from which %>> finds a word: "potwhole" is 0.55 like "pothole",
# "recyling" 0.58 like "recycling". pg_trgm's default; set for the transaction all the same,
# so that a server configured otherwise searches alike.
TRIGRAM_THRESHOLD = 0.5

_VECTOR = ArticleVariant.__table__.c.search_vector
# A lexeme of a tsquery's text form ('recycl' & !'glass'), quotes inside doubled.
_LEXEME = re.compile(r"(!?)'((?:[^']|'')*)'")

_PARSE = text(
    "SELECT c.config, websearch_to_tsquery(c.config::regconfig, :q)::text, "
    "phraseto_tsquery(c.config::regconfig, :q)::text "
    "FROM unnest(CAST(:configs AS text[])) WITH ORDINALITY AS c(config, n) ORDER BY c.n"
)
_THRESHOLD = text("SELECT set_config('pg_trgm.strict_word_similarity_threshold', :threshold, true)")
_CONTENT_WORDS = text(
    "SELECT w.word FROM unnest(CAST(:words AS text[])) AS w(word) "
    "WHERE NOT EXISTS (SELECT 1 FROM unnest(CAST(:configs AS text[])) AS c(config) "
    "WHERE to_tsvector(c.config::regconfig, w.word) = ''::tsvector)"
)


@dataclass(frozen=True)
class ParsedText:
    """A caller's query as the statement needs it."""

    # (configuration, its web-search tsquery, its any-word tsquery, its phrase tsquery or ''
    # for a single word), configurations whose parse left no word (all stop words) left out.
    queries: tuple[tuple[str, str, str, str], ...]
    # The folded words for the trigram test, stop words of every configuration left out.
    words: tuple[str, ...]
    # The whole query folded, compared as a phrase.
    folded: str


@dataclass(frozen=True)
class ArticleSearch:
    """One search of a city's articles (domain/article_search plans it)."""

    jurisdiction_pk: int
    today: date
    states: tuple[ArticleState, ...] = (ArticleState.published,)
    service_code: str | None = None
    topic_ids: tuple[int, ...] | None = None  # None: any topic
    text: ParsedText | None = None
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class Hit:
    article: Article
    score: float | None


@dataclass(frozen=True)
class HitPage:
    hits: list[Hit]
    total: int


def parse_text(
    session: Session, query: str, folded: str, words: Sequence[str], configs: Sequence[str]
) -> ParsedText:
    """`query` parsed by each configuration (stemmed, stop words dropped) and the folded
    `words` that are a stop word in none of them ("the" or "de" would find every title holding
    them by similarity); two small statements, no table read."""
    queries = []
    parses = session.execute(_PARSE, {"q": query, "configs": list(configs)})
    for config, parsed, phrase in parses:
        lexemes = [lexeme for negated, lexeme in _LEXEME.findall(parsed or "") if not negated]
        if lexemes:
            any_word = " | ".join(f"'{lexeme}'" for lexeme in dict.fromkeys(lexemes))
            queries.append((config, parsed, any_word, phrase if "<" in (phrase or "") else ""))
    kept: tuple[str, ...] = ()
    if words:
        found = set(
            session.scalars(_CONTENT_WORDS, {"words": list(words), "configs": list(configs)})
        )
        kept = tuple(word for word in words if word in found)
    return ParsedText(queries=tuple(queries), words=kept, folded=folded)


def find_articles(session: Session, search: ArticleSearch) -> HitPage:
    """One page of the matching articles, best first (with a query) or newest first, and how
    many match in all; each article loaded with its variants and topic."""
    statement = ranked_statement(search)
    if statement is None:
        return HitPage([], 0)
    if search.text is not None:
        set_trigram_threshold(session)
    rows = session.execute(statement).all()
    if not rows:
        total = 0 if search.offset == 0 else _count(session, search)
        return HitPage([], total)
    loaded = {
        article.id: article
        for article in session.scalars(
            select(Article)
            .where(Article.id.in_([row.id for row in rows]))
            .options(
                selectinload(Article.variants),
                selectinload(Article.topic).selectinload(ArticleTopic.parent),
            )
        )
    }
    hits = [
        Hit(loaded[row.id], None if row.score is None else round(float(row.score), 4))
        for row in rows
    ]
    return HitPage(hits, rows[0].total)


def set_trigram_threshold(session: Session) -> None:
    """TRIGRAM_THRESHOLD for %>> until the transaction ends."""
    session.execute(_THRESHOLD, {"threshold": str(TRIGRAM_THRESHOLD)})


def ranked_statement(search: ArticleSearch) -> Select | None:
    """The page's statement: (article pk, score, total) rows in order; None when the query
    kept no word to look for. bench/kb_hit_rate.py EXPLAINs it."""
    conditions = _filters(search)
    count = func.count().over().label("total")
    if search.text is None:
        statement = (
            select(Article.id, literal(None).label("score"), count)
            .where(*conditions)
            .order_by(
                func.coalesce(Article.published_at, Article.updated_at).desc(), Article.article_id
            )
        )
    else:
        matches = _matches(search.text)
        if matches is None:
            return None
        score = func.max(_variant_score(search.text)).label("score")
        statement = (
            select(Article.id, score, count)
            .join(ArticleVariant, ArticleVariant.article_pk == Article.id)
            .where(*conditions, matches)
            .group_by(Article.id)
            .order_by(score.desc(), Article.article_id)
        )
    return statement.limit(search.limit).offset(search.offset)


def get_article(
    session: Session,
    jurisdiction_pk: int,
    article_id: str,
    today: date,
    states: tuple[ArticleState, ...] = (ArticleState.published,),
) -> Article | None:
    """The article `article_id` of the city if it is in one of `states` and valid `today`."""
    search = ArticleSearch(jurisdiction_pk=jurisdiction_pk, today=today, states=states)
    return session.scalar(
        select(Article)
        .where(*_filters(search), Article.article_id == article_id)
        .options(
            selectinload(Article.variants),
            selectinload(Article.topic).selectinload(ArticleTopic.parent),
        )
    )


def topic_ids(session: Session, jurisdiction_pk: int, code: str) -> tuple[int, ...] | None:
    """The topic `code` and, for a theme, the topics under it; None when the city has no such
    topic or theme."""
    found = session.scalar(
        select(ArticleTopic.id).where(
            ArticleTopic.jurisdiction_id == jurisdiction_pk, ArticleTopic.code == code
        )
    )
    if found is None:
        return None
    children = session.scalars(select(ArticleTopic.id).where(ArticleTopic.parent_id == found))
    return (found, *children)


def service_names(session: Session, jurisdiction_pk: int, codes: Iterable[str]) -> dict[str, str]:
    """service_code -> service_name of the city's services among `codes` (unknown ones absent)."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return {}
    rows = session.execute(
        select(Service.service_code, Service.service_name).where(
            Service.jurisdiction_id == jurisdiction_pk, Service.service_code.in_(wanted)
        )
    )
    return {row[0]: row[1] for row in rows}


def translations(
    session: Session,
    jurisdiction_pk: int,
    context: str,
    sources: Iterable[str],
    locales: Sequence[str],
) -> dict[tuple[str, str], str]:
    """(source, locale) -> text of the city's translations of `sources` under `context`."""
    wanted = list(dict.fromkeys(sources))
    if not wanted or not locales:
        return {}
    rows = session.execute(
        select(Translation.source, Translation.locale, Translation.text).where(
            Translation.jurisdiction_id == jurisdiction_pk,
            Translation.context == context,
            Translation.locale.in_(list(locales)),
            func.md5(Translation.source).in_([func.md5(literal(s)) for s in wanted]),
        )
    )
    return {(source, locale): said for source, locale, said in rows}


def _count(session: Session, search: ArticleSearch) -> int:
    """How many match, for a page past the end (which has no row to carry the count)."""
    first = find_articles(session, ArticleSearch(**{**search.__dict__, "offset": 0, "limit": 1}))
    return first.total


def _filters(search: ArticleSearch) -> list[ColumnElement[bool]]:
    conditions = [
        Article.jurisdiction_id == search.jurisdiction_pk,
        Article.state.in_(search.states),
        or_(Article.valid_from.is_(None), Article.valid_from <= search.today),
        or_(Article.valid_until.is_(None), Article.valid_until >= search.today),
    ]
    if search.service_code is not None:
        conditions.append(any_(Article.service_codes) == search.service_code)
    if search.topic_ids is not None:
        conditions.append(Article.topic_id.in_(search.topic_ids))
    return conditions


def _config(name: str) -> ColumnElement:
    return cast(literal(name), REGCONFIG)


def _tsquery(query: str) -> ColumnElement:
    return cast(literal(query), TSQUERY)


def _matches(parsed: ParsedText) -> ColumnElement[bool] | None:
    """A variant matches when one of its language's words is in its text, or a word (or the
    whole query) is like its title or keywords; None when the query kept no word at all.

    Written as the union of one index search per test rather than one OR: with the OR the
    planner, which cannot tell what a tsquery or a trigram test costs per row, scans every
    variant at 20,000 of them (0.4 s); each test alone is a GIN index scan, and only the
    variants found are scored."""
    tests = [
        select(ArticleVariant.id).where(
            ArticleVariant.search_config == _config(config),
            _VECTOR.op("@@")(_tsquery(any_word)),
        )
        for config, _all, any_word, _phrase in parsed.queries
    ]
    tests += [
        select(ArticleVariant.id).where(ArticleVariant.match_text.op("%>>")(word))
        for word in _trigram_terms(parsed)
    ]
    if not tests:
        return None
    found = tests[0] if len(tests) == 1 else union(*tests)
    return ArticleVariant.id.in_(found)


def _trigram_terms(parsed: ParsedText) -> list[str]:
    terms = list(parsed.words)
    if parsed.words and parsed.folded not in terms:
        terms.append(parsed.folded)
    return terms


def _variant_score(parsed: ParsedText) -> ColumnElement[float]:
    """Full-text rank in the variant's own configuration (with a bonus when it holds the whole
    query, and one when it holds the words as the phrase they were said in), plus the
    similarity of each word found in its title or keywords."""
    weights = cast(literal(list(WEIGHTS)), ARRAY(REAL))
    arms = []
    for config, all_words, any_word, phrase in parsed.queries:
        rank = func.ts_rank_cd(weights, _VECTOR, _tsquery(any_word), RANK_NORMALISATION)
        rank = rank + case((_VECTOR.op("@@")(_tsquery(all_words)), ALL_WORDS_BONUS), else_=0.0)
        if phrase:
            rank = rank + case((_VECTOR.op("@@")(_tsquery(phrase)), PHRASE_BONUS), else_=0.0)
        arms.append((ArticleVariant.search_config == _config(config), rank))
    score: ColumnElement[float] = case(*arms, else_=0.0) if arms else literal(0.0)
    for term in _trigram_terms(parsed):
        similarity = func.strict_word_similarity(term, ArticleVariant.match_text)
        score = score + TRIGRAM_WEIGHT * case(
            (ArticleVariant.match_text.op("%>>")(term), similarity), else_=0.0
        )
    return score
