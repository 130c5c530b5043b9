"""The knowledge base for staff: editors write articles and their languages, publish and
retire them, and see every revision; call-takers record the calls an article answered; the
whole base goes out and comes in as one JSON or YAML document (domain/kb_exchange.py).

Administrators and editors write; supervisors and call-takers read (every state, drafts too);
call-takers, supervisors and administrators record answers; crew members see none of it.
Every article call is about one of the user's cities (auth.staff_jurisdiction:
`?jurisdiction_id=`, else the user's only or the default one).
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from open311 import clock
from open311.api import database, links
from open311.api.staff import articles_schemas as s
from open311.api.staff.auth import (
    StaffBlueprint,
    actor,
    check_request_city,
    current_user,
    staff_jurisdiction,
    staff_required,
)
from open311.db import article_queries, request_queries
from open311.db.models import Article, ArticleRevision, ArticleTopic, Jurisdiction
from open311.domain import audit, kb_exchange, knowledge
from open311.errors import InvalidInput, NotFound
from open311.values import ArticleState, StaffRole

blp = StaffBlueprint(
    "staff_articles",
    __name__,
    "Staff API: the knowledge base (articles in several languages, topics, revisions, the calls "
    "they answered, the whole base as JSON or YAML).",
)

_R = StaffRole
WRITERS = (_R.administrator, _R.editor)
READERS = (_R.administrator, _R.editor, _R.supervisor, _R.call_taker)
ANSWERERS = (_R.call_taker, _R.supervisor, _R.administrator)

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
DOCUMENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "yaml": "application/yaml; charset=utf-8",
}


def _city() -> Jurisdiction:
    return staff_jurisdiction()


def _article(article_id: str, *, for_update: bool = False) -> Article:
    """The city's article (404 if unknown); `for_update` for a change (locks its row)."""
    return knowledge.get_article(database.session(), _city(), article_id, for_update=for_update)


def _saved(article: Article) -> Article:
    session = database.session()
    session.commit()
    session.refresh(article)
    return article


def _paged(rows: list[Any], page: int, page_size: int) -> tuple[list[Any], dict[str, str]]:
    """The page, with a Link to the next one when there is one (rows holds one more)."""
    more = len(rows) > page_size
    headers = {"Link": links.next_page_link(("page",), page=str(page + 1))} if more else {}
    return rows[:page_size], headers


# --- articles -------------------------------------------------------------------------------------


@blp.route("/articles", methods=["GET"])
@staff_required(*READERS)
@blp.arguments(s.ArticleListArgs, location="query", as_kwargs=True)
@blp.response(200, s.StaffArticleItemOut(many=True))
def list_articles(page: int, page_size: int, **args: Any) -> tuple[list[Article], dict]:
    """The city's articles in every state (drafts and retired ones too), by article_id, with
    their titles per language; narrowed by `state`, `topic`, `locale` (has a variant in it) and
    `service_code`. When a next page exists the `Link` header points to it (rel="next")."""
    session = database.session()
    city = _city()
    topic_id = None
    if args.get("topic"):
        topic = article_queries.get_topic(session, city, args["topic"])
        if topic is None:
            return [], {}
        topic_id = topic.id
    locale = args.get("locale")
    where = article_queries.ArticleFilter(
        state=ArticleState(args["state"]) if args.get("state") else None,
        topic_id=topic_id,
        locale=knowledge.article_text.canonical_locale("locale", locale) if locale else None,
        service_code=args.get("service_code"),
    )
    rows = article_queries.find_articles(
        session, city, where, limit=page_size + 1, offset=(page - 1) * page_size
    )
    return _paged(list(rows), page, page_size)


@blp.route("/articles", methods=["POST"])
@staff_required(*WRITERS)
@blp.arguments(s.NewArticleBody)
@blp.response(201, s.StaffArticleOut)
def create_article(body: dict[str, Any]) -> Article:
    """A new draft article, with its first languages if given (`variants`: language tag ->
    texts). Bodies are HTML, or Markdown with `body_format: markdown`; both are sanitised."""
    article_id = body.pop("article_id")
    variants = body.pop("variants", None)
    article = knowledge.create_article(
        database.session(),
        _city(),
        article_id,
        body,
        actor=actor(),
        now=clock.now(),
        variants=variants,
    )
    return _saved(article)


@blp.route("/articles/<article_id>", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.StaffArticleOut)
def get_article(article_id: str) -> Article:
    """One article, any state, with every language."""
    return _article(article_id)


@blp.route("/articles/<article_id>", methods=["PATCH"])
@staff_required(*WRITERS)
@blp.arguments(s.ArticleChangeBody)
@blp.response(200, s.StaffArticleOut)
def change_article(body: dict[str, Any], article_id: str) -> Article:
    """Change the article's own fields sent (topic, service_codes, valid_from, valid_until,
    contact); its texts are changed per language with PUT .../variants/<locale>."""
    article = _article(article_id, for_update=True)
    knowledge.update_article(
        database.session(), _city(), article, body, actor=actor(), now=clock.now()
    )
    return _saved(article)


@blp.route("/articles/<article_id>/variants/<locale>", methods=["PUT"])
@staff_required(*WRITERS)
@blp.arguments(s.ArticleVariantBody)
@blp.response(200, s.StaffArticleOut)
def put_variant(body: dict[str, Any], article_id: str, locale: str) -> Article:
    """Write the article in one language: adds a translation, or replaces that language's
    texts whole (a field left out becomes empty)."""
    article = _article(article_id, for_update=True)
    knowledge.put_variant(
        database.session(), _city(), article, locale, body, actor=actor(), now=clock.now()
    )
    return _saved(article)


@blp.route("/articles/<article_id>/variants/<locale>", methods=["DELETE"])
@staff_required(*WRITERS)
@blp.response(200, s.StaffArticleOut)
def remove_variant(article_id: str, locale: str) -> Article:
    """Take one language off the article (not its last one, nor the default language of a
    published article)."""
    article = _article(article_id, for_update=True)
    knowledge.remove_variant(
        database.session(), _city(), article, locale, actor=actor(), now=clock.now()
    )
    return _saved(article)


def _move(article_id: str, state: ArticleState) -> Article:
    article = _article(article_id, for_update=True)
    knowledge.set_state(database.session(), _city(), article, state, actor=actor(), now=clock.now())
    return _saved(article)


@blp.route("/articles/<article_id>/publish", methods=["POST"])
@staff_required(*WRITERS)
@blp.response(200, s.StaffArticleOut)
def publish_article(article_id: str) -> Article:
    """Make a draft (or retired) article public; it needs a variant in the city's default
    language. Already published: 409."""
    return _move(article_id, ArticleState.published)


@blp.route("/articles/<article_id>/unpublish", methods=["POST"])
@staff_required(*WRITERS)
@blp.response(200, s.StaffArticleOut)
def unpublish_article(article_id: str) -> Article:
    """Back to draft: no longer public nor offered to call-takers. Already a draft: 409."""
    return _move(article_id, ArticleState.draft)


@blp.route("/articles/<article_id>/retire", methods=["POST"])
@staff_required(*WRITERS)
@blp.response(200, s.StaffArticleOut)
def retire_article(article_id: str) -> Article:
    """Shown to no one, kept with its revisions and the calls it answered. Already: 409."""
    return _move(article_id, ArticleState.retired)


@blp.route("/articles/<article_id>/revisions", methods=["GET"])
@staff_required(*READERS)
@blp.arguments(s.KbPageArgs, location="query", as_kwargs=True)
@blp.response(200, s.ArticleRevisionOut(many=True))
def list_revisions(
    article_id: str, page: int, page_size: int, **_args: Any
) -> tuple[list[ArticleRevision], dict]:
    """Every change of the article, newest first: number, action, actor, when, and what
    changed (field -> {from, to}; long texts shortened)."""
    article = _article(article_id)
    rows = article_queries.find_revisions(
        database.session(), article, limit=page_size + 1, offset=(page - 1) * page_size
    )
    return _paged(list(rows), page, page_size)


@blp.route("/articles/<article_id>/answers", methods=["POST"])
@staff_required(*ANSWERERS)
@blp.arguments(s.ArticleAnswerBody)
@blp.response(201, s.ArticleAnswerOut)
def record_answer(body: dict[str, Any], article_id: str) -> dict[str, Any]:
    """Count a call answered with this article, in the language spoken (`locale`), and the
    request it also ended in if any; only a published article within its dates answers calls.
    The statistics count these."""
    session = database.session()
    city = _city()
    article = _article(article_id)
    found = None
    if body.get("service_request_id"):
        found = request_queries.get_request_by_public_id(session, body["service_request_id"])
        if found is None:
            raise NotFound(f"service_request_id {body['service_request_id']} not found")
        check_request_city(found)
    answer = knowledge.record_answer(
        session, city, article, current_user(), body["locale"], clock.now(), found
    )
    session.commit()
    return {
        "article_id": article.article_id,
        "locale": answer.locale,
        "answered_at": answer.answered_at,
        "service_request_id": found.service_request_id if found is not None else None,
    }


# --- topics ---------------------------------------------------------------------------------------


def _topic_views(city: Jurisdiction, topics: list[ArticleTopic]) -> list[dict[str, Any]]:
    names = knowledge.topic_names(database.session(), city, topics)
    return [
        {
            "code": topic.code,
            "name": topic.name,
            "parent": topic.parent.code if topic.parent is not None else None,
            "names": names[topic.id],
        }
        for topic in topics
    ]


@blp.route("/article-topics", methods=["GET"])
@staff_required(*READERS)
@blp.arguments(s.KbCityArgs, location="query")
@blp.response(200, s.ArticleTopicOut(many=True))
def list_topics(_args: dict[str, Any]) -> list[dict[str, Any]]:
    """The city's themes, then the topics under them, with their names in every language."""
    city = _city()
    return _topic_views(city, list(article_queries.find_topics(database.session(), city)))


@blp.route("/article-topics", methods=["POST"])
@staff_required(*WRITERS)
@blp.arguments(s.NewArticleTopicBody)
@blp.response(201, s.ArticleTopicOut)
def create_topic(body: dict[str, Any]) -> dict[str, Any]:
    """A theme (no `parent`) or a topic under a theme; `name` in the city's default language,
    `names` in others."""
    session = database.session()
    city = _city()
    topic = knowledge.create_topic(
        session,
        city,
        body["code"],
        body["name"],
        parent=body.get("parent"),
        names=body.get("names"),
        actor=actor(),
    )
    session.commit()
    return _topic_views(city, [topic])[0]


@blp.route("/article-topics/<code>", methods=["PATCH"])
@staff_required(*WRITERS)
@blp.arguments(s.ArticleTopicChangeBody)
@blp.response(200, s.ArticleTopicOut)
def change_topic(body: dict[str, Any], code: str) -> dict[str, Any]:
    """Rename a topic (its translations follow), move it under another theme (`parent`; null
    makes it a theme), or set its name in other languages (`names`)."""
    session = database.session()
    city = _city()
    topic = article_queries.get_topic(session, city, code)
    if topic is None:
        raise NotFound(f"topic {code[:100]} not found")
    knowledge.change_topic(session, city, topic, body, actor=actor())
    session.commit()
    return _topic_views(city, [topic])[0]


# --- the whole knowledge base ---------------------------------------------------------------------


@blp.route("/knowledge-base", methods=["GET"])
@staff_required(*READERS)
@blp.arguments(s.KbExportArgs, location="query")
@blp.response(200, description="The open311-kb/1 document, as a download")
def export_knowledge_base(args: dict[str, Any]) -> Response:
    """Every topic and article (all states) of the city as one open311-kb/1 document, JSON
    (default) or YAML (`format=yaml`): what POST /knowledge-base and `open311 kb import` read."""
    city = _city()
    fmt = args["format"]
    text = kb_exchange.render(kb_exchange.dump(database.session(), city), fmt)
    name = f"{city.jurisdiction_id}-knowledge-base.{fmt}".replace('"', "")
    return Response(
        text,
        status=200,
        content_type=DOCUMENT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blp.route("/knowledge-base", methods=["POST"])
@staff_required(*WRITERS)
@blp.doc(
    requestBody={
        "required": True,
        "description": "An open311-kb/1 document (README: A whole knowledge base in and out); "
        "the same document as YAML is read with Content-Type application/yaml",
        "content": {"application/json": {"schema": s.KB_DOCUMENT}},
    }
)
@blp.response(200, s.KbImportOut)
def import_knowledge_base() -> dict[str, int]:
    """Load a whole knowledge base (JSON, or YAML with Content-Type application/yaml) into
    the city: articles and topics matched by id are updated, new ones created, each change
    revised by "import:<username>". All or nothing: a document with a problem is a 400
    listing every problem by its path, and nothing is stored."""
    kind = request.mimetype
    if kind == "application/json" or kind.endswith("+json"):
        fmt = "json"
    elif kind in YAML_TYPES:
        fmt = "yaml"
    else:
        raise InvalidInput("Content-Type: application/json or application/yaml")
    session = database.session()
    document = kb_exchange.parse(request.get_data(), fmt)
    counts = kb_exchange.load(
        session, _city(), document, actor=current_user().username, now=clock.now()
    )
    audit.add_details(session, counts)
    session.commit()
    return counts
