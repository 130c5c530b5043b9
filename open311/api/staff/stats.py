"""The staff statistics: call-centre figures (contacts), the articles that answered calls, and
crews' work orders, as JSON or as a chart (.svg, .png) of one figure.

Each of contacts and work orders is offered as JSON (the bare path) and as `.svg` and `.png`
of the same arguments, one figure (`metric`) drawn.

Who sees what: supervisors and administrators everything of their cities (`jurisdiction_id`
to choose one); a call-taker the contact figures of the contacts they took, and nothing else
(so abandoned contacts, which nobody took, are not in their figures); crew members and editors
nothing (403). No caller data is read: figures are counts and times, staff are named by
username and display name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app

from open311 import clock
from open311.api import database
from open311.api.staff import stats_schemas as s
from open311.api.staff.auth import (
    StaffBlueprint,
    current_user,
    staff_jurisdiction,
    staff_required,
)
from open311.db.models import Jurisdiction
from open311.domain import call_stats
from open311.values import StaffRole
from open311.wire import charts

blp = StaffBlueprint(
    "staff_stats",
    __name__,
    "Staff API: call-centre figures, top articles and crews' work orders, as JSON or charts.",
)

MANAGERS = (StaffRole.supervisor, StaffRole.administrator)


def _window(city: Jurisdiction, args: dict[str, Any]) -> call_stats.Window:
    zone = ZoneInfo(city.time_zone)
    start, end = (_aware(args.get(name), zone) for name in ("start", "end"))
    return call_stats.plan_window(city, args["period"], start, end, now=clock.now())


def _aware(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone)


def _answer(report: call_stats.FigureReport, fmt: str, draw) -> Any:
    """The report as JSON (its schema dumps it), or one figure of it as a picture."""
    if fmt == "json":
        return {**vars(report), **report.extra}
    picture = charts.render(draw(report), fmt)
    return Response(picture, content_type=charts.CONTENT_TYPES[fmt])


def _contacts(args: dict[str, Any], fmt: str) -> Any:
    city = staff_jurisdiction(args.get("jurisdiction_id"))
    user = current_user()
    own = user.id if user.role == StaffRole.call_taker else None
    report = call_stats.contact_figures(
        database.session(),
        city,
        _window(city, args),
        args["group_by"],
        service_level_s=float(current_app.config["OPEN311_SERVICE_LEVEL_S"]),
        channel=args.get("channel"),
        staff_user_id=own,
    )
    return _answer(report, fmt, lambda r: call_stats.contact_chart(r, args["metric"]))


def _picture_doc(what: str, fmt: str) -> dict[str, Any]:
    content_type = charts.CONTENT_TYPES[fmt]
    return {
        "responses": {
            "200": {
                "description": f"{what} as a chart ({fmt.upper()})",
                # No schema: a picture, which a validator would read as XML or as text.
                "content": {content_type: {}},
            }
        }
    }


@blp.route("/stats/contacts", methods=["GET"])
@staff_required(*MANAGERS, StaffRole.call_taker)
@blp.arguments(s.ContactStatsArgs, location="query")
@blp.response(200, s.ContactStatsOut)
def contact_stats(args: dict[str, Any]) -> Any:
    """Contacts offered, answered and abandoned, speed of answer, service level, handle and
    hold time, outcomes and interpreters per local period and channel, language or
    call-taker (README: Call-centre and crew figures). A call-taker gets their own only."""
    return _contacts(args, "json")


@blp.route("/stats/contacts.svg", methods=["GET"])
@staff_required(*MANAGERS, StaffRole.call_taker)
@blp.arguments(s.ContactStatsArgs, location="query")
@blp.doc(**_picture_doc("One contact figure (`metric`, default offered)", "svg"))
def contact_stats_svg(args: dict[str, Any]) -> Response:
    """One contact figure (`metric`) drawn per period, a line per group, as SVG."""
    return _contacts(args, "svg")


@blp.route("/stats/contacts.png", methods=["GET"])
@staff_required(*MANAGERS, StaffRole.call_taker)
@blp.arguments(s.ContactStatsArgs, location="query")
@blp.doc(**_picture_doc("One contact figure (`metric`, default offered)", "png"))
def contact_stats_png(args: dict[str, Any]) -> Response:
    """One contact figure (`metric`) drawn per period, a line per group, as PNG."""
    return _contacts(args, "png")


def _work_orders(args: dict[str, Any], fmt: str) -> Any:
    city = staff_jurisdiction(args.get("jurisdiction_id"))
    now = clock.now()
    report = call_stats.work_order_figures(
        database.session(), city, _window(city, args), args["group_by"], now=now
    )
    return _answer(report, fmt, lambda r: call_stats.work_order_chart(r, args["metric"]))


@blp.route("/stats/work-orders", methods=["GET"])
@staff_required(*MANAGERS)
@blp.arguments(s.WorkOrderStatsArgs, location="query")
@blp.response(200, s.WorkOrderStatsOut)
def work_order_stats(args: dict[str, Any]) -> Any:
    """Work orders done, done on time (by due_at), overdue at each period's end, and the
    median time to done, per local period and crew or agency."""
    return _work_orders(args, "json")


@blp.route("/stats/work-orders.svg", methods=["GET"])
@staff_required(*MANAGERS)
@blp.arguments(s.WorkOrderStatsArgs, location="query")
@blp.doc(**_picture_doc("One work-order figure (`metric`, default done)", "svg"))
def work_order_stats_svg(args: dict[str, Any]) -> Response:
    """One work-order figure (`metric`) drawn per period, a line per group, as SVG."""
    return _work_orders(args, "svg")


@blp.route("/stats/work-orders.png", methods=["GET"])
@staff_required(*MANAGERS)
@blp.arguments(s.WorkOrderStatsArgs, location="query")
@blp.doc(**_picture_doc("One work-order figure (`metric`, default done)", "png"))
def work_order_stats_png(args: dict[str, Any]) -> Response:
    """One work-order figure (`metric`) drawn per period, a line per group, as PNG."""
    return _work_orders(args, "png")


@blp.route("/stats/articles", methods=["GET"])
@staff_required(*MANAGERS)
@blp.arguments(s.ArticleStatsArgs, location="query")
@blp.response(200, s.ArticleStatsOut)
def article_stats(args: dict[str, Any]) -> dict[str, Any]:
    """The knowledge-base articles that answered most calls (ArticleAnswer rows) in
    [start, end) (default: the last 31 days), with counts per language and their title."""
    city = staff_jurisdiction(args.get("jurisdiction_id"))
    window = call_stats.plan_window(
        city,
        "day",
        *(_aware(args.get(name), ZoneInfo(city.time_zone)) for name in ("start", "end")),
        now=clock.now(),
    )
    articles = call_stats.top_articles(
        database.session(),
        city,
        window.start,
        window.end,
        locale=args.get("locale"),
        limit=args["limit"],
    )
    return {
        "jurisdiction_id": city.jurisdiction_id,
        "start": window.start,
        "end": window.end,
        "articles": articles,
    }
