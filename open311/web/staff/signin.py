"""GET/POST /staff/sign-in, POST /staff/sign-out, and GET /staff: the landing page of a
signed-in user, with the screens of their role."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, redirect, request, session, url_for

from open311 import clock
from open311.api import database, ratelimits
from open311.domain import staff
from open311.errors import Unauthenticated
from open311.values import StaffRole
from open311.web.pages import page_blueprint, render, say
from open311.web.staff.access import (
    TOKEN_KEY,
    current_user,
    safe_next,
    sign_in_session,
    signed_in_token,
    staff_page,
)

blp = page_blueprint("console", __name__, url_prefix="/staff")

# The screens each role has, in the order the landing page and the console's menu list them:
# (endpoint, title msgid). Each is checked by its own view's staff_page(...) as well.
_INTAKE = ("console_intake.intake", "Take a call")
_QUEUES = ("console_queue.queues", "Work queues")
_DASHBOARD = ("console_queue.dashboard", "Dashboard")
_BOARD = ("console_crew.board", "My work orders")
SCREENS: dict[StaffRole, tuple[tuple[str, str], ...]] = {
    StaffRole.call_taker: (_INTAKE,),
    StaffRole.supervisor: (_QUEUES, _DASHBOARD, _INTAKE),
    StaffRole.administrator: (_QUEUES, _DASHBOARD, _INTAKE),
    StaffRole.crew_member: (_BOARD,),
    StaffRole.editor: (),
}


def screens_of(role: StaffRole) -> list[tuple[str, str]]:
    """The console's screens a role may open, as (url, title in the page's language)."""
    found = []
    for endpoint, title in SCREENS.get(role, ()):
        if endpoint in current_app.view_functions:
            found.append((url_for(endpoint), say(title)))
    return found


@blp.route("/sign-in", methods=["GET"])
def sign_in() -> str | Response:
    if signed_in_token() is not None:
        return redirect(safe_next(request.args.get("next")) or url_for("console.home"))
    return render("staff/sign_in.html", next=safe_next(request.args.get("next")), problem=None)


@blp.route("/sign-in", methods=["POST"])
def sign_in_post() -> str | Response:
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    wanted = safe_next(request.form.get("next"))
    return _sign_in({"username": username, "password": password}, wanted)


@ratelimits.limit_sign_in
def _sign_in(body: dict[str, str], wanted: str | None) -> str | Response:
    """The API's sign-in behind the API's limits; a refusal says nothing of which part was wrong."""
    db = database.session()
    hours = float(current_app.config["OPEN311_STAFF_TOKEN_HOURS"])
    try:
        _token, plain = staff.login(
            db, body["username"], body["password"], now=clock.now(), lifetime=timedelta(hours=hours)
        )
    except Unauthenticated:
        db.commit()  # the count of wrong passwords, which a lockout is decided by
        problem = say("Wrong username or password, or the account is locked.")
        page = render("staff/sign_in.html", next=wanted, problem=problem, username=body["username"])
        return Response(page, status=401, content_type="text/html; charset=utf-8")
    db.commit()
    sign_in_session(plain)
    return redirect(wanted or url_for("console.home"), code=303)


@blp.route("/sign-out", methods=["POST"])
def sign_out() -> Response:
    token = signed_in_token()
    if token is not None:
        staff.revoke(token, now=clock.now())
        database.session().commit()
    session.pop(TOKEN_KEY, None)
    return redirect(url_for("console.sign_in"), code=303)


@blp.route("", methods=["GET"])
@staff_page()
def home() -> str:
    user = current_user()
    return render("staff/home.html", user=user, screens=screens_of(user.role))
