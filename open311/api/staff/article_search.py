"""The knowledge base during a call: a call-taker searches it in the caller's language."""

from __future__ import annotations

from typing import Any

from open311 import clock
from open311.api import database
from open311.api.staff.article_search_schemas import ArticleSearchArgs, ArticleSearchOut
from open311.api.staff.auth import (
    StaffBlueprint,
    current_user,
    staff_jurisdiction,
    staff_required,
)
from open311.domain import article_search
from open311.errors import Forbidden
from open311.i18n import negotiate
from open311.values import StaffRole
from open311.wire.articles import article_item
from open311.wire.datetimes import format_w3c

blp = StaffBlueprint(
    "staff_article_search", __name__, "Staff API: the knowledge base searched during a call."
)

SEARCHERS = (StaffRole.call_taker, StaffRole.supervisor, StaffRole.administrator, StaffRole.editor)
# Who may see drafts: those who write and publish them.
DRAFT_READERS = (StaffRole.editor, StaffRole.administrator)


@blp.route("/article-search", methods=["GET"])
@staff_required(*SEARCHERS)
@blp.arguments(ArticleSearchArgs, location="query")
@blp.response(200, ArticleSearchOut)
def search_articles(args: dict[str, Any]) -> dict[str, Any]:
    """Search the knowledge base as the public search does (the same ranking), each article in
    the caller's `locale` when written in it; `state=draft` adds drafts (editors and
    administrators)."""
    jurisdiction = staff_jurisdiction(args.get("jurisdiction_id"))
    states = article_search.PUBLIC
    if args.get("state") == "draft":
        if current_user().role not in DRAFT_READERS:
            raise Forbidden("state: drafts are for editors and administrators")
        states = article_search.WITH_DRAFTS
    offered = list(jurisdiction.locales or ()) or [jurisdiction.default_locale]
    locale = negotiate(args.get("locale"), (), offered, jurisdiction.default_locale)
    wanted = article_search.ArticleArgs(
        q=args.get("q"),
        service_code=args.get("service_code"),
        topic=args.get("topic"),
        page=args.get("page", 1),
        page_size=args.get("page_size"),
        states=states,
    )
    session = database.session()
    page = article_search.search(session, jurisdiction, wanted, locale, clock.now())
    items = []
    for found in page.items:
        item = article_item(found.view, score=found.score, with_state=True)
        item["updated_datetime"] = format_w3c(item["updated_datetime"])
        items.append(item)
    return {
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "locale": locale,
        "articles": items,
    }
